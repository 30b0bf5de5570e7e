"""The training loop: it learns, it resumes bit-identically, it caches, it rejects bad input.

CPU only, offline (stand-in data), tiny models and images; every test writes under tmp_path.
"""
from __future__ import annotations

import math
import sys

import pytest
import torch

from gconvlib import train as T
from gconvlib.store import ResultsStore, cache_dir

# WRN-28-1 at 16x16 on 128 stand-in glyph images: a second or two per epoch on 2 cores.
TINY = dict(model="wrn28", scheme="gc", k=2, width=1, task="kmnist", data_mode="standin",
            image_size=16, limit=128, batch_size=32)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    return tmp_path


def test_a_few_epochs_reduce_the_loss():
    # a constant learning rate (the VGG recipe has no milestones): GC-2L's schedule scaled to
    # 4 epochs would divide the rate by 10 after every epoch
    spec = T.TrainSpec(**TINY, recipe="vgg_kuzushiji", epochs=4, lr=0.05)
    res = T.train(spec, progress="none")["result"]
    losses = res["curves"]["train_loss"]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.1 and losses[0] < 1.5 * math.log(10)
    assert res["curves"]["train_acc"][-1] > 0.2          # chance is 0.1
    assert res["data"]["source"] == "standin" and res["data"]["description"].startswith("stand-in")
    assert 0 <= res["test"]["accuracy"] <= 1 and res["test"]["images"] == 128
    assert res["curves"]["epoch"] == [1, 2, 3, 4] and len(res["curves"]["val_acc"]) == 4
    assert res["timing"]["images_per_s"] > 0 and res["timing"]["wall_s"] > 0


def test_result_states_the_scaling_relative_to_the_paper():
    spec = T.TrainSpec(**TINY, epochs=2)
    res = T.train(spec, progress="none")["result"]
    sc = res["scaling"]
    assert sc["recipe"] == "gc2l_cifar" and sc["paper_epochs"] == 200 and sc["epochs_ratio"] == 0.01
    assert sc["paper_milestones"] == [60, 120, 160] and sc["milestones"] == [1]
    assert sc["width"] == 1 and sc["paper_width"] == 10 and sc["width_ratio"] == 0.1
    assert sc["resolution"] == 16 and sc["train_images"] == 128
    assert sc["same_task"] is False and sc["paper_task"] == "cifar10"   # kmnist is not GC-2L's data
    assert sc["dataset_ratio"] == pytest.approx(128 / 50_000)


def _interrupt_and_resume(spec, store):
    with pytest.raises(T.TrainingInterrupted):
        T.train(spec, store, progress="none", stop_after_epoch=1)
    assert (T.checkpoint_dir(spec) / "last.pt").exists()
    assert store.get(T.KIND, spec.store_spec()) is None      # nothing stored for an unfinished run
    return T.train(spec, store, progress="none")


def test_an_interrupted_run_resumes_to_the_same_result(isolated, monkeypatch):
    spec = T.TrainSpec(**{**TINY, "task": "cifar10"}, epochs=3, augment="pad_crop_flip")
    resumed = _interrupt_and_resume(spec, ResultsStore(isolated / "a"))
    assert resumed["result"]["timing"]["resumed_from_epoch"] == 1
    ckpt = T.checkpoint_dir(spec)
    assert (ckpt / "final.pt").exists() and not (ckpt / "last.pt").exists()

    monkeypatch.setenv("GCONV_CACHE", str(isolated / "other-cache"))   # no checkpoint to find
    fresh = T.train(spec, ResultsStore(isolated / "b"), progress="none")
    assert fresh["result"]["timing"]["resumed_from_epoch"] is None
    assert resumed["result"]["curves"] == fresh["result"]["curves"]   # bit-identical floats
    assert resumed["result"]["test"] == fresh["result"]["test"]


def test_a_callback_can_interrupt_and_the_run_resumes(isolated):
    spec = T.TrainSpec(**TINY, epochs=2, augment="resized_crop_flip")
    seen = []

    def stop(epoch, row):
        seen.append((epoch, row["train_loss"]))
        raise KeyboardInterrupt

    store = ResultsStore(isolated / "a")
    with pytest.raises(KeyboardInterrupt):
        T.train(spec, store, progress="none", callback=stop)
    resumed = T.train(spec, store, progress="none", callback=lambda e, r: seen.append((e, r["train_loss"])))
    assert [e for e, _ in seen] == [1, 2]
    assert resumed["result"]["curves"]["train_loss"] == [loss for _, loss in seen]


def test_a_finished_run_is_a_store_hit(monkeypatch):
    spec = T.TrainSpec(**TINY, epochs=1)
    first = T.train(spec, progress="none")
    assert first["cache_hit"] is False

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(T, "_fit", no_training)
    again = T.train(T.TrainSpec(**TINY, epochs=1), progress="none")
    assert again["cache_hit"] is True and again["result"] == first["result"]
    assert again["key"] == first["key"] == spec.key
    # data_mode "auto" finds the stand-in record when there are no real files on disk
    assert T.train(T.TrainSpec(**{**TINY, "data_mode": "auto"}, epochs=1), progress="none")["cache_hit"]
    # a changed spec is a new run
    with pytest.raises(AssertionError, match="trained again"):
        T.train(T.TrainSpec(**TINY, epochs=1, seed=1), progress="none")


