"""One training loop for every chapter: a :class:`TrainSpec` in, a stored record out.

* **Cached.** The record's key is a hash of the spec *and* the effective recipe (after scaling and
  overrides), so a finished run is read back, never recomputed, until one of them changes (or
  ``TRAIN_VERSION`` is bumped). The profile that asked for a run is provenance, not part of the key.
* **Resumable, bit-identically on CPU.** Every epoch ends with an atomic checkpoint (model,
  optimizer, scheduler, RNG states, curves) in ``cache_dir()/checkpoints/<key>/last.pt``. The data
  order and the augmentation of an epoch come from a generator seeded by (seed, epoch), not from
  global RNG state, so an interrupted run that resumes ends with the same curves and test accuracy
  as one that was never interrupted. After the last epoch the checkpoint is replaced by
  ``final.pt`` with the model weights only (the optimizer state is no longer needed: a finished
  run is a store hit). ``keep_checkpoint="auto"`` (default) keeps it when the weights take at most
  100 MB (every small model of the quick profiles; not VGG's 0.5 GB), True always, False never.
* **Fast where it matters.** In-memory data sets stay on the device and are indexed batch by
  batch (no DataLoader); loss and correct counts are summed on the device and read once per epoch
  (no per-step host syncs); crop/flip augmentation is done on the device for a whole batch.
  channels_last everywhere; on GPUs bf16 autocast, on CPUs all cores.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from . import recipes as R
from .store import ResultsStore, atomic_open, cache_dir, spec_key

TRAIN_VERSION = 1  # bump when the loop changes what a run computes: every cached run is redone
KIND = "train"
DATA_MODES = ("auto", "real", "standin")
PROGRESS_MODES = ("auto", "bar", "compact", "none")
KEEP_FINAL_MAX_BYTES = 100 * 2**20   # keep_checkpoint="auto": keep final weights up to this size


class TrainingInterrupted(RuntimeError):
    """Raised by the ``stop_after_epoch`` hook after that epoch's checkpoint was written."""


