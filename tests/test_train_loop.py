"""The training loop: it learns, it resumes bit-identically, it caches, it rejects bad input.

CPU only, offline (stand-in data), tiny models and images; every test writes under tmp_path.
"""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from gconvlib import train as T
from gconvlib.models.spec import ModelSpec
from gconvlib.store import ResultsStore, cache_dir
from gconvlib.train import checkpoint as C
from gconvlib.train import run as R

# WRN-28-1 at 16x16 on 128 stand-in glyph images: a second or two per epoch on 2 cores.
TINY = dict(model="wrn28_1/gc:2", task="kmnist", data_mode="standin", image_size=16, limit=128, batch_size=32)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    return tmp_path


def stored(store: ResultsStore, spec: T.TrainSpec):
    return store.get(T.KIND, spec.store_spec(), code=spec.code_modules())


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
    assert res["test"]["images"] == 128 and (res["test"]["accuracy"] * 128) == pytest.approx(
        round(res["test"]["accuracy"] * 128))            # a count of correct images out of 128
    assert res["curves"]["epoch"] == [1, 2, 3, 4] and len(res["curves"]["val_acc"]) == 4
    # 128 images in 4 batches of 32 per epoch, none dropped
    assert res["timing"]["images_per_s"] == pytest.approx(4 * 128 / res["timing"]["train_s"])
    assert res["variant"] == "wrn28_1/gc:2" and res["model_spec"] == "wrn28_1/gc:2/size=16"
    assert (res["label"], res["model"], res["scheme"], res["k"], res["width"]) == ("GC g=2", "wrn28", "gc", 2, 1)


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


CHANNELS_LAST = T.Settings(amp=None, channels_last=True)


def _interrupt_and_resume(spec, store):
    with pytest.raises(T.TrainingInterrupted):
        T.train(spec, store, progress="none", stop_after_epoch=1, settings=CHANNELS_LAST)
    assert (T.checkpoint_dir(spec) / "last.pt").exists()
    assert stored(store, spec) is None      # nothing stored for an unfinished run
    # the resumed run goes on with the settings it started with (not a new measurement)
    return T.train(spec, store, progress="none")


def test_an_interrupted_run_resumes_to_the_same_result(isolated, monkeypatch):
    spec = T.TrainSpec(**{**TINY, "task": "cifar10"}, epochs=3, augment="pad_crop_flip")
    resumed = _interrupt_and_resume(spec, ResultsStore(isolated / "a"))
    assert resumed["result"]["timing"]["resumed_from_epoch"] == 1
    assert resumed["result"]["run"]["settings_from"] == "checkpoint" and resumed["result"]["run"]["channels_last"]
    ckpt = T.checkpoint_dir(spec)
    assert (ckpt / "final.pt").exists() and not (ckpt / "last.pt").exists()

    monkeypatch.setenv("GCONV_CACHE", str(isolated / "other-cache"))   # no checkpoint to find
    fresh = T.train(spec, ResultsStore(isolated / "b"), progress="none", settings=CHANNELS_LAST)
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

    monkeypatch.setattr(R, "_fit", no_training)
    again = T.train(T.TrainSpec(**TINY, epochs=1), progress="none")
    assert again["cache_hit"] is True and again["result"] == first["result"]
    assert again["key"] == first["key"] == spec.key
    # data_mode "auto" finds the stand-in record when there are no real files on disk
    assert T.train(T.TrainSpec(**{**TINY, "data_mode": "auto"}, epochs=1), progress="none")["cache_hit"]
    # the same variant written another way is the same run
    assert T.train(T.TrainSpec(**{**TINY, "model": "wrn28_1/fggc:2"}, epochs=1), progress="none")["cache_hit"]
    # a changed spec is a new run
    with pytest.raises(AssertionError, match="trained again"):
        T.train(T.TrainSpec(**TINY, epochs=1, seed=1), progress="none")
    with pytest.raises(AssertionError, match="trained again"):
        T.train(T.TrainSpec(**{**TINY, "model": "wrn28_1/gc2l:2"}, epochs=1), progress="none")


def test_keys_follow_the_effective_recipe():
    base = T.TrainSpec(**TINY, epochs=2)
    assert base.key == T.TrainSpec(**TINY, epochs=2, recipe="gc2l_cifar").key   # default made explicit
    assert base.recipe == "gc2l_cifar" and base.store_spec()["effective_recipe"]["milestones"] == (1,)
    assert len({base.key, T.TrainSpec(**TINY, epochs=3).key, T.TrainSpec(**TINY, epochs=2, lr=0.01).key,
                T.TrainSpec(**TINY, epochs=2, data_seed=1).key}) == 4
    assert T.TrainSpec.from_record({"spec": base.store_spec()}) == base


