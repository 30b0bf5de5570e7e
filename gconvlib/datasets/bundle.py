"""The result type every loader returns, the two dataset shapes behind it, and split helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")


class TensorImages(Dataset):
    """In-memory images kept as uint8 (N, C, H, W): a quarter of float32's memory, and a training
    loop can move the whole split to the device at once and convert it there."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"want uint8 (N, C, H, W) images and N labels, got {tuple(images.shape)} "
                             f"{images.dtype} and {len(labels)} labels")
        self.images, self.labels = images, labels.to(torch.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i].float().div_(255), int(self.labels[i])


class LabeledSubset(Dataset):
    """Some items of a file-backed dataset, with their labels remapped (class selection)."""

    def __init__(self, base: Dataset, indices: np.ndarray, labels: np.ndarray):
        self.base, self.indices, self.labels = base, np.asarray(indices), np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.base[int(self.indices[i])][0], int(self.labels[i])


@dataclass
class DataBundle:
    """Three splits of one image-classification task, and what they are.

    Images are float tensors (C, H, W) in [0, 1], not normalised (normalisation belongs to the
    model or the training recipe). ``source`` is "real" or "standin"; a stand-in's ``description``
    starts with "stand-in" and says it is not the real data, and ``fallback_reason`` says why
    "auto" mode did not use the real data.
    """
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: int
    source: str
    name: str
    description: str
    sizes: dict[str, int] = field(default_factory=dict)
    metric: str = "accuracy"                 # what the data's authors report ("balanced_accuracy" for K49)
    class_names: list[str] | None = None
    location: Path | None = None             # folder the real data was read from
    fallback_reason: str | None = None

    def split(self, name: str) -> Dataset:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return getattr(self, name)

    def tensors(self, split: str, dtype: torch.dtype = torch.float32,
                materialize: bool = False) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The whole split as (images (N, C, H, W), labels (N,)), or None if it is read from files.

        ``dtype=torch.uint8`` gives the stored bytes (move those to the device, convert there);
        a float dtype gives values in [0, 1]. ``materialize=True`` decodes a file-backed split
        into memory (meant for small ``limit``-ed splits).
        """
        ds = self.split(split)
        if isinstance(ds, TensorImages):
            x, y = ds.images, ds.labels
            return (x if dtype == torch.uint8 else x.to(dtype).div_(255)), y
        if not materialize:
            return None
        from tqdm.auto import tqdm

        items = [ds[i] for i in tqdm(range(len(ds)), desc=f"{self.name} {split}", disable=len(ds) < 2000)]
        if not items:
            return (torch.zeros(0, self.in_channels, self.image_size, self.image_size, dtype=dtype),
                    torch.zeros(0, dtype=torch.int64))
        x = torch.stack([im for im, _ in items])
        x = (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)
        return x, torch.tensor([lab for _, lab in items], dtype=torch.int64)


# -- split helpers (all deterministic from a seed) ---------------------------------------

def select_classes(labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most frequent classes (ties: smaller label first).

    Returns (kept, remap): kept old labels in ascending order, and ``remap`` with remap[old] = new
    label in 0..k-1, or -1 for a dropped class.
    """
    counts = np.bincount(labels)
    present = np.flatnonzero(counts)
    if k > len(present):
        raise ValueError(f"num_classes={k} is more than the {len(present)} classes available")
    order = present[np.lexsort((present, -counts[present]))]    # by count desc, then label asc
    kept = np.sort(order[:k])
    remap = np.full(len(counts), -1, dtype=np.int64)
    remap[kept] = np.arange(k)
    return kept, remap


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices class by class in the given proportions (e.g. (16, 4, 5)).

    Every part but the first gets round(n * fraction) of each class; the first gets the rest, so a
    class with a single sample goes to the first part (training) rather than vanishing.
    """
    frac = np.asarray(fractions, dtype=float) / float(sum(fractions))
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in frac]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_rest = np.floor(len(idx) * frac[1:] + 0.5).astype(int)
        n_first = len(idx) - n_rest.sum()
        if n_first < 1 and len(idx):                    # tiny class: keep at least one for training
            n_rest[np.argmax(n_rest)] -= 1 - n_first
            n_first = 1
        bounds = np.cumsum([0, n_first, *n_rest])
        for p in range(len(frac)):
            parts[p].append(idx[bounds[p]:bounds[p + 1]])
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for p in parts]


def cap(indices: np.ndarray, labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, taken class by class in turn so small caps stay balanced."""
    indices = np.asarray(indices)
    if limit is None or len(indices) <= limit:
        return indices
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(indices)
    lab = labels[shuffled]
    # rank of each sample within its class (0 for the first of each class, ...), then a random
    # class order breaks ties: taking the lowest ranks takes one of each class per round
    order = np.argsort(lab, kind="stable")
    starts = np.searchsorted(lab[order], lab[order])
    rank = np.empty(len(lab), dtype=np.int64)
    rank[order] = np.arange(len(lab)) - starts
    class_order = rng.permutation(int(labels.max()) + 1)
    pick = np.lexsort((class_order[lab], rank))[:limit]
    return np.sort(shuffled[pick])


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) images to (size, size) in chunks (antialiased when shrinking)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.uint8)
    for i in range(0, len(images), chunk):
        x = images[i:i + chunk].float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < images.shape[-1])
        out[i:i + chunk] = x.clamp(0, 255).round().to(torch.uint8)
    return out


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) to 1 (luma) or 3 (replicated grey) channels."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round().to(torch.uint8)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def plan_splits(parts: dict[str, np.ndarray], num_classes: int | None, val_fraction: float, seed: int,
                limit: int | None) -> tuple[dict[str, tuple[str, np.ndarray, np.ndarray]], np.ndarray]:
    """Decide which items of which source part make up train/val/test, and their new labels.

    ``parts`` maps a source part to its labels (one label space): "all" (no official split: split
    16:4:5 per class), or "train" + "test" (+ "val" if official; otherwise ``val_fraction`` of each
    train class is held out). ``num_classes`` keeps the most frequent classes over all parts.
    Returns ({split: (part, indices into the part, new labels)}, kept old class ids).
    """
    every = np.concatenate(list(parts.values()))
    k = num_classes if num_classes is not None else len(np.unique(every))
    kept, remap = select_classes(every, k)
    keep = {p: np.flatnonzero(remap[lab] >= 0) for p, lab in parts.items()}
    if "all" in parts:
        lab = parts["all"][keep["all"]]
        chosen = {s: ("all", keep["all"][i]) for s, i in zip(SPLITS, stratified_split(lab, (16, 4, 5), seed))}
    else:
        chosen = {"test": ("test", keep["test"])}
        if "val" in parts:
            chosen["train"], chosen["val"] = ("train", keep["train"]), ("val", keep["val"])
        else:
            lab = parts["train"][keep["train"]]
            tr, va = stratified_split(lab, (1 - val_fraction, val_fraction), seed)
            chosen["train"], chosen["val"] = ("train", keep["train"][tr]), ("train", keep["train"][va])
    plan = {}
    for j, split in enumerate(SPLITS):
        part, idx = chosen[split]
        idx = cap(idx, parts[part], limit, seed + 1 + j)
        plan[split] = (part, idx, remap[parts[part][idx]])
    return plan, kept


@dataclass
class Source:
    """What a real loader found: labels per source part ("train"/"val"/"test", or "all" when the
    data has no official split) and how to build a dataset from some of a part's items."""
    parts: dict[str, np.ndarray]
    make: Callable[[str, np.ndarray, np.ndarray, str], Dataset]   # (part, indices, new labels, split)
    class_names: list[str]
    location: Path
    detail: str = ""


def in_memory(parts: dict[str, tuple[np.ndarray, np.ndarray]], class_names: list[str], location: Path,
              image_size: int, channels: int, detail: str = "") -> Source:
    """A Source over uint8 arrays (N, C, H, W) held in memory; resizing happens per chosen split."""
    def make(part: str, idx: np.ndarray, labels: np.ndarray, split: str) -> Dataset:
        x = torch.from_numpy(np.ascontiguousarray(parts[part][0][idx]))
        x = convert_channels(resize_uint8(x, image_size), channels)
        return TensorImages(x, torch.from_numpy(labels))
    return Source({p: y for p, (_, y) in parts.items()}, make, class_names, location, detail)
