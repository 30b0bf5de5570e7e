"""A :class:`~.spec.TrainSpec` in, a stored record out: :func:`train`, :func:`run_many`, summaries.

* **Cached.** A finished run is read back from the results store, never recomputed, until its
  spec, its effective recipe or the code that defines it changes (see :mod:`.spec`). The profile
  that asked for a run is provenance, not part of the key.
* **One process at a time per run.** Training and its checkpoints happen under the store's lock
  of the run's key: a second process asking for the same run waits and reads the record.
* **Resumable, bit-identically on CPU** (see :mod:`.checkpoint` and :mod:`.rng`).
* **Leaves no global state changed**: thread count, backend flags and global RNG states are
  the same after :func:`train` as before.
* **Data-parallel under torchrun**: in an initialized process group of N > 1 processes the same
  run trains with DistributedDataParallel (see :mod:`.distributed`); rank 0 writes checkpoints
  and the record, which says how many processes and devices ran it.
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import asdict
from typing import Callable, Iterable

import torch

from .. import recipes as R
from ..store import ResultsStore
from . import checkpoint as C
from . import rng
from .data import Augmenter, DataCache, Split, epoch_order, load_data, real_data_present
from .device import Settings, backend_flags, resolve_device, settings_for
from .distributed import DataParallel, DistributedLoop, data_parallel
from .loop import EpochInterrupted, Loop, eval_batch_size, make_optimizer
from .progress import RunBar, RunsBar, check_mode
from .spec import KIND, TrainSpec

CURVE_KEYS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")


class TrainingInterrupted(RuntimeError):
    """The run stopped before its end with a checkpoint written (``stop_after_epoch``, Ctrl-C):
    the same call resumes it. The message is the one line to show."""


def train(spec: TrainSpec, store: ResultsStore | None = None, progress: str = "auto", device="auto", *,
          profile: str | None = None, data_root=None, callback: Callable[[int, dict], None] | None = None,
          stop_after_epoch: int | None = None, keep_checkpoint: bool | str = "auto",
          checkpoint_every_s: float = C.CHECKPOINT_EVERY_S, data_cache: DataCache | None = None,
          settings: Settings | None = None, nested: bool = False) -> dict:
    """Train ``spec`` (or read its finished record) and return the store record.

    ``record["result"]`` holds the curves (one list entry per epoch), test accuracy, data source,
    scaling relative to the paper and timing; ``record["cache_hit"]`` says whether it was read back.

    ``data_mode="auto"`` is looked up as "real" first, then - only when no real files are on disk,
    i.e. the stand-in is what "auto" would give - as "standin"; a new run is stored under the
    source it actually used. ``data_root``: folder of the real data (not part of the key).
    ``progress``: "auto"/"bar" (a tqdm bar on stderr) or "none".
    ``keep_checkpoint``: after the run, keep the final weights (True), delete the checkpoint
    (False), or keep them when they take at most 100 MB ("auto").
    ``checkpoint_every_s``: write a resumable checkpoint at most this often (0: every epoch).
    ``callback(epoch, row)`` runs after each epoch (raising from it interrupts the run, which
    later resumes after that epoch: it is checkpointed first); ``stop_after_epoch=n`` raises
    :class:`TrainingInterrupted` after epoch n (1-based), also checkpointed: hooks for tests and demos.
    ``data_cache``: share loaded data between calls (:func:`run_many` passes one).
    ``settings``: the loop's memory format/autocast instead of the device's (:func:`.device.settings_for`);
    a resumed run keeps the settings it started with. Not part of the key (like the device).
    """
    if not isinstance(spec, TrainSpec):
        raise TypeError(f"train() takes a TrainSpec, got {type(spec).__name__}")
    check_mode(progress)
    store = store or ResultsStore()
    dp = data_parallel()
    record = stored_record(spec, store, data_root)
    if dp is not None:
        record = dp.broadcast(record)   # every rank goes by rank 0's look at the store
    if record is not None:
        record["cache_hit"] = True
        return record
    device = resolve_device(device)
    if dp is not None:
        device = dp.device(device)
        progress = progress if dp.main else "none"
    bundle = data_cache.get(spec, data_root) if data_cache is not None else load_data(spec, data_root)
    resolved = spec.with_source(bundle.source) if spec.data_mode == "auto" else spec
    spec_dict, code = resolved.store_spec(), resolved.code_modules()
    # the run's lock: its checkpoints are written while holding it, and a second process
    # asking for the same run waits here, then reads the first one's record
    with (store.lock(KIND, spec_dict, code=code) if dp is None else dp.lock(store, KIND, spec_dict, code)):
        record = store.get(KIND, spec_dict, code=code) if dp is None or dp.main else None
        if dp is not None:
            record = dp.broadcast(record)
        if record is not None:
            record["cache_hit"] = True
            return record
        key = store.key(KIND, spec_dict, code=code)
        with backend_flags(device), rng.preserved(device):
            result = _fit(resolved, key, bundle, device, progress, nested, callback, stop_after_epoch,
                          keep_checkpoint, checkpoint_every_s, settings, dp)
        result["requested_data_mode"] = spec.data_mode
        if dp is None or dp.main:
            record = store.put(KIND, spec_dict, result, profile, code=code)
        if dp is not None:
            record = dp.broadcast(record)
        record["cache_hit"] = False
    return record


def stored_record(spec: TrainSpec, store: ResultsStore | None = None, data_root=None) -> dict | None:
    """The stored record of ``spec`` if it was trained with this code, else None.

    ``data_mode="auto"`` is looked up as "real" first, then - only when no real files are on
    disk - as "standin" (see :func:`train`)."""
    store = store or ResultsStore()
    if spec.data_mode == "auto":
        candidates = [spec.with_source("real")]
        if not real_data_present(spec, data_root):
            candidates.append(spec.with_source("standin"))
    else:
        candidates = [spec]
    for candidate in candidates:
        record = store.get(KIND, candidate.store_spec(), code=candidate.code_modules())
        if record is not None:
            return record
    return None


def _fit(spec: TrainSpec, key: str, bundle, device: torch.device, progress: str, nested: bool, callback,
         stop_after_epoch, keep_checkpoint: bool | str, checkpoint_every_s: float,
         settings: Settings | None, dp: DataParallel | None = None) -> dict:
    recipe = spec.resolved_recipe()
    spec_dict = spec.store_spec()
    splits = {name: Split(bundle, name, device) for name in ("train", "val", "test")}
    if splits["train"].n == 0:
        raise ValueError(f"{spec.task}: the training split is empty")
    normalization = splits["train"].channel_stats(bundle.image_size, bundle.in_channels)
    model_spec = spec.model_spec(bundle.num_classes, bundle.image_size)

    ckpt = C.Checkpointer(C.checkpoint_dir(key), checkpoint_every_s)
    main = dp is None or dp.main
    if main:   # an unwritable cache fails here, before any training time is spent
        ckpt.folder.mkdir(parents=True, exist_ok=True)
    state = C.load(ckpt.last, spec_dict) if main else None
    if dp is not None:
        state = dp.broadcast(state)   # every rank resumes from the checkpoint rank 0 read
    if state is not None and "settings" in state:
        settings, settings_from = Settings(**state["settings"]), "checkpoint"   # go on as it started
    elif settings is None:
        settings, settings_from = settings_for(device), "device"
    else:
        settings_from = "given"

    rng.seed_everything(spec.seed)
    model = model_spec.build("cpu").to(device)   # the same initial weights on every device
    optimizer = make_optimizer(model, recipe)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(recipe.milestones), recipe.gamma)
    loop = (Loop(model, optimizer, device, settings, normalization) if dp is None
            else DistributedLoop(model, optimizer, device, settings, normalization, dp))

    curves = {k: [] for k in CURVE_KEYS}
    timing = {"epoch_s": [], "train_s": [], "eval_s": [], "cpu_s": [], "images": []}
    start_epoch, resumed_from, partial = 0, None, None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.set_state(state["rng"])
        curves, timing = state["curves"], state["timing"]
        start_epoch = resumed_from = state["epoch"]
        partial = state.get("partial")   # interrupted inside an epoch: its progress so far
        if main:   # the first line of a resumed run says so (the bar then starts where it left off)
            print(f"resumed from epoch {start_epoch + 1}, step {partial['step'] if partial else 0} "
                  f"({ckpt.last})", file=sys.stderr, flush=True)

    def resumable(epoch: int, partial: dict | None = None) -> dict:
        return {"spec": spec_dict, "epoch": epoch, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng.get_state(device), "curves": curves, "timing": timing,
                "settings": asdict(settings), "partial": partial}

    n_train = splits["train"].n
    eval_bs = eval_batch_size(recipe.batch_size, bundle.image_size)
    eval_order = {name: torch.arange(s.n) if dp is None else dp.shard_order(torch.arange(s.n))
                  for name, s in splits.items()}
    shard = None if dp is None else dp.shard
    bar = RunBar(progress, f"{model_spec.name} {spec.label} {spec.task}", recipe.epochs, n_train, nested,
                 done=start_epoch * n_train + (partial["seen"] if partial else 0), epoch_now=start_epoch + 1)
    t_run = time.perf_counter()
    # Ctrl-C: a checkpoint at the next step boundary (one process; torchrun stops its workers itself)
    interrupt, handlers = C.StopOnInterrupt(), contextlib.ExitStack()
    if dp is None:
        handlers.enter_context(interrupt)
    try:
        for epoch in range(start_epoch, recipe.epochs):
            # an epoch interrupted before: its clock goes on from where it stopped
            t0 = time.perf_counter() - (partial["train_s"] if partial else 0.0)
            c0 = time.process_time() - (partial["cpu_s"] if partial else 0.0)
            lr = optimizer.param_groups[0]["lr"]
            augment = Augmenter(recipe.augment, n_train, spec.seed, epoch, device)
            batches = splits["train"].batches(epoch_order(n_train, spec.seed, epoch), recipe.batch_size,
                                              drop_singleton=True, shard=shard)
            try:
                train_loss, train_acc, seen = loop.train_epoch(batches, augment, bar.step, resume=partial,
                                                               stop=interrupt)
            except EpochInterrupted as stopped:
                at = {**stopped.partial, "train_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
                if main:
                    ckpt.save(resumable(epoch, at))
                raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {at['step']}; run the same "
                                          f"command to resume (checkpoint {ckpt.last})") from None
            partial = None
            scheduler.step()
            t1 = time.perf_counter()
            val = (loop.evaluate(splits["val"].batches(eval_order["val"], eval_bs))
                   if splits["val"].n else {"loss": None, "accuracy": None})
            t2 = time.perf_counter()
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "train_acc": train_acc,
                   "val_loss": val["loss"], "val_acc": val["accuracy"]}
            for k in CURVE_KEYS:
                curves[k].append(row[k])
            for name, value in (("epoch_s", t2 - t0), ("train_s", t1 - t0), ("eval_s", t2 - t1),
                                ("cpu_s", time.process_time() - c0), ("images", seen)):
                timing[name].append(value)
            bar.epoch(row)
            try:
                if callback is not None:
                    callback(epoch + 1, row)
            except BaseException:
                if main:
                    ckpt.save(resumable(epoch + 1))   # the run resumes after this epoch
                raise
            # Ctrl-C during the evaluation: stop at this epoch's end
            asked = interrupt() and epoch + 1 < recipe.epochs
            stop = asked or (stop_after_epoch is not None and epoch + 1 >= stop_after_epoch)
            if main and (stop or epoch + 1 < recipe.epochs):  # after the last epoch: final.pt below
                ckpt.maybe_save(lambda: resumable(epoch + 1), force=stop)
            if stop:
                what = "interrupted" if asked else "stopped"
                raise TrainingInterrupted(f"{what} after epoch {epoch + 1}; run the same command to resume "
                                          f"(checkpoint {ckpt.last})")
        t_test = time.perf_counter()
        test = loop.evaluate(splits["test"].batches(eval_order["test"], eval_bs), bundle.num_classes)
        test_s = time.perf_counter() - t_test
    finally:
        handlers.close()
        bar.close()

    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if keep_checkpoint == "auto":
        keep_checkpoint = weight_bytes <= C.KEEP_FINAL_MAX_BYTES
    # The run is finished and stored: the optimizer state is no longer needed to resume.
    kept = ckpt.finish({"spec": spec_dict, "epoch": recipe.epochs, "model": model.state_dict()}
                       if keep_checkpoint else None) if main else None
    processes = ({"processes": 1, "nodes": 1, "processes_per_node": 1, "devices": [str(device)]}
                 if dp is None else dp.describe(device))

    train_s = sum(timing["train_s"])
    images = sum(timing["images"])
    primary = getattr(bundle, "metric", "accuracy")
    variant = spec.variant
    return {
        "label": spec.label, "variant": spec.model, "model_spec": model_spec.text,
        "model": variant.model, "architecture": variant.name, "scheme": variant.kind, "k": variant.k,
        "width": variant.width, "width_mult": variant.width_mult, "task": spec.task,
        "data": {"source": bundle.source, "description": bundle.description, "sizes": dict(bundle.sizes),
                 "num_classes": bundle.num_classes, "in_channels": bundle.in_channels,
                 "image_size": bundle.image_size, "in_memory": splits["train"].in_memory,
                 "normalization": {"mean": normalization[0], "std": normalization[1]},
                 "fallback_reason": getattr(bundle, "fallback_reason", None)},
        "recipe": asdict(recipe),
        "scaling": scaling(spec, recipe, bundle),
        "curves": curves,
        "test": {**test, "error": None if test["accuracy"] is None else 1 - test["accuracy"]},
        "primary_metric": primary,
        "test_accuracy": test.get(primary),
        "params": sum(p.numel() for p in model.parameters()),
        "timing": {"wall_s": sum(timing["epoch_s"]) + ckpt.seconds + test_s,
                   "train_s": train_s, "test_s": test_s, "checkpoint_s": ckpt.seconds,
                   "checkpointed_epochs": ckpt.saved_epochs,
                   "images_per_s": images / train_s if train_s > 0 else None,
                   "epoch_s": timing["epoch_s"], "epoch_train_s": timing["train_s"],
                   "epoch_cpu_s": timing["cpu_s"], "this_session_s": time.perf_counter() - t_run,
                   "resumed_from_epoch": resumed_from},
        "run": {"device": str(device), **settings.as_dict(), "settings_from": settings_from,
                "checkpoint_every_s": checkpoint_every_s,
                "checkpoint": str(kept) if kept else None, **processes},
    }


def scaling(spec: TrainSpec, recipe: R.Recipe, bundle) -> dict:
    """How far the run is from the paper's setting (for the book to state next to each number)."""
    task = spec.task if spec.task in recipe.tasks else recipe.primary_task
    paper = R.PAPER_DATA.get(task)
    train_images = int(bundle.sizes.get("train", 0)) if hasattr(bundle, "sizes") else 0
    variant = spec.variant
    paper_width = R.PAPER_WIDTH.get(variant.model)
    return {
        "recipe": recipe.name, "paper": recipe.paper, "paper_task": task, "task": spec.task,
        "same_task": spec.task in recipe.tasks,
        "epochs": recipe.epochs, "paper_epochs": recipe.paper_epochs, "epochs_ratio": recipe.epoch_scale,
        "milestones": list(recipe.milestones), "paper_milestones": list(recipe.paper_milestones),
        "batch_size": recipe.batch_size, "paper_batch_size": recipe.paper_batch_size,
        "train_images": train_images, "paper_train_images": paper.train_images if paper else None,
        "dataset_ratio": train_images / paper.train_images if paper else None,
        "resolution": bundle.image_size, "paper_resolution": paper.resolution if paper else None,
        "num_classes": bundle.num_classes, "paper_num_classes": paper.num_classes if paper else None,
        "width": variant.width, "paper_width": paper_width,
        "width_ratio": variant.width / paper_width if paper_width and variant.width else None,
        "width_mult": variant.width_mult,
        "data_source": bundle.source,
    }