def test_keys_follow_the_effective_recipe():
    base = T.TrainSpec(**TINY, epochs=2)
    assert base.key == T.TrainSpec(**TINY, epochs=2, recipe="gc2l_cifar").key   # default made explicit
    assert base.recipe == "gc2l_cifar" and base.store_spec()["effective_recipe"]["milestones"] == (1,)
    assert len({base.key, T.TrainSpec(**TINY, epochs=3).key, T.TrainSpec(**TINY, epochs=2, lr=0.01).key,
                T.TrainSpec(**TINY, epochs=2, data_seed=1).key}) == 4
    assert T.TrainSpec.from_record({"spec": base.store_spec()}) == base


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(limit=0), "limit must be a positive integer, got 0"),
    (dict(task="mnist"), "unknown task 'mnist'"),
    (dict(model="resnet18"), "unknown model 'resnet18'"),
    (dict(scheme="gc", k=None), "needs groups"),
    (dict(scheme="standard", k=2), "takes no k"),
    (dict(data_mode="download"), "unknown data mode"),
    (dict(recipe="adam"), "unknown recipe"),
])
def test_bad_parameters_are_clear_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.TrainSpec(**{**TINY, **kwargs})


def test_errors_found_by_the_data_and_the_model_are_value_errors():
    with pytest.raises(ValueError, match="num_classes=11 is more than the 10 classes"):
        T.train(T.TrainSpec(**TINY, num_classes=11, epochs=1), progress="none")
    with pytest.raises(ValueError, match="groups"):   # 3 groups do not divide WRN's 16 channels
        T.train(T.TrainSpec(**{**TINY, "k": 3}, epochs=1), progress="none")
    with pytest.raises(ValueError, match="progress"):
        T.train(T.TrainSpec(**TINY, epochs=1), progress="loud")


def test_run_many_and_summarize_runs():
    records = T.run_many(T.TrainSpec(**TINY, epochs=1), seeds=(0, 1), progress="none")
    assert [r["spec"]["seed"] for r in records] == [0, 1]
    table = T.summarize_runs(records)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["seeds"] == 2 and row["label"] == "GC g=2" and row["source"] == "standin"
    accs = [100 * r["result"]["test"]["accuracy"] for r in records]
    assert row["top1_pct_mean"] == pytest.approx(sum(accs) / 2)
    assert row["error_pct_mean"] == pytest.approx(100 - row["top1_pct_mean"])
    assert row["top1_pct_std"] == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))
    assert T.summarize_runs([]).empty


def test_compact_progress_prints_one_line_per_epoch(capsys, monkeypatch):
    T.train(T.TrainSpec(**TINY, epochs=2), progress="compact")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "epoch" in ln]
    assert len(lines) == 2 and "epoch 2/2" in lines[1] and "train loss" in lines[1]
    monkeypatch.setitem(sys.modules, "ipykernel", sys)       # as if inside a notebook
    assert T._progress_mode("auto") == "compact"


def test_augmentation_is_a_deterministic_crop_and_flip():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    aug = T.Augmenter("pad_crop_flip", 2, seed=0, epoch=0, device=torch.device("cpu"))
    aug.offsets = torch.tensor([[4, 4], [4, 4]])             # centred crop = the image
    aug.flip = torch.tensor([False, True])
    out = aug(x, (0, 2))
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], x[1].flip(-1))
    aug.offsets = torch.tensor([[0, 0], [8, 8]])              # corners: shifted, zero padding enters
    out = aug(x, (0, 2))
    assert torch.equal(out[0, :, 4:, 4:], x[0, :, :4, :4]) and out[0, :, :4].abs().sum() == 0
    a = T.Augmenter("resized_crop_flip", 2, 0, 3, torch.device("cpu"))(x, (0, 2))
    b = T.Augmenter("resized_crop_flip", 2, 0, 3, torch.device("cpu"))(x, (0, 2))
    assert a.shape == x.shape and torch.equal(a, b)


def test_checkpoints_live_under_the_cache(isolated):
    spec = T.TrainSpec(**TINY, epochs=1)
    assert T.checkpoint_dir(spec) == cache_dir() / "checkpoints" / spec.key
    T.train(spec, progress="none", keep_checkpoint=False)
    assert not T.checkpoint_dir(spec).exists()


def test_dataset_batches_give_the_same_run_as_device_tensors(isolated, monkeypatch):
    """File-backed data goes through a DataLoader; the result must not depend on the path."""
    from gconvlib.datasets import DataBundle

    spec = T.TrainSpec(**{**TINY, "task": "cifar10", "limit": 70, "batch_size": 16}, epochs=2,
                       augment="pad_crop_flip")
    fast = T.train(spec, ResultsStore(isolated / "a"), progress="none")["result"]
    monkeypatch.setattr(DataBundle, "tensors", lambda self, split, dtype=None, materialize=False: None)
    monkeypatch.setenv("GCONV_CACHE", str(isolated / "other-cache"))
    loaded = T.train(spec, ResultsStore(isolated / "b"), progress="none")["result"]
    assert fast["data"]["in_memory"] and not loaded["data"]["in_memory"]
    assert fast["curves"] == loaded["curves"] and fast["test"] == loaded["test"]
