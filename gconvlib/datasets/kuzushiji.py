"""Real Kuzushiji data from CODH (CC BY-SA 4.0): KMNIST, Kuzushiji-49, Kuzushiji-Kanji, and the
Kuzushiji character dataset (per-book zips) from which the VGG13BN paper's 1,120-class set is most
likely drawn (the paper, Sec. 3.2, does not say how).

Hashes: CODH publishes none for these files, so every ``Remote`` here has ``known_hash=None``;
pooch logs the SHA256 of the first download and a hash is pinned here once that download has been
verified against the upstream source.
"""
from __future__ import annotations

import re
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from .bundle import Source, in_memory
from .download import Remote, ensure, ensure_extracted, unavailable
from .files import ImageFiles, glyph_transform

KMNIST_BASE = "http://codh.rois.ac.jp/kmnist/dataset"
BOOK_URL = "http://codh.rois.ac.jp/char-shape/book/{id}/{id}.zip"
BOOK_INDEX = "http://codh.rois.ac.jp/char-shape/"
KKANJI = Remote("kkanji.tar", f"{KMNIST_BASE}/kkanji/kkanji.tar")
CODE_DIR = re.compile(r"^U\+[0-9A-Fa-f]{4,6}$")
CROP = re.compile(r"(?:^|/)characters/(U\+[0-9A-Fa-f]{4,6})/[^/]+\.(?:jpe?g|png)$", re.IGNORECASE)


def npz_remotes(task: str) -> list[Remote]:
    return [Remote(f"{task}-{s}-{k}.npz", f"{KMNIST_BASE}/{task}/{task}-{s}-{k}.npz")
            for s in ("train", "test") for k in ("imgs", "labels")]


def load_npz(task: str, folder: Path, *, image_size: int, channels: int, download: bool, **_) -> Source:
    """KMNIST / Kuzushiji-49: official train/test npz pairs (``arr_0`` in each file)."""
    paths = ensure(task, npz_remotes(task), folder, download)
    arr = [np.load(p)["arr_0"] for p in paths]
    parts = {"train": (arr[0][:, None], arr[1].astype(np.int64)), "test": (arr[2][:, None], arr[3].astype(np.int64))}
    k = int(max(arr[1].max(), arr[3].max())) + 1
    return in_memory(parts, [str(i) for i in range(k)], folder, image_size, channels)


def _code_root(folder: Path) -> Path | None:
    """The folder whose subfolders are code points (``U+4E00/``...): the folder itself or one below."""
    if not folder.is_dir():
        return None
    for cand in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        subs = [p for p in cand.iterdir() if p.is_dir()]
        if subs and all(CODE_DIR.match(p.name) for p in subs[:50]):
            return cand
    return None


