"""train() and benchmark_training() leave the process as they found it: thread count, backend
flags and the global random generators; and the benchmark compares two loops fairly."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from gconvlib import train as T
from gconvlib.train import bench as B
from gconvlib.train.device import backend_flags, backend_state, restored_backends

TINY = dict(model="wrn28_1/gc:2", task="cifar10", data_mode="standin", image_size=16, limit=64, batch_size=16)


@pytest.fixture
def unusual_state():
    """Non-default thread count and backend flags, and a known RNG state, restored afterwards."""
    threads = torch.get_num_threads()
    with restored_backends():
        torch.set_num_threads(1)
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.manual_seed(1234), np.random.seed(5), random.seed(6)
        yield {"threads": 1, "flags": backend_state(), "torch_rng": torch.get_rng_state(),
               "numpy_rng": np.random.get_state()[1].copy(), "random": random.getstate()}
    torch.set_num_threads(threads)


def assert_unchanged(before):
    assert torch.get_num_threads() == before["threads"]
    assert backend_state() == before["flags"]
    assert torch.equal(torch.get_rng_state(), before["torch_rng"])
    assert np.array_equal(np.random.get_state()[1], before["numpy_rng"]) and random.getstate() == before["random"]


def test_train_leaves_threads_flags_and_rng_as_they_were(unusual_state):
    T.train(T.TrainSpec(**TINY, epochs=1), progress="none")
    assert_unchanged(unusual_state)


def test_benchmark_leaves_threads_flags_and_rng_as_they_were(unusual_state):
    out = T.benchmark_training(T.TrainSpec(**TINY), steps=2, warmup=1, rounds=2)
    assert out["threads"] == 1            # both loops ran under the caller's thread count
    assert_unchanged(unusual_state)


def test_backend_flags_are_restored_even_on_error():
    before = backend_state()
    with pytest.raises(RuntimeError), backend_flags(torch.device("cuda"), fast=True):
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
        raise RuntimeError
    assert backend_state() == before


def test_the_benchmark_times_the_same_work_in_both_loops(monkeypatch):
    """Same initial weights, same number of steps per round, alternating rounds, medians."""
    from gconvlib.models.spec import ModelSpec

    built, loop_calls = [], []
    build, loop_epoch = ModelSpec.build, B.Loop.train_epoch

    def spy_build(self, device=None):
        model = build(self, device)
        built.append([p.detach().clone() for p in model.parameters()])
        return model

    def spy_epoch(self, batches, augment, on_step=None):
        result = loop_epoch(self, batches, augment, on_step)
        loop_calls.append(result[2])
        return result

    monkeypatch.setattr(ModelSpec, "build", spy_build)
    monkeypatch.setattr(B.Loop, "train_epoch", spy_epoch)
    out = T.benchmark_training(T.TrainSpec(**TINY), steps=3, warmup=1, rounds=3,
                               settings=T.Settings(amp=None, channels_last=True))   # not measured
    assert len(built) == 2 and all(torch.equal(a, b) for a, b in zip(*built))   # one init for both
    # 64 stand-in images, batch 16: the warm-up step, then 3 rounds of 3 steps = 48 images each
    assert loop_calls == [16, 48, 48, 48]
    assert len(out["rounds_images_per_s"]["loop"]) == len(out["rounds_images_per_s"]["plain"]) == 3
    assert out["loop_images_per_s"] == sorted(out["rounds_images_per_s"]["loop"])[1]     # medians
    assert out["plain_images_per_s"] == sorted(out["rounds_images_per_s"]["plain"])[1]
    assert out["speedup"] == pytest.approx(out["loop_images_per_s"] / out["plain_images_per_s"])
    assert out["plain"] == {"amp": None, "channels_last": False, "dataloader_workers": 0}


def test_the_cpu_trains_channels_last_in_fp32_without_compiling():
    """The measured choice (gconvlib.train.device.settings_for): channels_last was 1.1-2.0x
    faster for every quick-profile variant on the project's CPU; bf16 and compiling were not."""
    assert T.settings_for(torch.device("cpu")) == T.Settings(amp=None, channels_last=True, compile=False)
    res = T.train(T.TrainSpec(**TINY, epochs=1), progress="none")["result"]["run"]
    assert (res["amp"], res["channels_last"], res["compile"], res["settings_from"]) == (None, True, False, "device")
