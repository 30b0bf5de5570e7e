"""Training throughput: the training loop (:class:`~.loop.Loop`, exactly as :func:`~.run.train`
runs it) against a plain eager fp32 loop fed by a standard DataLoader.

Fair by construction: both train a model built from the same seed on the same data, with the
same batch size, the same on-device augmentation, the same thread count (neither changes it) and
the same number of timed steps after untimed warm-up steps. The two are timed in alternating
rounds (ABBA order) and the medians are compared, because other processes share the CPU.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from itertools import islice

import torch
import torch.nn.functional as F

from . import rng
from .data import Augmenter, Split, as_float, epoch_order, load_data, loader_workers
from .device import Settings, backend_flags, resolve_device, restored_backends, settings_for
from .loop import Loop, make_optimizer
from .spec import TrainSpec


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_training(spec: TrainSpec, steps: int = 20, warmup: int = 3, device="auto", data_root=None,
                       rounds: int = 3, settings: Settings | dict | None = None) -> dict:
    """Training images/s of this loop vs a plain eager fp32 loop (NCHW, DataLoader(shuffle=True)
    over the Dataset, ``loss.item()`` every step, PyTorch's default backend flags).

    ``steps`` timed steps per loop and round, after ``warmup`` untimed steps of each; ``rounds``
    alternating rounds, medians reported. ``settings``: the loop's settings (default: what
    training uses, :func:`~.device.settings_for`; a dict changes some of those, e.g.
    ``{"channels_last": False}``). Global state (threads, backend flags, RNG) is as before
    when this returns.
    """
    if steps < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"need steps >= 1, warmup >= 0 and rounds >= 1, got {steps}, {warmup} and {rounds}")
    device = resolve_device(device)
    recipe = spec.resolved_recipe()
    bundle = load_data(spec, data_root)
    bs = recipe.batch_size
    model_spec = spec.model_spec(bundle.num_classes, bundle.image_size)
    if not isinstance(settings, Settings):
        settings = dataclasses.replace(settings_for(device), **(settings or {}))

    with restored_backends(), rng.preserved(device):
        def fresh():
            rng.seed_everything(spec.seed)
            model = model_spec.build("cpu").to(device)
            return model, make_optimizer(model, recipe)

        # this loop: device-resident uint8 data (when the bundle has it), the device's settings
        split = Split(bundle, "train", device)
        normalization = split.channel_stats(bundle.image_size, bundle.in_channels)
        loop = Loop(*fresh(), device, settings, normalization)

        def loop_stream():
            epoch = 0
            while True:
                aug = Augmenter(recipe.augment, split.n, spec.seed, epoch, device)
                for x, y, rows in split.batches(epoch_order(split.n, spec.seed, epoch), bs, drop_singleton=True):
                    yield aug(as_float(x), rows), y, rows
                epoch += 1

        # the plain loop: what a tutorial does
        mean = torch.tensor(normalization[0], device=device).view(1, -1, 1, 1)
        std = torch.tensor(normalization[1], device=device).view(1, -1, 1, 1)
        plain_model, plain_opt = fresh()
        plain_model.train()
        workers = loader_workers(device)
        loader = torch.utils.data.DataLoader(bundle.train, batch_size=bs, shuffle=True, num_workers=workers,
                                             pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                             generator=rng.generator(spec.seed, "plain loader"))

        def plain_stream():
            epoch = 0
            while True:
                aug = Augmenter(recipe.augment, len(bundle.train), spec.seed, epoch, device)
                for x, y in loader:
                    if len(y) > 1:  # BatchNorm cannot train on one image
                        yield aug(x.to(device), (0, len(y))), torch.as_tensor(y).to(device)
                epoch += 1

        def plain_steps(stream, n: int) -> int:
            seen = 0
            for x, y in islice(stream, n):
                x = (x - mean) / std
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                loss = F.cross_entropy(plain_model(x.contiguous()), y)
                plain_opt.zero_grad()
                loss.backward()
                plain_opt.step()
                loss.item()
                seen += len(y)
            return seen

        fast_batches, plain_batches = loop_stream(), plain_stream()

        def run_loop(n: int) -> int:
            with backend_flags(device, fast=True):
                return loop.train_epoch(islice(fast_batches, n), lambda x, rows: x)[2]

        def run_plain(n: int) -> int:
            with backend_flags(device, fast=False):
                return plain_steps(plain_batches, n)

        def timed(fn) -> float:
            _sync(device)
            t0 = time.perf_counter()
            seen = fn(steps)
            _sync(device)
            return seen / (time.perf_counter() - t0)

        if warmup:
            run_loop(warmup)
            run_plain(warmup)
        loop_ips, plain_ips = [], []
        for r in range(rounds):   # ABBA...: neither loop always runs first
            if r % 2 == 0:
                loop_ips.append(timed(run_loop))
                plain_ips.append(timed(run_plain))
            else:
                plain_ips.append(timed(run_plain))
                loop_ips.append(timed(run_loop))
        threads = torch.get_num_threads()

    fast, plain = statistics.median(loop_ips), statistics.median(plain_ips)
    return {"model": spec.model, "model_spec": model_spec.text, "label": spec.label, "task": spec.task,
            "source": bundle.source, "image_size": bundle.image_size, "batch_size": bs, "steps": steps,
            "warmup": warmup, "rounds": rounds, "device": str(device), "threads": threads,
            "loop_images_per_s": fast, "plain_images_per_s": plain, "speedup": fast / plain,
            "rounds_images_per_s": {"loop": loop_ips, "plain": plain_ips},
            "loop": {**settings.as_dict(), "in_memory": split.in_memory},
            "plain": {"amp": None, "channels_last": False, "dataloader_workers": workers}}
