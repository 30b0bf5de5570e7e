"""Real colour-image data in torchvision's layouts: CIFAR-10/100, Food-101, and an ImageNet folder.

URLs and MD5s of the archives are torchvision's own (the pinned torchvision carries them), so a
download is checked against the same hash torchvision would use. The archives are fetched with
pooch; the CIFAR pickles are read directly because torchvision's CIFAR class insists on the
original files' MD5s (which would refuse any re-encoded or test copy), while Food-101 and ImageNet
are read with torchvision's own dataset classes.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..runtime import setting
from .bundle import LabeledSubset, Source, in_memory
from .download import DatasetUnavailable, Remote, ensure_extracted
from .files import photo_transform

IMAGENET_ENV = "GCONV_IMAGENET"     # default ImageNet root, so profiles need not spell out a path
IMAGENET_LAYOUT = ("<root>/train/<class>/*.JPEG and <root>/val/<class>/*.JPEG (val is reported as the "
                   "test split; val is then held out of train), optionally <root>/test/<class>/; or a "
                   "single <root>/<class>/* folder, split 16:4:5")


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")   # the CIFAR pickles were written by Python 2


def load_cifar(task: str, folder: Path, *, image_size: int, channels: int, download: bool, **_) -> Source:
    """CIFAR-10/100 python pickles: ``cifar-10-batches-py/data_batch_1..5, test_batch`` or
    ``cifar-100-python/train, test`` (fine labels)."""
    from torchvision import datasets as tvd  # imported where real data is read

    tv = tvd.CIFAR10 if task == "cifar10" else tvd.CIFAR100
    base = Path(folder) / tv.base_folder
    names = [n for n, _ in tv.train_list + tv.test_list]
    ensure_extracted(task, Remote(tv.filename, tv.url, f"md5:{tv.tgz_md5}"), folder,
                     lambda: all((base / n).is_file() for n in names), download)

    def read(files: list) -> tuple[np.ndarray, np.ndarray]:
        batches = [_unpickle(base / n) for n, _ in files]
        x = np.concatenate([np.asarray(b["data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for b in batches])
        y = np.concatenate([np.asarray(b.get("labels", b.get("fine_labels")), dtype=np.int64) for b in batches])
        return x, y

    parts = {"train": read(tv.train_list), "test": read(tv.test_list)}
    meta = base / tv.meta["filename"]
    k = int(max(parts["train"][1].max(), parts["test"][1].max())) + 1
    classes = list(_unpickle(meta)[tv.meta["key"]]) if meta.is_file() else [str(i) for i in range(k)]
    return in_memory(parts, classes, base, image_size, channels)


def _by_split(views: dict[str, Dataset], train_views: dict[str, Dataset] | None):
    """make() for torchvision datasets: the training split may use its own (augmenting) transform."""
    def make(part: str, idx: np.ndarray, labels: np.ndarray, split: str) -> Dataset:
        base = train_views[part] if split == "train" and train_views else views[part]
        return LabeledSubset(base, idx, labels)
    return make


def load_food101(task: str, folder: Path, *, image_size: int, channels: int, download: bool,
                 train_transform=None, **_) -> Source:
    """Food-101 as torchvision lays it out: ``food-101/images/<class>/*.jpg``, ``meta/{train,test}.json``."""
    from torchvision import datasets as tvd  # imported where real data is read

    base = Path(folder) / "food-101"
    ensure_extracted(task, Remote("food-101.tar.gz", tvd.Food101._URL, f"md5:{tvd.Food101._MD5}"), folder,
                     lambda: (base / "images").is_dir() and all((base / "meta" / f"{s}.json").is_file()
                                                                 for s in ("train", "test")), download)
    ev = photo_transform(image_size, channels)
    views = {s: tvd.Food101(str(folder), split=s, transform=ev, download=False) for s in ("train", "test")}
    train_views = ({"train": tvd.Food101(str(folder), split="train", transform=train_transform)}
                   if train_transform else None)
    parts = {s: np.asarray(v._labels, dtype=np.int64) for s, v in views.items()}   # no public accessor
    return Source(parts, _by_split(views, train_views), list(views["train"].classes), base)


def imagenet_root(root: str | os.PathLike | None) -> Path | None:
    if root is not None:
        return Path(root)
    env = setting(IMAGENET_ENV)
    return Path(env) if env else None


def load_imagenet(task: str, folder: Path, *, image_size: int, channels: int, train_transform=None, **_) -> Source:
    """An ImageFolder tree the user provides (never downloaded): see ``IMAGENET_LAYOUT``."""
    from torchvision import datasets as tvd  # imported where real data is read

    root = Path(folder)
    if not root.is_dir():
        raise DatasetUnavailable(f"{task}: {root} is not a folder. ImageNet is never downloaded; "
                                 f"expected layout: {IMAGENET_LAYOUT}")
    have = {s for s in ("train", "val", "test") if (root / s).is_dir()}
    if "train" in have:
        dirs = {"train": root / "train"}
        if "test" in have:
            dirs["test"] = root / "test"
            if "val" in have:
                dirs["val"] = root / "val"
        elif "val" in have:
            dirs["test"] = root / "val"     # the usual ImageNet protocol reports on the val set
        else:
            raise DatasetUnavailable(f"{task}: {root}/train exists but neither val/ nor test/; "
                                     f"expected layout: {IMAGENET_LAYOUT}")
    else:
        dirs = {"all": root}
    ev = photo_transform(image_size, channels)
    try:
        views = {p: tvd.ImageFolder(str(d), transform=ev) for p, d in dirs.items()}
        train_views = ({p: tvd.ImageFolder(str(d), transform=train_transform) for p, d in dirs.items()}
                       if train_transform else None)
    except (FileNotFoundError, OSError) as err:   # no class folders or no images in them
        raise DatasetUnavailable(f"{task}: no images found under {root} ({err}); "
                                 f"expected layout: {IMAGENET_LAYOUT}") from err
    classes = next(iter(views.values())).classes
    for p, v in views.items():
        if v.classes != classes:
            raise ValueError(f"{task}: the class folders of {dirs[p]} differ from those of "
                             f"{next(iter(dirs.values()))}; every split needs the same classes")
    parts = {p: np.asarray(v.targets, dtype=np.int64) for p, v in views.items()}
    return Source(parts, _by_split(views, train_views), list(classes), root)
