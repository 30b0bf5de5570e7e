"""Images read on demand from files or zip members, and the PIL transforms that size them."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


class ImageFiles(Dataset):
    """Items are (archive index or -1, path): a zip member or a plain file. Zips stay closed until
    first use and are reopened in each worker process (zip handles cannot cross a fork safely)."""

    def __init__(self, archives: list[Path], items: list[tuple[int, str]], labels: np.ndarray, transform):
        self.archives, self.items, self.transform = [Path(a) for a in archives], items, transform
        self.labels = np.asarray(labels, dtype=np.int64)
        self._handles: dict[int, zipfile.ZipFile] = {}
        self._pid = os.getpid()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def __len__(self) -> int:
        return len(self.items)

    def _zip(self, a: int) -> zipfile.ZipFile:
        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if a not in self._handles:
            self._handles[a] = zipfile.ZipFile(self.archives[a])
        return self._handles[a]

    def image(self, i: int) -> Image.Image:
        from PIL import Image  # Pillow and torchvision are imported where real files are read

        a, path = self.items[i]
        if a < 0:
            with Image.open(path) as im:
                im.load()
                return im
        return Image.open(io.BytesIO(self._zip(a).read(path)))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.image(i)), int(self.labels[i])


class PadToSquare:
    """Centre a crop on a square canvas of its own border colour, then resize: character crops
    have every aspect ratio, and stretching them would change the glyph's shape."""

    def __init__(self, size: int, mode: str):
        self.size, self.mode = size, mode

    def __call__(self, img: Image.Image) -> Image.Image:
        from PIL import Image, ImageOps

        img = img.convert(self.mode)
        a = np.asarray(img)
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).reshape(-1, 1 if a.ndim == 2 else a.shape[2])
        colour = tuple(int(v) for v in np.median(border, axis=0))
        return ImageOps.pad(img, (self.size, self.size), method=Image.Resampling.BILINEAR,
                            color=colour[0] if self.mode == "L" else colour)


def glyph_transform(size: int, channels: int):
    from torchvision import transforms

    return transforms.Compose([PadToSquare(size, "L" if channels == 1 else "RGB"), transforms.ToTensor()])


def photo_transform(size: int, channels: int):
    from torchvision import transforms

    """The usual evaluation preprocessing: shorter side to size/0.875, centre crop (224 <- 256)."""
    steps = [transforms.Resize(round(size / 0.875)), transforms.CenterCrop(size)]
    if channels == 1:                       # torchvision's loaders already give RGB
        steps.append(transforms.Grayscale(1))
    return transforms.Compose(steps + [transforms.ToTensor()])
