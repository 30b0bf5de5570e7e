"""The runtime floor: settings, device, CPU count, process-group set-up (NCCL gets its device), commit.

No GPU here: the CUDA and NCCL paths run against a fake ``torch.cuda`` / ``torch.distributed``
that records what the library asks of them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from gconvlib import runtime

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "gconvlib"


# -- settings ---------------------------------------------------------------------------------

def test_every_gconv_variable_of_the_library_is_declared_and_read_only_by_the_runtime():
    named, readers = set(), []
    read = re.compile(r"""(os\.environ(\.get)?\s*[\[(]|os\.getenv\s*\()\s*["']GCONV_""")
    for path in LIB.rglob("*.py"):
        text = path.read_text()
        named |= set(re.findall(r"GCONV_[A-Z_]*[A-Z]", text))
        if path.name != "runtime.py" and read.search(text):
            readers.append(str(path.relative_to(ROOT)))
    assert named - set(runtime.SETTINGS) == set(), "GCONV_* names used but not declared in runtime.SETTINGS"
    assert readers == [], f"GCONV_* read from the environment outside gconvlib/runtime.py: {readers}"


def test_settings_are_declared_names_only(monkeypatch):
    monkeypatch.setenv("GCONV_IMAGENET", "/data/imagenet")
    assert runtime.setting("GCONV_IMAGENET") == "/data/imagenet"
    monkeypatch.delenv("GCONV_IMAGENET")
    assert runtime.setting("GCONV_IMAGENET", "fallback") == "fallback"
    with pytest.raises(KeyError, match="'GCONV_RESULT' is not a gconvlib setting"):
        runtime.setting("GCONV_RESULT")   # a typo fails instead of reading nothing


@pytest.mark.parametrize("value, on", [(None, False), ("", False), ("0", False), ("False", False), (" no ", False),
                                       ("1", True), ("yes", True), ("true", True)])
def test_flag_settings(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("GCONV_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("GCONV_OFFLINE", value)
    assert runtime.setting_flag("GCONV_OFFLINE") is on


# -- device -------------------------------------------------------------------------------------

@pytest.fixture
def fake_gpus(monkeypatch):
    """Two visible GPUs; the current one is whatever set_device chose last (0 at first)."""
    state = {"current": 0, "set": []}

    def set_device(device):
        device = torch.device(device)
        state["current"] = device.index
        state["set"].append(device)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: state["current"])
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    return state


def test_resolve_device_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("auto") == torch.device("cpu")
    assert runtime.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'cuda:1' requested but CUDA is not available"):
        runtime.resolve_device("cuda:1")
    for bad in ("tpu", "cuda:x", "CPU", 3, None):
        with pytest.raises(ValueError, match=f"unknown device {re.escape(repr(bad))}"):
            runtime.resolve_device(bad)
    with pytest.raises(ValueError, match="use cpu, cuda or cuda:N"):
        runtime.resolve_device("auto", allow_auto=False)


def test_resolve_device_with_gpus(fake_gpus):
    assert runtime.resolve_device("auto") == torch.device("cuda", 0)
    fake_gpus["current"] = 1      # a rank that called set_device(1): plain "cuda" is its GPU
    assert runtime.resolve_device("cuda") == torch.device("cuda", 1)
    assert runtime.resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"'cuda:2' requested but only 2 GPU\(s\) are visible"):
        runtime.resolve_device("cuda:2")


def test_train_and_measure_resolve_devices_by_the_runtime(monkeypatch):
    from gconvlib.measure import protocol
    from gconvlib.train import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve_device is runtime.resolve_device
    for resolve in (device.resolve_device, protocol.resolve_device):
        with pytest.raises(ValueError, match="unknown device 'tpu'"):
            resolve("tpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve("cuda")


# -- CPUs -----------------------------------------------------------------------------------------

def test_cpu_count_is_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert runtime.cpu_count() == 3

    def unsupported(pid):
        raise OSError("no affinity here")

    monkeypatch.setattr(os, "sched_getaffinity", unsupported, raising=False)
    assert runtime.cpu_count() == 64


def test_one_cpu_count_for_the_library():
    from gconvlib.measure import layer_bench
    from gconvlib.train import device

    assert device.available_cpus is runtime.cpu_count
    assert getattr(layer_bench, "usable_cpus", runtime.cpu_count) is runtime.cpu_count


# -- process groups ----------------------------------------------------------------------------

@pytest.fixture
def fake_dist(monkeypatch, fake_gpus):
    """torch.distributed that records init_process_group's arguments (NCCL 'available')."""
    calls = {"init": [], "initialized": False, "rank": 0, "world": 1, "backend": None}

    def init_process_group(backend, **kwargs):
        calls["init"].append((backend, kwargs))
        # env:// (torchrun) takes rank and world size from the environment
        calls.update(initialized=True, backend=backend, rank=kwargs.get("rank", int(os.environ.get("RANK", 0))),
                     world=kwargs.get("world_size", int(os.environ.get("WORLD_SIZE", 1))))

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(dist, "is_initialized", lambda: calls["initialized"])
    monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: calls["world"])
    monkeypatch.setattr(dist, "get_rank", lambda group=None: calls["rank"])
    monkeypatch.setattr(dist, "get_backend", lambda group=None: calls["backend"])
    monkeypatch.setattr(dist, "destroy_process_group", lambda group=None: calls.update(initialized=False))
    for name in ("MASTER_ADDR", "MASTER_PORT", *runtime.TORCHRUN_ENV):
        monkeypatch.delenv(name, raising=False)
    calls["gpus"] = fake_gpus
    return calls


def test_nccl_process_group_gets_the_process_gpu(fake_dist):
    info = runtime.init_process_group(1, 2, "nccl", port=12345)
    backend, kwargs = fake_dist["init"][-1]
    assert backend == "nccl" and kwargs["device_id"] == torch.device("cuda", 1)
    assert fake_dist["gpus"]["set"] == [torch.device("cuda", 1)]      # set before NCCL starts
    assert info.device == "cuda:1" and info.local_rank == 1
    assert runtime.current().device == "cuda:1"


def test_gloo_process_group_touches_no_gpu(fake_dist):
    info = runtime.init_process_group(0, 2, "gloo", port=12345)
    assert fake_dist["init"][-1] == ("gloo", {"rank": 0, "world_size": 2})
    assert fake_dist["gpus"]["set"] == [] and info.device == "cpu"


def test_torchrun_nccl_group_gets_the_local_rank_gpu(fake_dist, monkeypatch):
    for name, value in (("RANK", "3"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    info = runtime.init_from_torchrun("cuda")
    backend, kwargs = fake_dist["init"][-1]
    assert backend == "nccl" and kwargs == {"device_id": torch.device("cuda", 1)}
    assert info.device == "cuda:1" and info.rank == 3 and info.nodes == 2


def test_spawned_worker_joins_nccl_on_its_gpu(fake_dist, tmp_path):
    """parallel.dist's worker (what spawn runs in each process): the rank's function sees its GPU."""
    from gconvlib.parallel import dist as pdist

    pdist._worker(1, _device_of_rank, 2, "nccl", 12345, None, str(tmp_path), (), {})
    assert fake_dist["init"][-1][1]["device_id"] == torch.device("cuda", 1)
    assert torch.load(tmp_path / "rank1.pt") == ("ok", "cuda:1")
    assert not fake_dist["initialized"]          # the group is destroyed when the rank ends


def _device_of_rank(rank, procs):
    return runtime.current().device


def test_parallel_check_all_gather_runs_on_the_process_device(monkeypatch):
    """NCCL moves CUDA tensors only: the check's all-gather gets tensors on the rank's device."""
    from gconvlib.parallel import check

    seen = []

    class Stop(Exception):
        pass

    def gather(x, group, world):
        seen.append(x.device)
        raise Stop

    monkeypatch.setattr(check, "gather_channels", gather)
    with pytest.raises(Stop):
        check._against_torch_all_gather(0, 2, 0, torch.device("meta"))
    assert seen == [torch.device("meta")]


def test_nccl_without_a_gpu_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
    with pytest.raises(runtime.ParallelError, match="backend 'nccl' needs a CUDA GPU and none is available"):
        runtime.init_process_group(0, 2, "nccl", port=12345)


# -- commit --------------------------------------------------------------------------------------

def _copy_without_git(tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    shutil.copytree(LIB, copy / "gconvlib", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


SHOW = ("import json, warnings; warnings.simplefilter('always'); from gconvlib import runtime, store; "
        "runtime.warn_if_commit_unknown('a reference run'); "
        "print(json.dumps({'state': store.git_state(), 'commit': store.provenance()['commit']}))")


@pytest.mark.parametrize("named", ["0123abcd" * 5, None])
def test_a_copy_without_git_records_gconv_commit_or_warns(tmp_path, named):
    import json

    copy = _copy_without_git(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCONV_", "GIT_"))}
    env.update(PYTHONPATH=str(copy), GIT_CEILING_DIRECTORIES=str(tmp_path))
    if named:
        env["GCONV_COMMIT"] = named
    out = subprocess.run([sys.executable, "-c", SHOW], cwd=copy, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)
    assert got["state"] == {"commit": named, "dirty": None} and got["commit"] == named
    assert ("UnknownCommitWarning" in out.stderr) is (named is None)


def test_git_wins_over_gconv_commit_in_a_checkout(monkeypatch):
    monkeypatch.setattr(runtime, "_git_state", lambda: ("f" * 40, False))
    monkeypatch.setenv("GCONV_COMMIT", "0" * 40)
    assert runtime.commit_state() == {"commit": "f" * 40, "dirty": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runtime.warn_if_commit_unknown("a reference run")


def test_gconv_reference_warns_when_the_commit_is_unknown(monkeypatch):
    from gconvlib import cli
    from gconvlib.measure import reference

    monkeypatch.setattr(runtime, "_git_state", lambda: (None, None))
    monkeypatch.delenv("GCONV_COMMIT", raising=False)
    monkeypatch.setattr(reference, "run_reference", lambda *a, **k: [])
    with pytest.warns(runtime.UnknownCommitWarning, match="gconv reference: the commit of this checkout is unknown"):
        assert cli.main(["reference", "--device", "cpu", "--smoke"]) == 0
    monkeypatch.setenv("GCONV_COMMIT", "a" * 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", runtime.UnknownCommitWarning)
        assert cli.main(["reference", "--device", "cpu", "--smoke"]) == 0