def _label(codes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Code-point strings -> labels ordered by code point."""
    names = sorted(set(codes), key=lambda c: int(c[2:], 16))
    index = {c: i for i, c in enumerate(names)}
    return np.array([index[c] for c in codes], dtype=np.int64), names


def file_source(archives: list[Path], items: list[tuple[int, str]], codes: list[str], location: Path,
                image_size: int, channels: int, detail: str = "", train_transform=None) -> Source:
    labels, names = _label(codes)
    transform = glyph_transform(image_size, channels)

    def make(part: str, idx: np.ndarray, new: np.ndarray, split: str) -> Dataset:
        tf = train_transform if split == "train" and train_transform is not None else transform
        return ImageFiles(archives, [items[i] for i in idx], new, tf)
    return Source({"all": labels}, make, names, location, detail)


def load_kkanji(task: str, folder: Path, *, image_size: int, channels: int, download: bool,
                train_transform=None, **_) -> Source:
    """Kuzushiji-Kanji: ``kkanji.tar`` unpacks to ``kkanji2/U+XXXX/*.png`` (64x64 grey); no
    official split."""
    ensure_extracted(task, KKANJI, folder, lambda: _code_root(folder) is not None, download)
    root = _code_root(folder)
    files = sorted(p for d in root.iterdir() if CODE_DIR.match(d.name) for p in d.glob("*.png"))
    items = [(-1, str(p)) for p in files]
    return file_source([], items, [p.parent.name for p in files], root, image_size, channels,
                       train_transform=train_transform)


def _book_listing(archives: list[Path], dirs: list[Path]) -> tuple[list[tuple[int, str]], list[str]]:
    """Every character crop of every book, checked against the book's coordinate CSV."""
    items, codes = [], []
    for a, zpath in enumerate(archives):
        with zipfile.ZipFile(zpath) as z:
            names = z.namelist()
            found = [(n, m.group(1).upper()) for n in names if (m := CROP.search(n))]
            csvs = [n for n in names if n.endswith("_coordinate.csv")]
            listed = pd.read_csv(z.open(csvs[0]), usecols=["Unicode"])["Unicode"] if csvs else None
        _check_book(zpath.name, [c for _, c in found], listed)
        items += [(a, n) for n, _ in found]
        codes += [c for _, c in found]
    for d in dirs:
        found = sorted(p for p in (d / "characters").glob("U+*/*") if CROP.search(p.as_posix()))
        csvs = sorted(d.glob("*_coordinate.csv"))
        listed = pd.read_csv(csvs[0], usecols=["Unicode"])["Unicode"] if csvs else None
        _check_book(d.name, [p.parent.name.upper() for p in found], listed)
        items += [(-1, str(p)) for p in found]
        codes += [p.parent.name.upper() for p in found]
    return items, codes


def _check_book(name: str, codes: list[str], listed: pd.Series | None) -> None:
    """The crops are the samples; the coordinate CSV (one row per annotated character) is the
    book's own inventory, so a disagreement means a truncated or altered download."""
    if listed is None:
        warnings.warn(f"{name}: no *_coordinate.csv found; using the {len(codes)} character crops as they are")
    elif Counter(listed.astype(str).str.upper()) != Counter(codes):
        warnings.warn(f"{name}: its coordinate CSV lists {len(listed)} characters but it holds "
                      f"{len(codes)} crops (a truncated download?); using the crops")
    if not codes:
        warnings.warn(f"{name}: no characters/U+XXXX/*.jpg crops inside")


def load_books(task: str, folder: Path, *, image_size: int, channels: int, download: bool,
               books: list[str] | None = None, train_transform=None, **_) -> Source:
    """Kuzushiji character dataset: every ``*.zip`` (or unpacked book folder) in ``folder``, or
    exactly the listed ``books`` (downloaded when missing)."""
    folder = Path(folder)
    if books:
        books = [str(b) for b in books]
        remotes = [Remote(f"{b}.zip", BOOK_URL.format(id=b)) for b in books]
        dirs = [folder / b for b in books if (folder / b / "characters").is_dir()]
        need = [r for r, b in zip(remotes, books) if not (folder / b / "characters").is_dir()]
        archives = ensure(task, need, folder, download) if need else []
    else:
        archives = sorted(folder.glob("*.zip")) if folder.is_dir() else []
        dirs = sorted(d for d in folder.iterdir() if (d / "characters").is_dir()) if folder.is_dir() else []
        if not archives and not dirs:
            example = Remote("<book-id>.zip", BOOK_URL.format(id="<book-id>"))
            raise unavailable(task, [example], folder, "no book zips found",
                              f"\nBook ids are listed at {BOOK_INDEX}; get_data(..., books=[ids]) "
                              f"downloads them.")
    items, codes = _book_listing(archives, dirs)
    if not items:
        raise unavailable(task, [Remote("<book-id>.zip", BOOK_URL.format(id="<book-id>"))], folder,
                          "the book zips there hold no characters/U+XXXX/*.jpg crops")
    n_books = len(archives) + len(dirs)
    return file_source(archives, items, codes, folder, image_size, channels,
                       f" from {n_books} book{'s' * (n_books != 1)}", train_transform)
