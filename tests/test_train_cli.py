"""``gconv train`` and ``gconv bench train`` (CPU, stand-in data, tiny model)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gconvlib import cli

DATA = ["--task", "cifar10", "--data", "standin", "--limit", "64", "--image-size", "16", "--batch-size", "32"]
ARGS = ["--model", "wrn28_1/gc2l:2", *DATA]
OLD_ARGS = ["--model", "wrn28", "--scheme", "gc2l", "--k", "2", "--width", "1", *DATA]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)   # the command sets the process's threads, as its entry point


def test_train_prints_a_summary_and_the_store_path(capsys, tmp_path):
    assert cli.main(["train", *ARGS, "--epochs", "2", "--progress", "none", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "wrn28_1 GC-2L g=2 on cifar10 (standin data): trained" in out
    assert "2 of the paper's 200 epochs" in out and "top-1" in out and "width 1 (paper 10)" in out
    assert "on cpu, 1 threads" in out
    stored = Path(out.split("stored")[1].split()[0])
    assert stored.parent == tmp_path / "results" / "train" and stored.exists()
    assert json.loads(stored.read_text())["result"]["curves"]["epoch"] == [1, 2]

    # the older flags name the same variant: the same run, read back
    assert cli.main(["train", *OLD_ARGS, "--epochs", "2", "--progress", "none"]) == 0
    assert "read from the store" in capsys.readouterr().out


def test_train_sets_the_thread_count_from_the_cpu_affinity(capsys, monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    torch.set_num_threads(2)
    assert cli.main(["train", *ARGS, "--epochs", "1", "--progress", "none"]) == 0
    assert torch.get_num_threads() == 1 and "on cpu, 1 threads" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "gconv: error: epochs must be a positive integer, got 0"),
    (["--epochs", "1", "--task", "svhn"], "unknown task 'svhn'"),
    (["--epochs", "1", "--scheme", "gc"], "names its scheme already"),
    (["--epochs", "1", "--k", "2"], "--k need --scheme"),
])
def test_train_reports_bad_parameters_as_one_line(capsys, extra, message):
    assert cli.main(["train", *ARGS, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_train_reports_a_bad_grouping_naming_the_layer(capsys):
    assert cli.main(["train", "--model", "wrn28_1/gc:3", *DATA, "--epochs", "1"]) == 2
    assert "stage1.block0.conv1 (16->16 channels): 3 groups do not divide" in capsys.readouterr().err
    assert cli.main(["train", "--model", "wrn28", *DATA]) == 2
    assert "names no scheme" in capsys.readouterr().err


def test_bench_train_reports_both_loops(capsys):
    assert cli.main(["bench", "train", *ARGS, "--steps", "2", "--warmup", "1", "--rounds", "1",
                     "--threads", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threads"] == 1 and out["steps"] == 2 and out["rounds"] == 1 and out["batch_size"] == 32
    assert out["speedup"] == pytest.approx(out["loop_images_per_s"] / out["plain_images_per_s"])
    assert out["model"] == "wrn28_1/gc2l:2" and out["label"] == "GC-2L g=2"


def test_bench_train_text_and_forced_settings(capsys):
    assert cli.main(["bench", "train", *OLD_ARGS, "--steps", "1", "--warmup", "0", "--rounds", "1",
                     "--amp", "fp32", "--channels-last", "off"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrn28_1/gc2l:2 (GC-2L g=2) on cifar10 (standin data), 16 px, batch 32")
    assert "this loop" in out and "(fp32, channels_last False, data on device True)" in out
    assert "plain loop" in out and "speed-up" in out
