"""``gconv train`` and ``gconv bench train`` (CPU, stand-in data, tiny model)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gconvlib import cli

ARGS = ["--model", "wrn28", "--scheme", "gc2l", "--k", "2", "--width", "1", "--task", "cifar10",
        "--data", "standin", "--limit", "64", "--image-size", "16", "--batch-size", "32"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")


def test_train_prints_a_summary_and_the_store_path(capsys, tmp_path):
    assert cli.main(["train", *ARGS, "--epochs", "2", "--progress", "none"]) == 0
    out = capsys.readouterr().out
    assert "wrn28 GC-2L g=2 on cifar10 (standin data): trained" in out
    assert "2 of the paper's 200 epochs" in out and "top-1" in out
    stored = Path(out.split("stored")[1].split()[0])
    assert stored.parent == tmp_path / "results" / "train" and stored.exists()
    assert json.loads(stored.read_text())["result"]["curves"]["epoch"] == [1, 2]

    assert cli.main(["train", *ARGS, "--epochs", "2", "--progress", "none"]) == 0
    assert "read from the store" in capsys.readouterr().out


def test_train_reports_bad_parameters_as_one_line(capsys):
    assert cli.main(["train", *ARGS, "--epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "gconv: error: epochs must be a positive integer, got 0"
    assert cli.main(["train", *ARGS, "--epochs", "1", "--task", "svhn"]) == 2
    assert "unknown task 'svhn'" in capsys.readouterr().err


def test_bench_train_reports_both_loops(capsys):
    assert cli.main(["bench", "train", *ARGS, "--steps", "2", "--warmup", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["loop_images_per_s"] > 0 and out["plain_images_per_s"] > 0
    assert out["speedup"] == pytest.approx(out["loop_images_per_s"] / out["plain_images_per_s"])