# -- the spec --------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines a training result (and nothing that does not, e.g. the profile).

    model/scheme/k/width: the variant, as in :class:`gconvlib.tables.Variant` (scheme = conv kind
        or the VGG letter; k = G for e2gc, g for the other grouped kinds; width = WRN-28's k).
    task/data_mode/image_size/limit/num_classes: the data (``limit`` images per split at most;
        ``num_classes`` = the K most frequent classes where the data set supports it).
    recipe + epochs/batch_size/lr/weight_decay/augment: the paper's recipe and overrides; a
        changed ``epochs`` rescales the milestones (:func:`gconvlib.recipes.scaled`).
    seed: initialisation, data order and augmentation. data_seed: the data itself (which images a
        ``limit`` keeps, the val split, the stand-in's classes) - kept apart so that averaging over
        seeds measures training noise on one fixed data set, and runs that differ only in ``seed``
        share their data.
    data_mode "auto" is stored under the source it resolved to ("real" or "standin"), so a stand-in
    result is never mistaken for a real-data one (see :func:`train`).
    ``None`` means the paper's default, filled in at construction so equal runs have equal keys.
    """

    model: str
    scheme: str
    k: int | None = None
    width: int | None = None
    task: str | None = None
    data_mode: str = "auto"
    image_size: int | None = None
    limit: int | None = None
    num_classes: int | None = None
    recipe: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    augment: str | None = None
    seed: int = 0
    data_seed: int = 0
    version: int = TRAIN_VERSION
    width_mult: float | None = None   # VGG only: channels and group counts x width_mult (group size kept)

    def __post_init__(self):
        from .models import list_models

        if self.model not in list_models():
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(list_models())}")
        if self.model == "wrn28" and self.width is None:
            object.__setattr__(self, "width", R.PAPER_WIDTH["wrn28"])
        if self.width is not None and self.model != "wrn28":
            raise ValueError(f"width applies to wrn28 only, not {self.model}")
        if self.width_mult is not None and not self.is_vgg:
            raise ValueError(f"width_mult applies to the VGG models only, not {self.model}")
        if self.task is None:
            object.__setattr__(self, "task", R.default_task(self.model))
        from .datasets import list_tasks

        if self.task not in list_tasks():
            raise ValueError(f"unknown task {self.task!r}; valid tasks: {', '.join(list_tasks())}")
        if self.recipe is None:
            object.__setattr__(self, "recipe", R.default_recipe(self.model, self.task))
        if self.data_mode not in DATA_MODES:
            raise ValueError(f"unknown data mode {self.data_mode!r}; choose one of {', '.join(DATA_MODES)}")
        for name in ("width", "image_size", "limit", "num_classes", "epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("seed", "data_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        self.conv_scheme()           # unknown scheme, missing or superfluous k -> ValueError now
        self.resolved_recipe()       # unknown recipe, bad augmentation -> ValueError now

    # the variant ----------------------------------------------------------------------
    @property
    def is_vgg(self) -> bool:
        return self.model.startswith("vgg")

    def conv_scheme(self):
        """The model's scheme argument: a VGG letter, or a :class:`ConvScheme`."""
        from .layers import ConvScheme
        from .models.vgg import GROUPINGS

        if self.is_vgg:
            if self.scheme not in GROUPINGS:
                raise ValueError(f"unknown VGG grouping scheme {self.scheme!r}; choose one of {', '.join(GROUPINGS)}")
            if self.k is not None:
                raise ValueError("VGG schemes fix their own group counts: leave k unset")
            return self.scheme
        if self.scheme == "standard":
            if self.k is not None:
                raise ValueError("scheme 'standard' takes no k")
            return ConvScheme()
        try:
            if self.scheme == "e2gc":
                return ConvScheme("e2gc", group_size=self.k)
            return ConvScheme(self.scheme, groups=self.k)
        except ValueError as e:
            raise ValueError(f"{e} (k is the group size G for e2gc, the number of groups g otherwise)") from None

    @property
    def label(self) -> str:
        scheme = self.conv_scheme()
        return scheme if isinstance(scheme, str) else scheme.label

    def build_model(self, num_classes: int, input_size: int, device="cpu") -> torch.nn.Module:
        from .tables import Variant

        variant = Variant(self.model, self.scheme, self.k, width=self.width,
                          num_classes=num_classes, input_size=input_size, width_mult=self.width_mult)
        return variant.build(device)

    # the recipe and the key -------------------------------------------------------------
    def resolved_recipe(self) -> R.Recipe:
        return R.scaled(R.get_recipe(self.recipe), self.epochs, batch_size=self.batch_size, lr=self.lr,
                        weight_decay=self.weight_decay, augment=self.augment)

    def store_spec(self) -> dict:
        """What the store keys on: the spec plus the effective recipe (edits to a recipe's values
        change the key even without a version bump)."""
        recipe = asdict(self.resolved_recipe())
        recipe.pop("notes"), recipe.pop("reference")  # wording, not values
        return {**asdict(self), "effective_recipe": recipe}

    @property
    def key(self) -> str:
        return spec_key(self.store_spec())

    def with_source(self, source: str) -> TrainSpec:
        """This spec with ``data_mode`` resolved to the data actually used ("real"/"standin")."""
        return dataclasses.replace(self, data_mode=source)

    @classmethod
    def from_record(cls, record: dict) -> TrainSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record["spec"].items() if k in fields})


def checkpoint_dir(spec: TrainSpec) -> Path:
    return cache_dir() / "checkpoints" / spec.key


# -- determinism helpers -----------------------------------------------------------------

def _derived_seed(*parts) -> int:
    """A 63-bit seed from (seed, epoch, stream): independent streams, no global RNG involved."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _generator(*parts) -> torch.Generator:
    return torch.Generator().manual_seed(_derived_seed(*parts))


def _rng_state(device: torch.device) -> dict:
    import numpy as np

    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- devices -----------------------------------------------------------------------------

def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available")
    return device


def _configure(device: torch.device) -> dict:
    """Speed settings of the device; returns what was chosen (for the record)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        amp = torch.cuda.is_bf16_supported()
        return {"amp": "bf16" if amp else None, "channels_last": True, "threads": torch.get_num_threads()}
    torch.set_num_threads(os.cpu_count() or 1)
    # channels_last is 15-45 % faster for these models with oneDNN on CPUs too (measured, torch 2.14)
    return {"amp": None, "channels_last": True, "threads": torch.get_num_threads()}


# -- data --------------------------------------------------------------------------------

_BUNDLES: dict[tuple, object] = {}   # in-process cache: runs that differ only in model/seed share data
_BUNDLE_CACHE_SIZE = 4
MATERIALIZE_BYTES = 1 << 30          # decode a file-backed split into memory when it is at most this big
MATERIALIZE_IMAGES = 20_000          # ... and this short (decoding is single-threaded)