# -- several runs ------------------------------------------------------------------------

def run_many(specs: TrainSpec | Iterable[TrainSpec], seeds: Iterable[int] | None = None,
             store: ResultsStore | None = None, progress: str = "auto", **train_kwargs) -> list[dict]:
    """Train every spec once per seed (``seeds=None``: each spec's own seed); stored runs are read
    back. Runs that share their data (same task, sizes, data seed) load it once. An outer bar
    shows ``runs i/N (c cached)``."""
    specs = [specs] if isinstance(specs, TrainSpec) else list(specs)
    jobs = [spec.replace(seed=seed) for spec in specs for seed in ([spec.seed] if seeds is None else seeds)]
    check_mode(progress)
    store = store or ResultsStore()
    cache = train_kwargs.pop("data_cache", None) or DataCache()
    bar = RunsBar(progress, len(jobs))
    records = []
    try:
        for job in jobs:
            record = train(job, store, progress, data_cache=cache, nested=bar.nested, **train_kwargs)
            bar.finished(record)
            records.append(record)
    finally:
        bar.close()
    return records


SUMMARY_COLUMNS = ["variant", "model", "label", "scheme", "k", "width", "task", "source", "epochs"]


def summarize_runs(records: Iterable[dict]):
    """Mean and sample std (ddof=1; NaN for a single seed) over seeds of the final test top-1
    accuracy and error in percent, one row per variant/task/data source/epochs."""
    import pandas as pd

    rows = []
    for rec in records:
        res, spec = rec["result"], rec["spec"]
        rows.append({"variant": res["variant"], "model": res["model"], "label": res["label"],
                     "scheme": res["scheme"], "k": res["k"], "width": res["width"], "task": res["task"],
                     "source": res["data"]["source"], "epochs": res["recipe"]["epochs"], "seed": spec["seed"],
                     "top1_pct": 100 * res["test"]["accuracy"], "error_pct": 100 * res["test"]["error"],
                     "balanced_pct": 100 * res["test"].get("balanced_accuracy", float("nan")),
                     "params": res["params"], "wall_s": res["timing"]["wall_s"]})
    if not rows:
        return pd.DataFrame(columns=SUMMARY_COLUMNS + ["seeds", "top1_pct_mean", "top1_pct_std",
                                                       "error_pct_mean", "error_pct_std"])
    df = pd.DataFrame(rows)
    grouped = df.groupby(SUMMARY_COLUMNS, dropna=False, sort=False)
    out = grouped.agg(seeds=("seed", "count"), top1_pct_mean=("top1_pct", "mean"),
                      top1_pct_std=("top1_pct", "std"), error_pct_mean=("error_pct", "mean"),
                      error_pct_std=("error_pct", "std"), balanced_pct_mean=("balanced_pct", "mean"),
                      params=("params", "first"), wall_s=("wall_s", "sum"))
    return out.reset_index()


__all__ = ["CURVE_KEYS", "TrainingInterrupted", "train", "run_many", "summarize_runs", "scaling", "load_data"]
