"""The tasks as data, and ``get_data``: real data when it is there, an offline stand-in otherwise."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import store
from . import kuzushiji, standin, vision
from .bundle import SPLITS, DataBundle, TensorImages, plan_splits
from .download import DatasetUnavailable

MODES = ("auto", "real", "standin")


class StandInWarning(UserWarning):
    """``mode="auto"`` fell back to the stand-in because the real data was not available."""


@dataclass(frozen=True)
class Task:
    title: str                       # what the real data is called
    loader: Callable                 # real loader (see kuzushiji.py, vision.py)
    classes: int | None              # real classes (default K); None: whatever the folder holds
    image_size: int                  # default size of the real images
    channels: int
    split: str                       # how train/val/test are formed, for the description
    standin: str                     # stand-in generator: "glyphs" or "scenes"
    standin_classes: int
    standin_size: int                # stand-ins default to small images: CPU-friendly
    standin_per_class: tuple[int, int, int]   # train/val/test images per class (16:4:5)
    max_classes: int | None = None   # upper bound on num_classes known before reading the data
    metric: str = "accuracy"


OFFICIAL = "official train/test, val held out of train"
# Each entry: real data (title, loader, default K, image size, channels, split) on the first line,
# the stand-in (generator, classes, image size, train/val/test images per class) on the second.
TASKS: dict[str, Task] = {
    "kmnist":    Task("Kuzushiji-MNIST", kuzushiji.load_npz, 10, 28, 1, OFFICIAL,
                      "glyphs", 10, 28, (240, 60, 75), max_classes=10),
    "k49":       Task("Kuzushiji-49", kuzushiji.load_npz, 49, 28, 1, OFFICIAL,
                      "glyphs", 49, 28, (80, 20, 25), max_classes=49, metric="balanced_accuracy"),
    "kkanji":    Task("Kuzushiji-Kanji", kuzushiji.load_kkanji, None, 64, 1, "16:4:5 stratified",
                      "glyphs", 100, 64, (48, 12, 15), max_classes=3832),
    "kuzushiji": Task("Kuzushiji character dataset", kuzushiji.load_books, 1120, 224, 3, "16:4:5 stratified",
                      "glyphs", 100, 32, (48, 12, 15)),
    "cifar10":   Task("CIFAR-10", vision.load_cifar, 10, 32, 3, OFFICIAL,
                      "scenes", 10, 32, (400, 100, 125), max_classes=10),
    "cifar100":  Task("CIFAR-100", vision.load_cifar, 100, 32, 3, OFFICIAL,
                      "scenes", 100, 32, (80, 20, 25), max_classes=100),
    "food101":   Task("Food-101", vision.load_food101, 101, 224, 3, OFFICIAL,
                      "scenes", 101, 32, (80, 20, 25), max_classes=101),
    "imagenet":  Task("ImageNet", vision.load_imagenet, None, 224, 3, "train + val (as test), val held out of train",
                      "scenes", 100, 32, (80, 20, 25)),
}


def list_tasks() -> list[str]:
    return list(TASKS)


def _positive_int(name: str, value, minimum: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def get_data(task: str, mode: str = "auto", root: str | os.PathLike | None = None, image_size: int | None = None,
             limit: int | None = None, seed: int = 0, num_classes: int | None = None, *,
             val_fraction: float = 0.1, books: list[str] | None = None, download: bool = True,
             channels: int | None = None, standin_sizes: tuple[int, int, int] | None = None,
             train_transform=None) -> DataBundle:
    """Train/val/test data for ``task`` (see ``TASKS``), real or stand-in.

    mode: "real" (raise :class:`DatasetUnavailable` if the data is neither on disk nor downloadable),
        "standin" (never touches disk or network), "auto" (real when possible, else the stand-in;
        the choice is in ``bundle.source``, ``description`` and ``fallback_reason``).
    root: folder holding the real files (default ``<cache>/<task>``; ImageNet: required, or
        ``$GCONV_IMAGENET``). image_size: square size images are resized to (task default if None).
    limit: at most this many images per split (class-balanced subset). seed: fixes the splits, the
        subsets and the stand-in. num_classes: keep the K most frequent classes (kuzushiji: 1120).
    val_fraction: share of each training class held out as val where the data has no val split.
    books: Kuzushiji character-dataset book ids to use (downloaded if missing); default: every zip
        in the folder. download: allow downloads. channels: 1 or 3 (default: the task's).
    standin_sizes: stand-in (train, val, test) sizes instead of the per-class defaults.
    train_transform: a PIL -> tensor transform for the train split of file-backed data (augmentation).

    Raises ValueError for bad arguments (also when real data is present but has fewer classes than
    asked for: "auto" does not hide that), DatasetUnavailable in "real" mode, and DatasetCorrupted
    (in every mode) when a file fails its hash check.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    _positive_int("limit", limit)
    _positive_int("image_size", image_size, 4)
    _positive_int("num_classes", num_classes, 2)
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if standin_sizes is not None:
        if len(standin_sizes) != 3:
            raise ValueError(f"standin_sizes must be (train, val, test), got {standin_sizes!r}")
        for name, n in zip(SPLITS, standin_sizes):
            _positive_int(f"standin_sizes[{name}]", n, 0)
    spec = TASKS[task]
    if num_classes is not None and spec.max_classes is not None and num_classes > spec.max_classes:
        raise ValueError(f"num_classes={num_classes} is more than the {spec.max_classes} classes "
                         f"{spec.title} has")
    channels = channels or spec.channels

    if mode != "standin":
        if task == "imagenet":
            folder = vision.imagenet_root(root)
            if folder is None and mode == "real":
                raise ValueError(f"imagenet needs root=<folder> (or ${vision.IMAGENET_ENV}); it is never "
                                 f"downloaded. Layout: {vision.IMAGENET_LAYOUT}")
        else:
            folder = Path(root) if root is not None else store.cache_dir() / task
        try:
            if folder is None:
                raise DatasetUnavailable(f"imagenet: real data not available (no root given and "
                                         f"${vision.IMAGENET_ENV} is not set)")
            return _real(task, spec, folder, image_size or spec.image_size, channels, limit, seed,
                         num_classes if num_classes is not None else spec.classes, val_fraction,
                         books=books, download=download, train_transform=train_transform)
        except DatasetUnavailable as err:
            if mode == "real":
                raise
            reason = str(err)
            warnings.warn(f"{reason.splitlines()[0]} -> using the stand-in", StandInWarning, stacklevel=2)
            return _standin(task, spec, image_size, channels, limit, seed, num_classes, standin_sizes, reason)
    return _standin(task, spec, image_size, channels, limit, seed, num_classes, standin_sizes, None)


def _sizes_text(sizes: dict[str, int]) -> str:
    return "/".join(f"{sizes[s]:,}" for s in SPLITS)


def _real(task, spec, folder, image_size, channels, limit, seed, num_classes, val_fraction, **kw) -> DataBundle:
    src = spec.loader(task, Path(folder), image_size=image_size, channels=channels, **kw)
    total = len(np.unique(np.concatenate(list(src.parts.values()))))
    if num_classes is not None and num_classes > total:
        raise ValueError(f"{task}: num_classes={num_classes} is more than the {total} classes in "
                         f"{src.location}; pass num_classes<={total} or add data")
    plan, kept = plan_splits(src.parts, num_classes, val_fraction, seed, limit)
    data = {s: src.make(part, idx, labels, s) for s, (part, idx, labels) in plan.items()}
    sizes = {s: len(data[s]) for s in SPLITS}
    k = len(kept)
    which = f"{k:,} classes" if k == total else f"the {k:,} most frequent of {total:,} classes"
    mode = "grey" if channels == 1 else "RGB"
    capped = f", at most {limit:,} per split" if limit is not None else ""
    desc = (f"{spec.title}: {which}{src.detail}, {_sizes_text(sizes)} train/val/test images "
            f"({spec.split}, seed {seed}{capped}), {mode} {image_size}x{image_size}.")
    return DataBundle(data["train"], data["val"], data["test"], k, channels, image_size, "real", task, desc,
                      sizes, spec.metric, [src.class_names[int(c)] for c in kept], src.location)


def _standin(task, spec, image_size, channels, limit, seed, num_classes, sizes, reason) -> DataBundle:
    k = num_classes if num_classes is not None else spec.standin_classes
    size = image_size or spec.standin_size
    wanted = sizes if sizes is not None else tuple(k * n for n in spec.standin_per_class)
    counts = {s: min(n, limit) if limit is not None else n for s, n in zip(SPLITS, wanted)}
    data = standin.generate(spec.standin, k, counts, size, channels, seed)
    what = "synthetic glyphs" if spec.standin == "glyphs" else "synthetic textured-object scenes"
    mode = "grey" if channels == 1 else "RGB"
    desc = (f"stand-in: {k}-class {what}, {_sizes_text(counts)} train/val/test images, {mode} "
            f"{size}x{size} (seed {seed}) — NOT the real {spec.title}; its accuracies say nothing "
            f"about the papers.")
    ds = {s: TensorImages(*data[s]) for s in SPLITS}
    return DataBundle(ds["train"], ds["val"], ds["test"], k, channels, size, "standin", task, desc, counts,
                      spec.metric, [f"synthetic-{i}" for i in range(k)], None, reason)

