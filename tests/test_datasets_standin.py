"""Offline stand-ins: labelled as such, deterministic, the right shapes, learnable but not trivial."""
from __future__ import annotations

import pytest
import torch

from gconvlib.datasets import TASKS, get_data
from gconvlib.datasets import download as dl

SPLITS = ("train", "val", "test")


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))


def _bytes(bundle, split):
    return bundle.tensors(split, dtype=torch.uint8)


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_has_a_standin_that_says_so(task):
    spec = TASKS[task]
    b = get_data(task, mode="standin", limit=24)
    assert b.source == "standin" and b.name == task and b.fallback_reason is None
    assert b.description.startswith("stand-in") and f"NOT the real {spec.title}" in b.description
    assert (b.num_classes, b.in_channels, b.image_size) == (spec.standin_classes, spec.channels, spec.standin_size)
    assert b.sizes == {s: 24 for s in SPLITS} and b.metric == spec.metric
    x, y = b.tensors("train")
    assert x.shape == (24, spec.channels, spec.standin_size, spec.standin_size) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05
    assert y.dtype == torch.int64 and 0 <= y.min() and y.max() < b.num_classes
    img, label = b.val[5]
    assert img.shape == x.shape[1:] and isinstance(label, int)


def test_default_sizes_are_per_class_16_4_5():
    b = get_data("kmnist", mode="standin")
    assert b.sizes == {"train": 2400, "val": 600, "test": 750}
    assert torch.bincount(b.tensors("test")[1]).tolist() == [75] * 10


@pytest.mark.parametrize("task", ["kuzushiji", "cifar10"])
def test_same_seed_same_bytes_other_seed_other_bytes(task):
    a = get_data(task, mode="standin", limit=130, seed=7)
    b = get_data(task, mode="standin", limit=130, seed=7)
    c = get_data(task, mode="standin", limit=130, seed=8)
    for s in SPLITS:
        assert torch.equal(_bytes(a, s)[0], _bytes(b, s)[0]) and torch.equal(_bytes(a, s)[1], _bytes(b, s)[1])
        assert not torch.equal(_bytes(a, s)[0], _bytes(c, s)[0])
    assert not torch.equal(_bytes(a, "train")[0], _bytes(a, "test")[0])   # splits are distinct draws
    assert a.description == b.description and "seed 7" in a.description


def test_a_limit_keeps_a_prefix():
    full = get_data("k49", mode="standin", limit=300)
    small = get_data("k49", mode="standin", limit=70)
    assert torch.equal(_bytes(small, "val")[0], _bytes(full, "val")[0][:70])


def test_size_channel_and_class_overrides():
    b = get_data("kuzushiji", mode="standin", image_size=224, limit=4, num_classes=1120)
    assert b.train[0][0].shape == (3, 224, 224) and b.num_classes == 1120
    assert b.description.startswith("stand-in: 1120-class synthetic glyphs")
    g = get_data("cifar100", mode="standin", channels=1, standin_sizes=(50, 0, 20))
    assert g.sizes == {"train": 50, "val": 0, "test": 20} and g.train[0][0].shape == (1, 32, 32)
    assert len(g.val) == 0 and g.tensors("val")[0].shape == (0, 1, 32, 32)


@pytest.mark.parametrize("task, low, high", [("kmnist", 0.3, 0.95), ("cifar10", 0.12, 0.6)])
def test_learnable_but_not_trivial(task, low, high):
    """Nearest class mean on raw pixels: well above chance (the labels carry signal) but far from
    perfect (nuisance variation matters). Chance is 0.1."""
    b = get_data(task, mode="standin", standin_sizes=(1000, 0, 500))
    (x, y), (xt, yt) = b.tensors("train"), b.tensors("test")
    means = torch.stack([x[y == c].flatten(1).mean(0) for c in range(b.num_classes)])
    acc = (torch.cdist(xt.flatten(1), means).argmin(1) == yt).float().mean().item()
    assert low < acc < high, acc