def load_data(spec: TrainSpec, root=None):
    """The spec's :class:`~gconvlib.datasets.DataBundle` (unknown task, K too large ... raise
    ValueError there). Generating a stand-in takes seconds, so the last few bundles are kept."""
    from .datasets import get_data

    key = (spec.task, spec.data_mode, str(root), spec.image_size, spec.limit, spec.data_seed, spec.num_classes)
    if key not in _BUNDLES:
        bundle = get_data(spec.task, mode=spec.data_mode, root=root, image_size=spec.image_size,
                          limit=spec.limit, seed=spec.data_seed, num_classes=spec.num_classes)
        while len(_BUNDLES) >= _BUNDLE_CACHE_SIZE:
            _BUNDLES.pop(next(iter(_BUNDLES)))
        _BUNDLES[key] = bundle
    return _BUNDLES[key]


def _real_data_present(spec: TrainSpec, root=None) -> bool:
    """Whether real files for the task may be on disk (cheap; no reading, no download)."""
    from .datasets import vision

    if spec.task == "imagenet":
        folder = vision.imagenet_root(root)
        return folder is not None and folder.is_dir()
    folder = Path(root) if root is not None else cache_dir() / spec.task
    return folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*"))


class _Split:
    """One split as either device-resident uint8 tensors (fast path) or a Dataset read in batches."""

    def __init__(self, bundle, name: str, device: torch.device, use_tensors: bool = True):
        self.name, self.device = name, device
        self.dataset = getattr(bundle, name, None)
        self.x = self.y = None
        n = len(self.dataset) if self.dataset is not None else 0
        tensors = None
        if use_tensors and n:
            tensors = bundle.tensors(name, dtype=torch.uint8)
            if tensors is None and n <= MATERIALIZE_IMAGES and \
                    n * bundle.in_channels * bundle.image_size ** 2 <= MATERIALIZE_BYTES:
                tensors = bundle.tensors(name, dtype=torch.uint8, materialize=True)
        if tensors is not None and _fits(tensors, device):
            x, y = tensors
            self.x, self.y = x.to(device), y.to(device=device, dtype=torch.long)
        self.n = n

    @property
    def in_memory(self) -> bool:
        return self.x is not None

    def batches(self, order: torch.Tensor, batch_size: int, drop_singleton: bool = False):
        """(x, y, (start, stop)) per batch, in ``order``. A last batch of one image is dropped in
        training: BatchNorm cannot normalise a single 1x1 feature map."""
        n = len(order)
        stops = list(range(batch_size, n, batch_size)) + [n]
        if drop_singleton and n > 1 and n - (stops[-2] if len(stops) > 1 else 0) == 1:
            stops.pop()
        if self.in_memory:
            order_d = order.to(self.device)
            start = 0
            for stop in stops:
                idx = order_d[start:stop]
                yield self.x[idx], self.y[idx], (start, stop)
                start = stop
            return
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=_Batches(order.tolist(), stops),
            num_workers=_loader_workers(self.device), pin_memory=self.device.type == "cuda")
        start = 0
        for (x, y), stop in zip(loader, stops):
            yield (x.to(self.device, non_blocking=True),
                   torch.as_tensor(y).to(self.device, dtype=torch.long, non_blocking=True), (start, stop))
            start = stop

    def channel_stats(self, image_size: int, channels: int) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the first images of the split (at most 2048 and 256 MB as
        float), in [0, 1] units: the input normalisation, a property of the data alone."""
        max_images = max(1, min(2048, (1 << 26) // (channels * image_size ** 2)))
        if self.in_memory:
            x = self.x[:max_images]
        else:
            items = [self.dataset[i][0] for i in range(min(self.n, max_images))]
            x = torch.stack(items).to(self.device)
        # the float32 values the model sees, summed in float64 on a contiguous copy: the same
        # numbers whether the split came as uint8 tensors or as a Dataset, in whatever layout
        x = (x.float().div_(255) if x.dtype == torch.uint8 else x.float()).contiguous().double()
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp(min=1e-3)
        return mean.tolist(), std.tolist()


class _Batches(torch.utils.data.Sampler):
    def __init__(self, order: list[int], stops: list[int]):
        self.order, self.stops = order, stops

    def __iter__(self):
        start = 0
        for stop in self.stops:
            yield self.order[start:stop]
            start = stop

    def __len__(self):
        return len(self.stops)


def _loader_workers(device: torch.device) -> int:
    # On a GPU machine, decode on spare cores; on a CPU-only machine every core computes.
    return min(8, (os.cpu_count() or 1) // 2) if device.type == "cuda" else 0


def _fits(tensors, device: torch.device) -> bool:
    if device.type != "cuda":
        return True  # already in host memory
    size = sum(t.numel() * t.element_size() for t in tensors)
    free, _ = torch.cuda.mem_get_info(device)
    return size < 0.4 * free


# -- augmentation (whole batch, on the device) ---------------------------------------------

class Augmenter:
    """Crop + flip of a batch, with parameters drawn per epoch from a (seed, epoch) generator.

    ``pad_crop_flip``: zero-pad 4 px, take a random crop of the original size, flip half (CIFAR,
    GC-2L Sec. 4). ``resized_crop_flip``: random area 8-100 % and aspect 3/4-4/3 resized back to
    the input size (bilinear), flip half (ImageNet); a crop larger than the image is clamped
    to it instead of torchvision's retry loop.
    """

    def __init__(self, kind: str, n: int, seed: int, epoch: int, device: torch.device, pad: int = 4):
        self.kind, self.pad, self.device = kind, pad, device
        if kind == "none":
            return
        g = _generator(seed, epoch, "augment")
        self.flip = (torch.rand(n, generator=g) < 0.5).to(device)
        if kind == "pad_crop_flip":
            self.offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=g).to(device)
        else:
            area = torch.empty(n).uniform_(0.08, 1.0, generator=g)
            log_ratio = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)
            w = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)
            h = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
            centre = torch.rand(n, 2, generator=g) * 2 - 1  # scaled to the room left by the crop below
            self.boxes = torch.stack([w, h, centre[:, 0] * (1 - w), centre[:, 1] * (1 - h)], 1).to(device)

    def __call__(self, x: torch.Tensor, rows: tuple[int, int]) -> torch.Tensor:
        if self.kind == "none":
            return x
        start, stop = rows
        flip = self.flip[start:stop]
        n, _, h, w = x.shape
        if self.kind == "pad_crop_flip":
            off = self.offsets[start:stop]
            xp = F.pad(x, (self.pad,) * 4)
            r = off[:, 0:1] + torch.arange(h, device=x.device)           # n x h
            c = off[:, 1:2] + torch.arange(w, device=x.device)           # n x w
            c = torch.where(flip[:, None], c.flip(1), c)                 # flip = read columns backwards
            out = xp[torch.arange(n, device=x.device)[:, None, None], :, r[:, :, None], c[:, None, :]]
            return out.permute(0, 3, 1, 2)                                # n h w c -> n c h w
        box = self.boxes[start:stop]
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = box[:, 0] * torch.where(flip, -1.0, 1.0).to(x.dtype)
        theta[:, 1, 1] = box[:, 1]
        theta[:, 0, 2], theta[:, 1, 2] = box[:, 2], box[:, 3]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# -- the loop ----------------------------------------------------------------------------

class _Loop:
    """Training and evaluation steps of one model; sums stay on the device."""

    def __init__(self, model, optimizer, device: torch.device, settings: dict,
                 normalization: tuple[list[float], list[float]] | None = None):
        self.model, self.optimizer, self.device = model, optimizer, device
        self.amp = settings.get("amp")
        self.memory_format = torch.channels_last if settings.get("channels_last") else torch.contiguous_format
        self.mean = self.std = None
        if normalization is not None:
            self.mean = torch.tensor(normalization[0], device=device).view(1, -1, 1, 1)
            self.std = torch.tensor(normalization[1], device=device).view(1, -1, 1, 1)
        if settings.get("channels_last"):
            self.model.to(memory_format=torch.channels_last)

    @staticmethod
    def _as_float(x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255) if x.dtype == torch.uint8 else x

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey-scale data, RGB models (VGG paper: "unified as RGB")
        return x.contiguous(memory_format=self.memory_format)

    def _autocast(self):
        if self.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_epoch(self, batches: Iterable, augment: Callable, on_step: Callable[[int], None] | None = None):
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        seen = 0
        for x, y, rows in batches:
            x = self._prepare(augment(self._as_float(x), rows))
            with self._autocast():
                out = self.model(x)
                loss = F.cross_entropy(out, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach().float() * len(y)
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            if on_step is not None:
                on_step(len(y))
        return loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1), seen

    @torch.no_grad()
    def evaluate(self, batches: Iterable, num_classes: int | None = None) -> dict:
        """Loss, top-1 accuracy and (with ``num_classes``) balanced accuracy."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        confusion = (torch.zeros(num_classes * num_classes, dtype=torch.long, device=self.device)
                     if num_classes else None)
        seen = 0
        for x, y, _ in batches:
            with self._autocast():
                out = self.model(self._prepare(self._as_float(x)))
            loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
            pred = out.argmax(1)
            correct += (pred == y).sum()
            if confusion is not None:
                confusion += torch.bincount(y * num_classes + pred, minlength=num_classes ** 2)
            seen += len(y)
        if seen == 0:
            return {"loss": None, "accuracy": None, "images": 0}
        result = {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen, "images": seen}
        if confusion is not None:
            m = confusion.view(num_classes, num_classes).cpu()
            support = m.sum(1)
            present = support > 0
            result["balanced_accuracy"] = float((m.diag()[present].double() / support[present]).mean())
        return result


