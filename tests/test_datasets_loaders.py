"""Real-data loaders on tiny fabricated files in each format. No test touches the network."""
from __future__ import annotations

import io
import json
import pickle
import re
import shutil
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gconvlib.datasets import DatasetCorrupted, DatasetUnavailable, StandInWarning, get_data
from gconvlib.datasets import download as dl
from gconvlib.datasets.download import Remote


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Every download fails at once (offline switch and a downloader that refuses), and the cache
    is a fresh folder, so a test can only see the files it writes."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GCONV_IMAGENET", raising=False)
    monkeypatch.setattr(dl, "_downloader", lambda: refuse)


def _jpeg(rng: np.random.Generator, w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _png(path: Path, rng: np.random.Generator, size: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size + 3, 3), dtype=np.uint8)).save(path)


# -- KMNIST / K49 ------------------------------------------------------------------------

def _write_npz(folder: Path, prefix: str, k: int, n_train: int, n_test: int) -> dict:
    rng = np.random.default_rng(0)
    arrays = {"train-imgs": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels": np.arange(n_train) % k,
              "test-imgs": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test-labels": np.arange(n_test) % k}
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        np.savez_compressed(folder / f"{prefix}-{name}.npz", a)       # stored as arr_0, as CODH does
    return arrays


def test_kmnist_npz(tmp_path):
    arrays = _write_npz(tmp_path / "km", "kmnist", 10, 200, 50)
    b = get_data("kmnist", mode="real", root=tmp_path / "km")
    assert (b.source, b.num_classes, b.in_channels, b.image_size) == ("real", 10, 1, 28)
    assert b.sizes == {"train": 180, "val": 20, "test": 50}       # val: 10% of each train class
    assert not b.description.startswith("stand-in")
    x, y = b.test[3]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28)
    assert torch.equal(x[0], torch.from_numpy(arrays["test-imgs"][3]).float() / 255)  # bytes / 255
    assert isinstance(y, int)
    xt, yt = b.tensors("test", dtype=torch.uint8)
    assert torch.equal(xt[:, 0], torch.from_numpy(arrays["test-imgs"]))  # bytes unchanged
    assert torch.equal(yt, torch.from_numpy(arrays["test-labels"]))
    xv, yv = b.tensors("val")
    assert xv.dtype == torch.float32 and Counter(yv.tolist()) == {c: 2 for c in range(10)}
    # train and val are disjoint parts of the official train set
    train_rows = {r.tobytes() for r in b.tensors("train", torch.uint8)[0].numpy()}
    assert not train_rows & {r.tobytes() for r in b.tensors("val", torch.uint8)[0].numpy()}

    small = get_data("kmnist", mode="real", root=tmp_path / "km", image_size=32, channels=3, limit=30)
    assert small.sizes == {"train": 30, "val": 20, "test": 30}
    assert small.train[0][0].shape == (3, 32, 32)
    assert Counter(small.tensors("train")[1].tolist()) == {c: 3 for c in range(10)}   # balanced cap


def test_k49_metric_and_class_subset(tmp_path):
    _write_npz(tmp_path / "k49", "k49", 49, 49 * 4, 49)
    b = get_data("k49", mode="real", root=tmp_path / "k49", num_classes=5, val_fraction=0.25)
    assert b.metric == "balanced_accuracy" and b.num_classes == 5
    assert b.sizes == {"train": 15, "val": 5, "test": 5}
    assert set(b.tensors("train")[1].tolist()) == set(range(5))


# -- Kuzushiji character dataset (per-book zips) -------------------------------------------

BOOK_A = {"U+3042": 30, "U+3044": 20, "U+304B": 10, "U+4E00": 5}
BOOK_B = {"U+3042": 20, "U+3057": 25}


