"""Group-parallel GC-2L and data-parallel training (CPU, gloo, 2 processes, no network).

The multi-process tests spawn their processes on a free localhost port (``gconv parallel-check``'s
own machinery) or start ``torchrun``; everything else runs in this process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gconvlib import cli
from gconvlib.models import ModelSpec
from gconvlib.parallel import GroupParallelWideResNet, ParallelError, held_parameters, merge_state_dicts, \
    shard_state_dict
from gconvlib.parallel.check import batch, reference_model, run_check

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-5         # float32 training curves, one process vs two
CHECK_TOL = 1e-9   # parallel-check runs in float64 by default: rounding alone stays near 1e-15


# -- the sharded model, in several processes ------------------------------------------------------

def test_two_processes_equal_one_in_outputs_gradients_and_a_training_step(monkeypatch, capsys):
    """``gconv parallel-check`` with g = 4 on 2 processes (two groups per rank), in float64. The check
    draws the coarse weights and BN's affine parameters at random, so a wrongly sharded one shows."""
    from gconvlib.parallel import check
    from gconvlib.parallel.cost import comm_volume

    seen = {}

    def spy(*args, **kwargs):
        seen.update(run_check(*args, **kwargs))
        return seen

    monkeypatch.setattr(check, "run_check", spy)
    assert cli.main(["parallel-check", "--procs", "2", "--groups", "4", "--width", "1", "--batch-size", "6"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    key, value = lines[-1].split("=")
    assert key == "max_abs_diff" and float(value) <= CHECK_TOL
    assert "wrn28_1/gc2l:4" in lines[0] and "2 processes (gloo)" in lines[0] and "2 group(s)" in lines[0]
    assert "float64" in lines[0]
    d = seen["diffs"]
    assert set(d) == {"output", "gradient", "output_after_step", "weights_after_step"}
    assert max(d.values()) <= CHECK_TOL, d
    # our autograd all-gather agrees with torch.distributed.nn.functional.all_gather (values and grads)
    assert seen["collective_vs_torch"] <= 1e-6
    # what the collectives moved in that forward + backward is what the layer shapes say
    expected = comm_volume(seen["spec"], 6, 2)
    assert seen["counted_elements"] == {"all_gather": expected["all_gather"],
                                        "reduce_scatter": expected["reduce_scatter"],
                                        "all_reduce": expected["all_reduce"]}
    assert seen["held_parameters"] == [53_426, 53_426]   # hand-derived below


# -- the sharded model, in this process -----------------------------------------------------------

@pytest.mark.parametrize("text", ["wrn28_1/gc2l:4", "wrn28_1/gc2l:4:unfused", "wrn28_1/gc:4"])
def test_shards_of_every_rank_merge_back_into_the_single_process_weights(text):
    spec = ModelSpec(text, num_classes=10, input_size=16)
    single = reference_model(spec, 3)
    state = single.state_dict()
    parts = [shard_state_dict(state, single, r, 4) for r in range(4)]
    for r, part in enumerate(parts):   # each shard loads into its rank's module
        GroupParallelWideResNet(spec, r, 4).load_state_dict(part)
    merged = merge_state_dicts(parts, spec.build("meta"))
    assert merged.keys() == state.keys()
    assert all(torch.equal(merged[k], state[k]) for k in state)


def test_one_process_form_is_the_single_process_model():
    spec = ModelSpec("wrn28_1/gc2l:2", num_classes=10, input_size=16)
    single = reference_model(spec, 1)
    x, y = batch(spec, 4, 1)
    sharded = GroupParallelWideResNet.from_single(single, spec)
    a, b = single(x), sharded(x)
    F.cross_entropy(a, y).backward()
    sharded.backward(F.cross_entropy(b, y))
    assert (a - b).abs().max() <= TOL
    grads = merge_state_dicts([{n: p.grad for n, p in sharded.named_parameters()}], spec.build("meta"))
    assert max(float((grads[n] - p.grad).abs().max()) for n, p in single.named_parameters()) <= TOL
    assert sharded.single_state_dict().keys() == single.state_dict().keys()


# -- parameters per processor: hand-derived ------------------------------------------------------

# WRN-28-1 (widths 16/32/64, 10 classes). A GC-2L layer C_in -> C_out, k x k, g groups holds
# fine C_in C_out k^2 / g + restrict C_in k^2 + coarse g C_out parameters:
#   g = 2: stage 1, 8 convs 16->16 3x3: 1152 + 144 + 32 = 1328 each                 -> 10,624
#          stage 2: 16->32 3x3 2304+144+64 = 2512; 32->32 3x3 4608+288+64 = 4960 (x7);
#                   shortcut 16->32 1x1 256+16+64 = 336                             -> 37,568
#          stage 3: 32->64 9216+288+128 = 9632; 64->64 18432+576+128 = 19136 (x7);
#                   shortcut 32->64 1024+32+128 = 1184                              -> 144,768
#   g = 4: stage 1: 576+144+64 = 784 (x8) -> 6,272; stage 2: 1424 + 2720 x7 + 272 -> 20,736;
#          stage 3: 5152 + 10048 x7 + 800                                           -> 76,288
# BN (weight + bias) 1,824; stem 3->16 3x3 432; classifier 64 x 10 + 10 = 650.
# Totals: g = 2: 192,960 + 1,824 + 432 + 650 = 195,866; g = 4: 103,296 + 2,906 = 106,202.
# Per rank: everything but the classifier split P ways (BN with its channels, stem by filter),
# the classifier on every rank: (total - 650) / P + 650.
@pytest.mark.parametrize("text, procs, total, per_rank", [
    ("wrn28_1/gc2l:2", 2, 195_866, 98_258),
    ("wrn28_1/gc2l:4", 2, 106_202, 53_426),
    ("wrn28_1/gc2l:4", 4, 106_202, 27_038),
    ("wrn28_1/standard", 1, 369_498, 369_498),
])
def test_parameters_per_processor_are_exact(text, procs, total, per_rank):
    from gconvlib.complexity import count_spec

    spec = ModelSpec(text)
    assert count_spec(spec)["params"] == total
    assert held_parameters(spec, procs) == [per_rank] * procs


def test_the_chapter_reproduces_table_2_totals_and_shares():
    from gconvlib.chapters.gc2l_parallel import parameter_table

    table, evidence = parameter_table()
    assert table["ranks agree"].all() and table["ranks add up"].all()
    assert list(table["Params (M), ours (exact)"]) == [583.1, 292.0, 146.3, 1311.7, 656.5, 328.7, 2331.8, 1166.8, 584.0]
    assert all(str(p) == f"{o:.1f}" for p, o in zip(table["Params (M), paper (quoted)"], table["Params (M), ours (exact)"]))


# -- clear errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (dict(spec="wrn28_1/gc2l:4", world=3), "g = 4 groups cannot be split over 3 processes"),
    (dict(spec="wrn28_1/standard", world=2), "standard convolution has no groups to split"),
    (dict(spec="wrn28_1/shuffle:2", world=2), "scheme gc or gc2l"),
    (dict(spec="wrn28_1/gc2l:2", world=2, rank=2), "rank 2 is not in 0..1"),
])
def test_bad_splits_say_why(args, message):
    with pytest.raises(ParallelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GroupParallelWideResNet(args["spec"], args.get("rank", 0), args["world"], device="meta")


def test_cli_errors_are_one_line(capsys):
    assert cli.main(["parallel-check", "--procs", "2", "--groups", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "g = 3 groups cannot be split over 2 processes" in err and len(err.splitlines()) == 1
    if not torch.cuda.is_available():
        assert cli.main(["parallel-check", "--procs", "2", "--device", "cuda"]) == 2
        assert "backend 'nccl' needs a CUDA GPU" in capsys.readouterr().err


def test_world_size_mismatch_and_missing_backend():
    import torch.distributed as dist

    from gconvlib.parallel.dist import check_backend, free_port, init_process_group

    with pytest.raises(ParallelError, match="unknown backend 'mpi2'"):
        check_backend("mpi2")
    with pytest.raises(ParallelError, match="nccl' needs CUDA tensors"):
        check_backend("nccl", "cpu") if dist.is_nccl_available() else check_backend("nccl", "cuda")
    init_process_group(0, 1, "gloo", free_port())
    try:
        with pytest.raises(ParallelError, match="world size mismatch: the model is split over 2 processes but the "
                                                "process group has 1"):
            GroupParallelWideResNet("wrn28_1/gc2l:2", 0, 2)
    finally:
        dist.destroy_process_group()


# -- data-parallel training: torchrun + gconv train -------------------------------------------------

TRAIN = ["--model", "wrn28_1/gc2l:2", "--task", "cifar10", "--data", "standin", "--limit", "64", "--image-size", "16",
         "--batch-size", "24", "--epochs", "2", "--lr", "0.02", "--progress", "none", "--json"]


def test_torchrun_two_processes_train_the_single_process_run(tmp_path, monkeypatch, capsys):
    env = {**os.environ, "GCONV_RESULTS": str(tmp_path / "ddp" / "results"), "GCONV_CACHE": str(tmp_path / "ddp" / "cache"),
           "GCONV_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "gconvlib.cli",
                           "train", *TRAIN], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads(proc.stdout)   # only rank 0 prints
    run = ddp["run"]
    assert run["processes"] == 2 and run["devices"] == ["cpu", "cpu"] and run["backend"] == "gloo"
    assert run["distributed"]["kind"] == "DistributedDataParallel" and run["threads"] == 1
    stored = list((tmp_path / "ddp" / "results" / "train").glob("*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text())["result"]["run"]["processes"] == 2

    # the same run in this process, one thread, its own store: the same key, the same curves
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "one" / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "one" / "cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    threads = torch.get_num_threads()
    try:
        assert cli.main(["train", *TRAIN, "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    one = json.loads(capsys.readouterr().out)
    assert one["run"]["processes"] == 1 and one["run"]["devices"] == ["cpu"]
    assert [p.name for p in (tmp_path / "one" / "results" / "train").glob("*.json")] == [stored[0].name]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert ddp["curves"][key] == pytest.approx(one["curves"][key], abs=TOL), key
    assert ddp["test"]["loss"] == pytest.approx(one["test"]["loss"], abs=TOL)
    assert ddp["test"]["accuracy"] == one["test"]["accuracy"]
    assert ddp["timing"]["images_per_s"] > 0 and ddp["data"] == one["data"]


def test_batches_of_all_ranks_make_the_single_process_epoch():
    from gconvlib.train.data import Split

    class Bundle:
        train = list(range(10))
        in_channels, image_size = 1, 2

        def tensors(self, name, dtype=None, materialize=False):
            return torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2), torch.arange(10)

    split = Split(Bundle(), "train", torch.device("cpu"))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    single = list(split.batches(order, 4, drop_singleton=True))
    sharded = [list(split.batches(order, 4, drop_singleton=True, shard=(r, 3))) for r in range(3)]
    for i, (x, y, rows) in enumerate(single):
        pieces = [s[i] for s in sharded]
        assert torch.equal(torch.cat([p[1] for p in pieces]), y)
        assert all(p[3] == len(y) for p in pieces)                       # the whole batch's size
        assert pieces[0][2][0] == rows[0] and pieces[-1][2][1] == rows[1]  # contiguous positions