def _eval_batch_size(batch_size: int, image_size: int) -> int:
    # Evaluation keeps no activations for backward: larger batches, bounded for big images.
    return max(batch_size, 256) if image_size <= 64 else max(batch_size, 64)


# -- progress ----------------------------------------------------------------------------

def _progress_mode(progress: str) -> str:
    if progress not in PROGRESS_MODES:
        raise ValueError(f"unknown progress mode {progress!r}; choose one of {', '.join(PROGRESS_MODES)}")
    if progress != "auto":
        return progress
    if "ipykernel" in sys.modules:
        return "compact"  # tqdm bars in saved notebooks turn into walls of carriage returns
    return "bar" if sys.stderr.isatty() else "compact"


class _Progress:
    def __init__(self, mode: str, title: str, epochs: int, images_per_epoch: int):
        self.mode, self.title, self.epochs = mode, title, epochs
        self.bar = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs * images_per_epoch, desc=title, unit="img", leave=True,
                            dynamic_ncols=True)

    def resumed(self, epochs_done: int, images_per_epoch: int):
        if self.bar is not None:
            self.bar.update(epochs_done * images_per_epoch)
        elif self.mode == "compact":
            print(f"[{self.title}] resuming after epoch {epochs_done}/{self.epochs}", flush=True)

    def step(self, n: int):
        if self.bar is not None:
            self.bar.update(n)

    def epoch(self, row: dict):
        val = (f"  val loss {row['val_loss']:.3f} acc {100 * row['val_acc']:.1f}%"
               if row.get("val_loss") is not None else "")
        if self.bar is not None:
            self.bar.set_postfix_str(f"ep {row['epoch']} loss {row['train_loss']:.3f}"
                                     + (f" val {100 * row['val_acc']:.1f}%" if val else ""))
        elif self.mode == "compact":
            print(f"[{self.title}] epoch {row['epoch']}/{self.epochs}  lr {row['lr']:.3g}  "
                  f"train loss {row['train_loss']:.3f} acc {100 * row['train_acc']:.1f}%{val}  "
                  f"{row['seconds']:.1f} s ({row['images_per_s']:.0f} img/s)", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# -- checkpoints -----------------------------------------------------------------------------

def _atomic_save(obj, path: Path) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def _load_checkpoint(path: Path, spec_dict: dict) -> dict | None:
    if not path.exists():
        return None
    # on the CPU: RNG states must stay CPU tensors; load_state_dict moves weights/moments to the device
    state = torch.load(path, map_location="cpu", weights_only=False)
    # The directory is named by the key; a mismatch would mean a hash collision or a hand edit.
    return state if state.get("spec") == spec_dict else None


# -- training ----------------------------------------------------------------------------

CURVE_KEYS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")


def train(spec: TrainSpec, store: ResultsStore | None = None, progress: str = "auto", device="auto", *,
          profile: str | None = None, data_root=None, callback: Callable[[int, dict], None] | None = None,
          stop_after_epoch: int | None = None, keep_checkpoint: bool | str = "auto") -> dict:
    """Train ``spec`` (or read its finished record) and return the store record.

    ``record["result"]`` holds the curves (one list entry per epoch), test accuracy, data source,
    scaling relative to the paper and timing; ``record["cache_hit"]`` says whether it was read back.

    ``data_mode="auto"`` is looked up as "real" first, then - only when no real files are on disk,
    i.e. the stand-in is what "auto" would give - as "standin"; a new run is stored under the
    source it actually used. ``data_root``: folder of the real data (not part of the key).
    ``keep_checkpoint``: after the run, keep the final weights (True), delete the checkpoint
    (False), or keep them when they take at most 100 MB ("auto").
    ``callback(epoch, row)`` runs after each epoch's checkpoint (raising from it interrupts the
    run, which later resumes from that checkpoint); ``stop_after_epoch=n`` raises
    :class:`TrainingInterrupted` after epoch n (1-based): a hook for tests and demos.
    """
    if not isinstance(spec, TrainSpec):
        raise TypeError(f"train() takes a TrainSpec, got {type(spec).__name__}")
    mode = _progress_mode(progress)
    store = store or ResultsStore()
    if spec.data_mode == "auto":
        candidates = [spec.with_source("real")]
        if not _real_data_present(spec, data_root):
            candidates.append(spec.with_source("standin"))
    else:
        candidates = [spec]
    for candidate in candidates:
        record = store.get(KIND, candidate.store_spec())
        if record is not None:
            record["cache_hit"] = True
            return record
    device = resolve_device(device)
    bundle = load_data(spec, data_root)
    resolved = spec.with_source(bundle.source) if spec.data_mode == "auto" else spec
    record = store.get(KIND, resolved.store_spec())
    if record is None:
        result = _fit(resolved, bundle, device, mode, callback, stop_after_epoch, keep_checkpoint)
        result["requested_data_mode"] = spec.data_mode
        record = store.put(KIND, resolved.store_spec(), result, profile)
        record["cache_hit"] = False
    else:
        record["cache_hit"] = True
    return record


def _fit(spec: TrainSpec, bundle, device: torch.device, progress: str, callback, stop_after_epoch,
         keep_checkpoint: bool | str) -> dict:
    settings = _configure(device)
    recipe = spec.resolved_recipe()
    spec_dict = spec.store_spec()
    splits = {name: _Split(bundle, name, device) for name in ("train", "val", "test")}
    if splits["train"].n == 0:
        raise ValueError(f"{spec.task}: the training split is empty")
    normalization = splits["train"].channel_stats(bundle.image_size, bundle.in_channels)

    _seed_everything(spec.seed)
    model = spec.build_model(bundle.num_classes, bundle.image_size).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                nesterov=recipe.nesterov and recipe.momentum > 0,
                                weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(recipe.milestones), recipe.gamma)
    loop = _Loop(model, optimizer, device, settings, normalization)

    ckpt_dir = cache_dir() / "checkpoints" / spec.key
    curves = {k: [] for k in CURVE_KEYS}
    timing = {"epoch_s": [], "train_s": [], "eval_s": [], "cpu_s": [], "checkpoint_s": [], "images": []}
    start_epoch, resumed_from = 0, None
    state = _load_checkpoint(ckpt_dir / "last.pt", spec_dict)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        curves, timing = state["curves"], state["timing"]
        start_epoch = resumed_from = state["epoch"]

    n_train = splits["train"].n
    eval_bs = _eval_batch_size(recipe.batch_size, bundle.image_size)
    eval_order = {name: torch.arange(s.n) for name, s in splits.items()}
    title = f"{spec.model} {spec.label} {spec.task}"
    bar = _Progress(progress, title, recipe.epochs, n_train)
    if start_epoch:
        bar.resumed(start_epoch, n_train)
    t_run = time.perf_counter()
    try:
        for epoch in range(start_epoch, recipe.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            lr = optimizer.param_groups[0]["lr"]
            order = torch.randperm(n_train, generator=_generator(spec.seed, epoch, "order"))
            augment = Augmenter(recipe.augment, n_train, spec.seed, epoch, device)
            train_loss, train_acc, seen = loop.train_epoch(
                splits["train"].batches(order, recipe.batch_size, drop_singleton=True), augment, bar.step)
            scheduler.step()
            t1 = time.perf_counter()
            val = (loop.evaluate(splits["val"].batches(eval_order["val"], eval_bs))
                   if splits["val"].n else {"loss": None, "accuracy": None})
            t2 = time.perf_counter()
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "train_acc": train_acc,
                   "val_loss": val["loss"], "val_acc": val["accuracy"]}
            for k in CURVE_KEYS:
                curves[k].append(row[k])
            timing["epoch_s"].append(t2 - t0)
            timing["train_s"].append(t1 - t0)
            timing["eval_s"].append(t2 - t1)
            timing["cpu_s"].append(time.process_time() - c0)
            timing["images"].append(seen)
            timing["checkpoint_s"].append(0.0)
            _atomic_save({"spec": spec_dict, "epoch": epoch + 1, "model": model.state_dict(),
                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "rng": _rng_state(device), "curves": curves, "timing": timing},
                         ckpt_dir / "last.pt")
            timing["checkpoint_s"][-1] = time.perf_counter() - t2  # in memory only: saved as 0.0
            bar.epoch({**row, "seconds": t2 - t0, "images_per_s": seen / max(t1 - t0, 1e-9)})
            if callback is not None:
                callback(epoch + 1, row)
            if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
                raise TrainingInterrupted(f"stopped after epoch {epoch + 1} (checkpoint in {ckpt_dir})")
        t_test = time.perf_counter()
        test = loop.evaluate(splits["test"].batches(eval_order["test"], eval_bs), bundle.num_classes)
        test_s = time.perf_counter() - t_test
    finally:
        bar.close()

    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if keep_checkpoint == "auto":
        keep_checkpoint = weight_bytes <= KEEP_FINAL_MAX_BYTES
    if keep_checkpoint:
        # The run is finished and stored: the optimizer state is no longer needed to resume.
        _atomic_save({"spec": spec_dict, "epoch": recipe.epochs, "model": model.state_dict()},
                     ckpt_dir / "final.pt")
        (ckpt_dir / "last.pt").unlink(missing_ok=True)
    else:
        import shutil

        shutil.rmtree(ckpt_dir, ignore_errors=True)

    train_s = sum(timing["train_s"])
    images = sum(timing["images"])
    primary = getattr(bundle, "metric", "accuracy")
    return {
        "label": spec.label, "model": spec.model, "scheme": spec.scheme, "k": spec.k, "width": spec.width,
        "task": spec.task,
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
        "timing": {"wall_s": sum(timing["epoch_s"]) + sum(timing["checkpoint_s"]) + test_s,
                   "train_s": train_s, "test_s": test_s, "checkpoint_s": sum(timing["checkpoint_s"]),
                   "images_per_s": images / train_s if train_s > 0 else None,
                   "epoch_s": timing["epoch_s"], "epoch_train_s": timing["train_s"],
                   "epoch_cpu_s": timing["cpu_s"], "this_session_s": time.perf_counter() - t_run,
                   "resumed_from_epoch": resumed_from},
        "run": {"device": str(device), **settings,
                "checkpoint": str(ckpt_dir / "final.pt") if keep_checkpoint else None},
    }