def test_the_model_is_the_variant_text_without_classes_or_size():
    assert T.TrainSpec(model="wrn28/gc:2").model == "wrn28_10/gc:2"         # the default width, explicit
    spec = T.TrainSpec(model=ModelSpec.parse("wrn28_1/gc2l:8:unfused").replace(num_classes=7, input_size=48))
    assert spec.model == "wrn28_1/gc2l:8:unfused" and spec.label == "GC-2L g=8 (unfused)"
    assert spec.key != T.TrainSpec(model="wrn28_1/gc2l:8").key                 # fused or not: two runs
    assert spec.model_spec(10, 16) == ModelSpec("wrn28", "gc2l:8:unfused", width=1, num_classes=10, input_size=16)
    e2gc_paper = T.TrainSpec(model="mobilenet_v1/fggc:8")
    assert (e2gc_paper.model, e2gc_paper.label, e2gc_paper.task, e2gc_paper.recipe) == (
        "mobilenet_v1/gc:8", "FgGC g=8", "imagenet", "e2gc")
    vgg = T.TrainSpec.from_paper("vgg13_bn", "E", width_mult=0.25)
    assert (vgg.model, vgg.label, vgg.task, vgg.recipe) == ("vgg13_bn/E/width_mult=0.25", "E", "kuzushiji",
                                                           "vgg_kuzushiji")
    assert T.TrainSpec.from_paper("wrn28", "gc2l", 4, width=1).model == "wrn28_1/gc2l:4"


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(limit=0), "limit must be a positive integer, got 0"),
    (dict(seed=-1), "seed must be a non-negative integer, got -1"),
    (dict(lr=0.0), "lr must be positive, got 0.0"),
    (dict(task="mnist"), "unknown task 'mnist'"),
    (dict(model="resnet18/gc:2"), "unknown model 'resnet18'"),
    (dict(model="wrn28_1/gc"), "is written 'gc:<g>'"),
    (dict(model="wrn28_1/standard:2"), "takes no number"),
    (dict(model="wrn28_1/gc:2/classes=10"), "come from the data"),
    (dict(model="wrn28_1"), "MODEL/SCHEME"),
    (dict(model="wrn28_1/gc:2/width_mult=0.5"), "width_mult applies to"),
    (dict(data_mode="download"), "unknown data mode"),
    (dict(recipe="adam"), "unknown recipe"),
])
def test_bad_parameters_are_clear_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.TrainSpec(**{**TINY, **kwargs})


def test_a_grouping_that_does_not_divide_fails_at_construction_naming_the_layer():
    from gconvlib.layers import GroupingError

    with pytest.raises(GroupingError, match=r"stage1\.block0\.conv1 \(16->16 channels\): 3 groups do not divide"):
        T.TrainSpec(**{**TINY, "model": "wrn28_1/gc:3"})


def test_errors_found_by_the_data_are_value_errors():
    with pytest.raises(ValueError, match="num_classes=11 is more than the 10 classes"):
        T.train(T.TrainSpec(**TINY, num_classes=11, epochs=1), progress="none")
    with pytest.raises(ValueError, match="progress"):
        T.train(T.TrainSpec(**TINY, epochs=1), progress="loud")


def test_run_many_and_summarize_runs():
    records = T.run_many(T.TrainSpec(**TINY, epochs=1), seeds=(0, 1), progress="none")
    assert [r["spec"]["seed"] for r in records] == [0, 1]
    table = T.summarize_runs(records)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["seeds"] == 2 and row["label"] == "GC g=2" and row["source"] == "standin"
    assert row["variant"] == "wrn28_1/gc:2" and row["model"] == "wrn28" and row["k"] == 2
    accs = [100 * r["result"]["test"]["accuracy"] for r in records]
    assert row["top1_pct_mean"] == pytest.approx(sum(accs) / 2)
    assert row["error_pct_mean"] == pytest.approx(100 - row["top1_pct_mean"])
    assert row["top1_pct_std"] == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))
    assert T.summarize_runs([]).empty


def test_progress_is_a_bar_on_stderr_and_nothing_on_stdout(capsys):
    spec = T.TrainSpec(**{**TINY, "limit": 64}, epochs=2)
    T.train(spec, progress="bar")
    out, err = capsys.readouterr()
    assert out == ""                            # nothing for a notebook's output
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("wrn28_1 GC g=2 kmnist: 100%") and "128/128 img" in final
    assert "ep 2/2 loss " in final and " val " in final
    T.run_many(spec, seeds=(0, 1), progress="bar")
    out, err = capsys.readouterr()
    assert out == "" and "runs 2/2 (1 cached)" in err.replace("\r", "\n").strip().splitlines()[-1]
    T.run_many(spec, seeds=(0, 1), progress="none")
    assert capsys.readouterr() == ("", "")


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


