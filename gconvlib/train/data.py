"""The data of a run: loading (with an explicit cache), splits as device batches, augmentation.

In-memory data sets stay on the device as uint8 and are indexed batch by batch (no DataLoader);
file-backed ones go through a DataLoader that yields the very same batches. Crop/flip
augmentation is done on the device for a whole batch, with parameters drawn per epoch from a
(seed, epoch) generator, so the path the data takes never changes the result.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F

from .device import available_cpus
from .rng import generator
from .spec import TrainSpec

MATERIALIZE_BYTES = 1 << 30          # decode a file-backed split into memory when it is at most this big
MATERIALIZE_IMAGES = 20_000          # ... and this short (decoding is single-threaded)


# -- loading ------------------------------------------------------------------------------

def data_key(spec: TrainSpec, root=None) -> tuple:
    """What the data of ``spec`` depends on (runs that differ only in model or seed share it)."""
    return (spec.task, spec.data_mode, str(root), spec.image_size, spec.limit, spec.data_seed, spec.num_classes)


def load_data(spec: TrainSpec, root=None):
    """The spec's :class:`~gconvlib.datasets.DataBundle` (unknown task, K too large ... raise
    ValueError there)."""
    from ..datasets import get_data

    return get_data(spec.task, mode=spec.data_mode, root=root, image_size=spec.image_size,
                    limit=spec.limit, seed=spec.data_seed, num_classes=spec.num_classes)


class DataCache:
    """The last few data bundles, for runs in one process that share their data (generating a
    stand-in takes seconds). Owned by whoever runs several specs (:func:`~gconvlib.train.run_many`);
    nothing is cached between calls that do not share one."""

    def __init__(self, size: int = 2):
        self.size = size
        self._bundles: OrderedDict[tuple, object] = OrderedDict()

    def get(self, spec: TrainSpec, root=None):
        key = data_key(spec, root)
        if key in self._bundles:
            self._bundles.move_to_end(key)
            return self._bundles[key]
        bundle = load_data(spec, root)
        self._bundles[key] = bundle
        while len(self._bundles) > self.size:
            self._bundles.popitem(last=False)
        return bundle

    def __len__(self) -> int:
        return len(self._bundles)


def real_data_present(spec: TrainSpec, root=None) -> bool:
    """Whether real files for the task may be on disk (cheap; no reading, no download)."""
    from ..datasets import vision
    from ..store import cache_dir

    if spec.task == "imagenet":
        folder = vision.imagenet_root(root)
        return folder is not None and folder.is_dir()
    folder = Path(root) if root is not None else cache_dir() / spec.task
    return folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*"))


# -- splits as batches ---------------------------------------------------------------------------

def loader_workers(device: torch.device) -> int:
    # On a GPU machine, decode on spare cores; on a CPU-only machine every core computes.
    return min(8, available_cpus() // 2) if device.type == "cuda" else 0


def _fits(tensors, device: torch.device) -> bool:
    if device.type != "cuda":
        return True  # already in host memory
    size = sum(t.numel() * t.element_size() for t in tensors)
    free, _ = torch.cuda.mem_get_info(device)
    return size < 0.4 * free


def batch_stops(n: int, batch_size: int, drop_singleton: bool = False) -> list[int]:
    """End index of each batch of ``n`` items. A last batch of one image is dropped in training
    (``drop_singleton``): BatchNorm cannot normalise a single 1x1 feature map."""
    stops = list(range(batch_size, n, batch_size)) + [n]
    if drop_singleton and n > 1 and n - (stops[-2] if len(stops) > 1 else 0) == 1:
        stops.pop()
    return stops


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous piece [lo, hi) of n items that rank ``rank`` of ``world`` takes (sizes differ
    by at most one, the first ranks taking the larger pieces)."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class _Batches(torch.utils.data.Sampler):
    def __init__(self, order: list[int], stops: list[int], starts: list[int] | None = None):
        self.order, self.stops = order, stops
        self.starts = starts if starts is not None else [0] + stops[:-1]

    def __iter__(self):
        for start, stop in zip(self.starts, self.stops):
            yield self.order[start:stop]

    def __len__(self):
        return len(self.stops)


class Split:
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

    def batches(self, order: torch.Tensor, batch_size: int, drop_singleton: bool = False,
                shard: tuple[int, int] | None = None):
        """(x, y, (start, stop)) per batch, in ``order``; x is uint8 (in memory) or float.

        ``shard=(rank, world)`` (data-parallel training): each batch of the single-process epoch
        is cut into ``world`` contiguous pieces and this rank gets piece ``rank``, as
        (x, y, (start, stop), images in the whole batch); the pieces of all ranks together are
        the single-process batch, so the union over ranks is the single-process epoch."""
        stops = batch_stops(len(order), batch_size, drop_singleton)
        if shard is not None:
            yield from self._shard_batches(order, stops, *shard)
            return
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
            num_workers=loader_workers(self.device), pin_memory=self.device.type == "cuda")
        start = 0
        for (x, y), stop in zip(loader, stops):
            yield (x.to(self.device, non_blocking=True),
                   torch.as_tensor(y).to(self.device, dtype=torch.long, non_blocking=True), (start, stop))
            start = stop

    def _shard_batches(self, order: torch.Tensor, stops: list[int], rank: int, world: int):
        spans, start = [], 0
        for stop in stops:
            n = stop - start
            lo, hi = shard_bounds(n, rank, world)
            spans.append((start + lo, start + hi, n))
            start = stop
        if self.in_memory:
            order_d = order.to(self.device)
            for a, b, n in spans:
                idx = order_d[a:b]
                yield self.x[idx], self.y[idx], (a, b), n
            return
        if any(a == b for a, b, _ in spans):
            raise ValueError(f"{self.name}: a batch has fewer images than the {world} processes; "
                             f"use a larger batch size or fewer processes")
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=_Batches(order.tolist(), [b for _, b, _ in spans], [a for a, _, _ in spans]),
            num_workers=loader_workers(self.device), pin_memory=self.device.type == "cuda")
        for (x, y), (a, b, n) in zip(loader, spans):
            yield (x.to(self.device, non_blocking=True),
                   torch.as_tensor(y).to(self.device, dtype=torch.long, non_blocking=True), (a, b), n)

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


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as float32 (uint8 batches are converted on the device)."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


# -- augmentation (whole batch, on the device) ---------------------------------------------

class Augmenter:
    """Crop + flip of a batch, with parameters drawn per epoch from a (seed, epoch) generator.

    ``pad_crop_flip``: zero-pad 4 px, take a random crop of the original size, flip half (CIFAR,
    GC-2L Sec. 4). ``resized_crop_flip``: random area 8-100 % and aspect 3/4-4/3 resized back to
    the input size (bilinear), flip half (ImageNet); a crop larger than the image is clamped
    to it instead of torchvision's retry loop. ``none``: the batch as it is.
    """

    def __init__(self, kind: str, n: int, seed: int, epoch: int, device: torch.device, pad: int = 4):
        self.kind, self.pad, self.device = kind, pad, device
        if kind == "none":
            return
        g = generator(seed, epoch, "augment")
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


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the training images in ``epoch``: a function of (seed, epoch) alone."""
    return torch.randperm(n, generator=generator(seed, epoch, "order"))