def scaling(spec: TrainSpec, recipe: R.Recipe, bundle) -> dict:
    """How far the run is from the paper's setting (for the book to state next to each number)."""
    task = spec.task if spec.task in recipe.tasks else recipe.primary_task
    paper = R.PAPER_DATA.get(task)
    train_images = int(bundle.sizes.get("train", 0)) if hasattr(bundle, "sizes") else 0
    paper_width = R.PAPER_WIDTH.get(spec.model)
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
        "width": spec.width, "paper_width": paper_width,
        "width_ratio": spec.width / paper_width if paper_width and spec.width else None,
        "width_mult": spec.width_mult,
        "data_source": bundle.source,
    }


# -- several runs ------------------------------------------------------------------------

def run_many(specs: TrainSpec | Iterable[TrainSpec], seeds: Iterable[int] | None = None,
             store: ResultsStore | None = None, **train_kwargs) -> list[dict]:
    """Train every spec once per seed (``seeds=None``: each spec's own seed); cached runs are reused."""
    specs = [specs] if isinstance(specs, TrainSpec) else list(specs)
    store = store or ResultsStore()
    records = []
    for spec in specs:
        for seed in ([spec.seed] if seeds is None else seeds):
            records.append(train(dataclasses.replace(spec, seed=seed), store, **train_kwargs))
    return records