def test_the_data_order_is_a_function_of_seed_and_epoch():
    from gconvlib.train.data import batch_stops, epoch_order

    assert torch.equal(epoch_order(50, 0, 3), epoch_order(50, 0, 3))
    assert sorted(epoch_order(50, 0, 3).tolist()) == list(range(50))
    assert not torch.equal(epoch_order(50, 0, 3), epoch_order(50, 0, 4))
    assert not torch.equal(epoch_order(50, 0, 3), epoch_order(50, 1, 3))
    before = torch.get_rng_state()
    epoch_order(50, 0, 3)
    assert torch.equal(torch.get_rng_state(), before)         # no global RNG involved
    assert batch_stops(65, 32, drop_singleton=True) == [32, 64]   # BatchNorm cannot take one image
    assert batch_stops(65, 32) == [32, 64, 65] and batch_stops(64, 32, drop_singleton=True) == [32, 64]


def test_checkpoints_live_under_the_cache(isolated):
    spec = T.TrainSpec(**TINY, epochs=1)
    assert T.checkpoint_dir(spec) == cache_dir() / "checkpoints" / spec.key
    T.train(spec, progress="none", keep_checkpoint=False)
    assert not T.checkpoint_dir(spec).exists()


def test_checkpoints_are_written_rarely_and_under_the_runs_lock(isolated, monkeypatch):
    store = ResultsStore(isolated / "a")
    spec = T.TrainSpec(**TINY, epochs=3)
    writes = []
    save = C.atomic_save

    def watched(obj, path):
        lock = store.lock(T.KIND, spec.store_spec(), code=spec.code_modules())
        writes.append((path.name, obj["epoch"], lock.is_locked))
        save(obj, path)

    monkeypatch.setattr(C, "atomic_save", watched)
    # a run of seconds writes no full checkpoint between epochs (default: at most one a minute;
    # an hour here, so that a slow shared machine cannot make this run take a minute)
    assert C.CHECKPOINT_EVERY_S == 60 and inspect.signature(T.train).parameters["checkpoint_every_s"].default == 60
    res = T.train(spec, store, progress="none", checkpoint_every_s=3600)["result"]
    assert writes == [("final.pt", 3, True)] and res["timing"]["checkpointed_epochs"] == []
    writes.clear()
    spec = T.TrainSpec(**TINY, epochs=3, seed=1)
    res = T.train(spec, store, progress="none", checkpoint_every_s=0)["result"]
    assert writes == [("last.pt", 1, True), ("last.pt", 2, True), ("final.pt", 3, True)]
    assert res["timing"]["checkpointed_epochs"] == [1, 2]
    assert not store.lock(T.KIND, spec.store_spec(), code=spec.code_modules()).is_locked   # released


def test_dataset_batches_give_the_same_run_as_device_tensors(isolated, monkeypatch):
    """File-backed data goes through a DataLoader; the result must not depend on the path."""
    from gconvlib.datasets import DataBundle

    spec = T.TrainSpec(**{**TINY, "task": "cifar10", "limit": 70, "batch_size": 16}, epochs=2,
                       augment="pad_crop_flip")
    fast = T.train(spec, ResultsStore(isolated / "a"), progress="none", settings=CHANNELS_LAST)["result"]
    monkeypatch.setattr(DataBundle, "tensors", lambda self, split, dtype=None, materialize=False: None)
    monkeypatch.setenv("GCONV_CACHE", str(isolated / "other-cache"))
    loaded = T.train(spec, ResultsStore(isolated / "b"), progress="none", settings=CHANNELS_LAST)["result"]
    assert fast["data"]["in_memory"] and not loaded["data"]["in_memory"]
    assert fast["curves"] == loaded["curves"] and fast["test"] == loaded["test"]


def test_run_many_loads_shared_data_once_and_nothing_is_cached_between_calls(monkeypatch):
    from gconvlib.train import data as D

    loads = []
    load = D.load_data

    def counting(spec, root=None):
        loads.append((spec.model, spec.seed))
        return load(spec, root)

    monkeypatch.setattr(D, "load_data", counting)   # what DataCache calls
    monkeypatch.setattr(R, "load_data", counting)   # what train() calls without one
    specs = [T.TrainSpec(**{**TINY, "model": m, "limit": 64}, epochs=1) for m in ("wrn28_1/gc:2", "wrn28_1/gc2l:2")]
    T.run_many(specs, seeds=(0, 1), progress="none")
    assert len(loads) == 1                      # 4 runs, one data set
    T.train(T.TrainSpec(**{**TINY, "limit": 64}, epochs=1, seed=2), progress="none")
    T.train(T.TrainSpec(**{**TINY, "limit": 64}, epochs=1, seed=3), progress="none")
    assert len(loads) == 3                      # no module-level cache: each call loads its data