def _write_book(folder: Path, book: str, counts: dict, extra_csv_rows: int = 0) -> Path:
    rng = np.random.default_rng(len(book) + sum(counts.values()))
    rows = ["Unicode,Image,X,Y,Block ID,Char ID,Width,Height"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{book}.zip"
    with zipfile.ZipFile(path, "w") as z:
        for code, n in counts.items():
            for i in range(n):
                page, x, y = f"{book}_{i // 10 + 1:05d}", 100 + i, 200 + 3 * i
                w, h = int(rng.integers(10, 30)), int(rng.integers(10, 30))
                z.writestr(f"{book}/characters/{code}/{code}_{page}_X{x:04d}_Y{y:04d}.jpg", _jpeg(rng, w, h))
                rows.append(f"{code},{page},{x},{y},B0001,C{i:04d},{w},{h}")
        rows += [f"U+3042,{book}_00099,1,1,B0001,C9999,5,5"] * extra_csv_rows
        z.writestr(f"{book}/{book}_coordinate.csv", "\n".join(rows) + "\n")
    return path


def _labels_per_split(b):
    return {s: Counter(b.split(s).labels.tolist()) for s in ("train", "val", "test")}


def test_kuzushiji_books_top_k_and_16_4_5(tmp_path):
    folder = tmp_path / "books"
    _write_book(folder, "900000001", BOOK_A)
    _write_book(folder, "900000002", BOOK_B)
    b = get_data("kuzushiji", mode="real", root=folder, num_classes=3, image_size=32)
    # most frequent over both books: U+3042 (50), U+3057 (25), U+3044 (20); labels in code-point order
    assert b.class_names == ["U+3042", "U+3044", "U+3057"] and b.num_classes == 3
    assert (b.in_channels, b.image_size, b.source) == (3, 32, "real")
    per = _labels_per_split(b)
    # every class is split 16:4:5 on its own: 50 -> 32/8/10, 20 -> 13/3/4, 25 -> 16/4/5
    assert per == {"train": {0: 32, 1: 13, 2: 16}, "val": {0: 8, 1: 3, 2: 4}, "test": {0: 10, 1: 4, 2: 5}}
    total = sum(b.sizes.values())
    assert total == 95
    assert abs(b.sizes["train"] / total - 16 / 25) < 0.03 and abs(b.sizes["test"] / total - 5 / 25) < 0.03
    x, y = b.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= y < 3
    assert "2 books" in b.description and "3 most frequent of 5 classes" in b.description

    again = get_data("kuzushiji", mode="real", root=folder, num_classes=3, image_size=32)
    other = get_data("kuzushiji", mode="real", root=folder, num_classes=3, image_size=32, seed=1)
    assert again.train.items == b.train.items and torch.equal(again.test[5][0], b.test[5][0])
    assert other.train.items != b.train.items and _labels_per_split(other) == per

    with pytest.raises(ValueError, match="num_classes=6 is more than the 5 classes"):
        get_data("kuzushiji", mode="real", root=folder, num_classes=6)

    one = get_data("kuzushiji", mode="real", root=folder, books=["900000002"], num_classes=2, image_size=16,
                   train_transform=lambda im: torch.zeros(3, 8, 8))
    assert one.class_names == ["U+3042", "U+3057"] and sum(one.sizes.values()) == 45
    assert one.train[0][0].shape == (3, 8, 8) and one.val[0][0].shape == (3, 16, 16)   # augmentation: train only


def test_kuzushiji_unpacked_book_and_csv_check(tmp_path):
    folder = tmp_path / "books"
    zpath = _write_book(folder, "900000003", {"U+3042": 6, "U+3044": 5}, extra_csv_rows=2)
    with zipfile.ZipFile(zpath) as z:
        z.extractall(folder)
    zpath.unlink()
    with pytest.warns(UserWarning, match="coordinate CSV lists 13 characters but it holds 11 crops"):
        b = get_data("kuzushiji", mode="real", root=folder, num_classes=2, image_size=20)
    assert sum(b.sizes.values()) == 11 and b.train[0][0].shape == (3, 20, 20)
    x, _ = b.tensors("test", materialize=True)
    assert x.shape == (b.sizes["test"], 3, 20, 20) and b.tensors("test") is None


def test_kkanji_archive_dropped_in_by_hand_is_unpacked(tmp_path):
    rng = np.random.default_rng(5)
    src = tmp_path / "src"
    counts = {"U+4E00": 9, "U+4E8C": 6, "U+5B57": 1}
    for code, n in counts.items():
        for i in range(n):
            path = src / "kkanji2" / code / f"{i:03x}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(path)
    folder = tmp_path / "kk"
    folder.mkdir()
    with tarfile.open(folder / "kkanji.tar", "w") as tar:
        tar.add(src / "kkanji2", arcname="kkanji2")
    b = get_data("kkanji", mode="real", root=folder)
    assert (folder / "kkanji2" / "U+4E00").is_dir()
    assert (b.num_classes, b.in_channels, b.image_size) == (3, 1, 64)
    assert b.class_names == list(counts) and sum(b.sizes.values()) == 16
    assert Counter(b.train.labels.tolist())[2] == 1          # a single-sample class stays in train
    assert b.test[0][0].shape == (1, 64, 64)
    two = get_data("kkanji", mode="real", root=folder, num_classes=2, image_size=32, channels=3)
    assert two.class_names == ["U+4E00", "U+4E8C"] and two.train[0][0].shape == (3, 32, 32)


# -- CIFAR pickles -------------------------------------------------------------------------

def _pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def test_cifar10_pickles(tmp_path):
    rng = np.random.default_rng(1)
    base = tmp_path / "c10" / "cifar-10-batches-py"
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": list(np.arange(20) % 10)}
        _pickle(base / name, batches[name])
    _pickle(base / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    b = get_data("cifar10", mode="real", root=tmp_path / "c10")
    assert b.sizes == {"train": 90, "val": 10, "test": 20} and b.class_names[3] == "c3"
    x, y = b.tensors("test", dtype=torch.uint8)
    assert torch.equal(x, torch.from_numpy(batches["test_batch"]["data"]).reshape(20, 3, 32, 32))
    assert y.tolist() == batches["test_batch"]["labels"]


def test_cifar100_fine_labels(tmp_path):
    rng = np.random.default_rng(2)
    base = tmp_path / "c100" / "cifar-100-python"
    for name, n in (("train", 300), ("test", 100)):
        _pickle(base / name, {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                              "fine_labels": list(np.arange(n) % 100), "coarse_labels": list(np.arange(n) % 20)})
    _pickle(base / "meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    b = get_data("cifar100", mode="real", root=tmp_path / "c100", num_classes=100, val_fraction=1 / 3)
    assert b.num_classes == 100 and b.sizes == {"train": 200, "val": 100, "test": 100}
    assert b.tensors("test")[1].tolist() == list(range(100)) and b.class_names[-1] == "f99"


def test_cifar_archive_with_wrong_hash_is_refused(tmp_path):
    folder = tmp_path / "c10"
    folder.mkdir()
    (folder / "cifar-10-python.tar.gz").write_bytes(b"not the CIFAR archive")
    with pytest.raises(DatasetCorrupted, match="expected c58f30108f718f92721af3b95e74349a"):
        get_data("cifar10", mode="real", root=folder)


# -- ImageNet folder and Food-101 ----------------------------------------------------------

def test_imagenet_folder(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "imagenet"
    classes = ["n01", "n02", "n03"]
    for c in classes:
        for i in range(10):
            _png(root / "train" / c / f"{c}_{i}.png", rng)
        for i in range(4):
            _png(root / "val" / c / f"v_{c}_{i}.png", rng)
    b = get_data("imagenet", mode="real", root=root, image_size=24)
    assert (b.num_classes, b.class_names) == (3, classes)
    assert b.sizes == {"train": 27, "val": 3, "test": 12}         # val folder is the test split
    assert b.test[5][0].shape == (3, 24, 24) and b.test[5][1] == 1
    assert b.tensors("train") is None
    x, y = b.tensors("val", materialize=True)
    assert x.shape == (3, 3, 24, 24) and sorted(y.tolist()) == [0, 1, 2]
    grey = get_data("imagenet", mode="real", root=root, image_size=16, channels=1, limit=6)
    assert grey.train[0][0].shape == (1, 16, 16) and grey.sizes["train"] == 6


def test_imagenet_needs_a_root():
    with pytest.raises(ValueError, match="imagenet needs root"):
        get_data("imagenet", mode="real")
    with pytest.warns(StandInWarning):
        b = get_data("imagenet", mode="auto", limit=4)
    assert b.source == "standin" and "GCONV_IMAGENET" in b.fallback_reason


def test_food101_layout(tmp_path):
    rng = np.random.default_rng(4)
    base = tmp_path / "food" / "food-101"
    meta = {"train": {}, "test": {}}
    for c in ("apple_pie", "ramen"):
        for i in range(8):
            split = "train" if i < 6 else "test"
            _png(base / "images" / c / f"{i}.jpg", rng)
            meta[split].setdefault(c, []).append(f"{c}/{i}")
    (base / "meta").mkdir()
    for split, m in meta.items():
        (base / "meta" / f"{split}.json").write_text(json.dumps(m))
    b = get_data("food101", mode="real", root=tmp_path / "food", num_classes=2, image_size=28, val_fraction=0.5)
    assert b.class_names == ["apple_pie", "ramen"]
    assert b.sizes == {"train": 6, "val": 6, "test": 4}
    assert b.test[3][0].shape == (3, 28, 28) and b.test[3][1] == 1


# -- downloads: hashes, offline fallback, error messages ------------------------------------

def test_corrupted_download_detected_by_hash(tmp_path, monkeypatch):
    monkeypatch.delenv(dl.OFFLINE_ENV)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"some bytes that were downloaded")

    def local_copy(url, output_file, pooch):     # pooch's downloader interface, served from disk
        shutil.copyfile(payload, output_file)
    monkeypatch.setattr(dl, "_downloader", lambda: local_copy)
    import pooch

    good = "sha256:" + pooch.file_hash(str(payload))
    folder = tmp_path / "dl"
    with pytest.raises(DatasetCorrupted, match="does not match its pinned hash"):
        dl.fetch(Remote("f.bin", "http://example.invalid/f.bin", "sha256:" + "0" * 64), folder)
    assert not (folder / "f.bin").exists()                  # pooch deleted the bad download
    assert dl.fetch(Remote("f.bin", "http://example.invalid/f.bin", good), folder).read_bytes() == payload.read_bytes()
    dl.verify(folder / "f.bin", good)
    with pytest.raises(DatasetCorrupted, match="corrupted"):
        dl.verify(folder / "f.bin", "md5:" + "0" * 32)


def test_auto_falls_back_to_standin_when_nothing_is_reachable(tmp_path, monkeypatch):
    monkeypatch.delenv(dl.OFFLINE_ENV)
    tried = []

    def unreachable(remote, folder):
        tried.append(remote.url)
        raise DatasetUnavailable(f"could not download {remote.url}: no network")
    monkeypatch.setattr(dl, "fetch", unreachable)
    with pytest.warns(StandInWarning, match="using the stand-in"):
        b = get_data("kmnist", mode="auto", limit=20)
    assert tried and tried[0].startswith("http://codh.rois.ac.jp/kmnist/dataset/kmnist/")
    assert b.source == "standin" and b.description.startswith("stand-in") and "NOT the real" in b.description
    assert "kmnist-train-imgs.npz" in b.fallback_reason and b.sizes == {"train": 20, "val": 20, "test": 20}


@pytest.mark.parametrize("task, url", [
    ("kmnist", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/kmnist-train-labels.npz"),
    ("k49", "http://codh.rois.ac.jp/kmnist/dataset/k49/k49-test-imgs.npz"),
    ("kkanji", "http://codh.rois.ac.jp/kmnist/dataset/kkanji/kkanji.tar"),
    ("kuzushiji", "http://codh.rois.ac.jp/char-shape/book/<book-id>/<book-id>.zip"),
    ("cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    ("food101", "http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz"),
])
def test_real_without_files_names_urls_and_folder(tmp_path, task, url):
    folder = tmp_path / "nothing-here"
    with pytest.raises(DatasetUnavailable) as err:
        get_data(task, mode="real", root=folder)
    assert url in str(err.value) and str(folder.resolve()) in str(err.value)


def test_real_default_folder_is_the_cache(tmp_path):
    with pytest.raises(DatasetUnavailable, match=re.escape(str((tmp_path / "cache" / "cifar100").resolve()))):
        get_data("cifar100", mode="real")


def test_bad_parameters():
    with pytest.raises(ValueError, match="valid tasks: kmnist, k49, kkanji, kuzushiji, cifar10"):
        get_data("mnist")
    with pytest.raises(ValueError, match="limit"):
        get_data("kmnist", mode="standin", limit=0)
    with pytest.raises(ValueError, match="limit"):
        get_data("kmnist", mode="standin", limit=-5)
    with pytest.raises(ValueError, match="mode must be one of auto, real, standin"):
        get_data("kmnist", mode="fake")
    with pytest.raises(ValueError, match="num_classes=11 is more than the 10 classes"):
        get_data("kmnist", mode="standin", num_classes=11)
    with pytest.raises(ValueError, match="val_fraction"):
        get_data("cifar10", mode="standin", val_fraction=1.0)
    with pytest.raises(ValueError, match="channels"):
        get_data("cifar10", mode="standin", channels=2)


def test_a_data_set_unpacked_by_another_process_while_this_one_waited_is_not_unpacked_again(tmp_path, monkeypatch):
    # gconv notebooks trains several runs at once: two processes must not unpack one archive into
    # one folder together, and the second must find the first one's files, not unpack over them
    import tarfile
    import threading
    import time

    from filelock import FileLock

    import gconvlib.datasets.download as dl

    monkeypatch.setenv("GCONV_OFFLINE", "1")        # the archive is on disk: offline still unpacks
    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "payload.txt").write_text("one")
    with tarfile.open(folder / "set.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "payload.txt", arcname="set/payload.txt")
    unpacked = []
    import pooch

    class CountingUntar(pooch.Untar):
        def __call__(self, *args):
            unpacked.append(args[0])
            return super().__call__(*args)

    monkeypatch.setattr(pooch, "Untar", CountingUntar)
    present = lambda: (folder / "set" / "payload.txt").is_file()  # noqa: E731
    holding = threading.Event()

    def other_process():   # holds the folder's lock while it unpacks (a thread stands in for it)
        with FileLock(str(folder / ".gconv-download.lock")):
            holding.set()
            time.sleep(0.3)
            (folder / "set").mkdir()
            (folder / "set" / "payload.txt").write_text("one")

    other = threading.Thread(target=other_process)
    other.start()
    holding.wait()
    dl.ensure_extracted("fake", Remote("set.tar.gz", "http://example.invalid/set.tar.gz", None), folder,
                        present, download=True)
    other.join()
    assert unpacked == [], "the layout the other process made was found under the lock"