def summarize_runs(records: Iterable[dict]):
    """Mean and sample std (ddof=1; NaN for a single seed) over seeds of the final test top-1
    accuracy and error in percent, one row per model/scheme/k/width/task/data source/epochs."""
    import pandas as pd

    rows = []
    for rec in records:
        res, spec = rec["result"], rec["spec"]
        rows.append({"model": res["model"], "label": res["label"], "scheme": res["scheme"], "k": res["k"],
                     "width": res["width"], "task": res["task"], "source": res["data"]["source"],
                     "epochs": res["recipe"]["epochs"], "seed": spec["seed"],
                     "top1_pct": 100 * res["test"]["accuracy"], "error_pct": 100 * res["test"]["error"],
                     "balanced_pct": 100 * res["test"].get("balanced_accuracy", float("nan")),
                     "params": res["params"], "wall_s": res["timing"]["wall_s"]})
    columns = ["model", "label", "scheme", "k", "width", "task", "source", "epochs"]
    if not rows:
        return pd.DataFrame(columns=columns + ["seeds", "top1_pct_mean", "top1_pct_std",
                                               "error_pct_mean", "error_pct_std"])
    df = pd.DataFrame(rows)
    grouped = df.groupby(columns, dropna=False, sort=False)
    out = grouped.agg(seeds=("seed", "count"), top1_pct_mean=("top1_pct", "mean"),
                      top1_pct_std=("top1_pct", "std"), error_pct_mean=("error_pct", "mean"),
                      error_pct_std=("error_pct", "std"), balanced_pct_mean=("balanced_pct", "mean"),
                      params=("params", "first"), wall_s=("wall_s", "sum"))
    return out.reset_index()


# -- throughput benchmark -------------------------------------------------------------------

def benchmark_training(spec: TrainSpec, steps: int = 50, warmup: int = 5, device="auto", data_root=None) -> dict:
    """Training images/s of this loop vs a plain eager fp32 loop fed by a standard DataLoader.

    Both train the same model from the same initialisation on the same data with the same on-device
    augmentation; the plain loop is what a tutorial does: DataLoader(shuffle=True) over the Dataset,
    fp32, NCHW, ``loss.item()`` every step. ``steps`` are timed after ``warmup`` untimed steps.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps} and {warmup}")
    device = resolve_device(device)
    recipe = spec.resolved_recipe()
    bundle = load_data(spec, data_root)
    settings = _configure(device)
    bs = recipe.batch_size

    def fresh():
        _seed_everything(spec.seed)
        model = spec.build_model(bundle.num_classes, bundle.image_size).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay)
        return model, opt

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    # this loop: device-resident tensors (when the bundle has them), amp, no per-step sync
    split = _Split(bundle, "train", device)
    normalization = split.channel_stats(bundle.image_size, bundle.in_channels)
    mean = torch.tensor(normalization[0], device=device).view(1, -1, 1, 1)
    std = torch.tensor(normalization[1], device=device).view(1, -1, 1, 1)
    model, opt = fresh()
    loop = _Loop(model, opt, device, settings, normalization)

    def fast_batches(total):
        done, epoch = 0, 0
        while True:
            order = torch.randperm(split.n, generator=_generator(spec.seed, epoch, "order"))
            aug = Augmenter(recipe.augment, split.n, spec.seed, epoch, device)
            for x, y, rows in split.batches(order, bs, drop_singleton=True):
                if done == total:
                    return
                yield aug(loop._as_float(x), rows), y, rows
                done += 1
            epoch += 1

    loop.train_epoch(fast_batches(warmup), lambda x, rows: x)
    sync()
    t0 = time.perf_counter()
    _, _, seen_fast = loop.train_epoch(fast_batches(steps), lambda x, rows: x)
    sync()
    fast_s = time.perf_counter() - t0
    del model, opt, loop

    # the plain loop, with PyTorch's default backend settings (no cuDNN autotuning, fp32 matmuls)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
    model, opt = fresh()
    model.train()
    workers = _loader_workers(device)
    loader = torch.utils.data.DataLoader(bundle.train, batch_size=bs, shuffle=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)

    def plain(total):
        done, epoch, seen = 0, 0, 0
        while done < total:
            aug = Augmenter(recipe.augment, len(bundle.train), spec.seed, epoch, device)
            for x, y in loader:
                if done == total:
                    break
                if len(y) < 2:  # BatchNorm cannot train on one image
                    continue
                x, y = x.to(device), torch.as_tensor(y).to(device)
                x = (aug(x, (0, len(y))) - mean) / std
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                loss = F.cross_entropy(model(x.contiguous()), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                _ = loss.item()
                done, seen = done + 1, seen + len(y)
            epoch += 1
        return seen

    plain(warmup)
    sync()
    t0 = time.perf_counter()
    seen_plain = plain(steps)
    sync()
    plain_s = time.perf_counter() - t0
    fast_ips, plain_ips = seen_fast / fast_s, seen_plain / plain_s
    return {"model": spec.model, "label": spec.label, "task": spec.task, "source": bundle.source,
            "image_size": bundle.image_size, "batch_size": bs, "steps": steps, "device": str(device),
            "loop_images_per_s": fast_ips, "plain_images_per_s": plain_ips, "speedup": fast_ips / plain_ips,
            "loop": {**settings, "in_memory": split.in_memory},
            "plain": {"amp": None, "channels_last": False, "dataloader_workers": workers}}
