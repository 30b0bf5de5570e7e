"""Resumable sweeps, reference files, experiment configurations and the CLI plumbing."""
from __future__ import annotations

import argparse
import csv
import math

import pandas as pd
import pytest
import torch

from gconvlib.measure import cli as C
from gconvlib.measure import sweep as S
from gconvlib.measure.protocol import EpfConfig, EpfProtocol, measure_epf

TINY = dict(num_classes=10, input_size=64)
CONFIGS = [EpfConfig("mobilenet_v1", "e2gc", 1, 1, **TINY), EpfConfig("mobilenet_v1", "fggc", 2, 1, **TINY)]
PROTOCOL = EpfProtocol(warmup_steps=0, window_s=0.05, min_trials=2, max_trials=2, cooldown_s=0.0, idle_s=0.0,
                       calibration_s=0.02, mode="eager")


pytestmark = pytest.mark.usefixtures("one_thread")


def fake_measure(calls, interrupt_after=None, advance=None):
    """A measure function with measure_epf's signature that records what it was asked to measure."""
    def measure(configs, protocol, device, meter=None, on_result=None, log=None):
        rows = []
        for c in configs:
            if interrupt_after is not None and len(calls) >= interrupt_after:
                raise KeyboardInterrupt  # the piece of the sweep is killed mid-group
            calls.append(c)
            if advance:
                advance()
            row = {**c.fields(), "epf_total_mj": 10.0 * len(calls), "epf_dynamic_mj": None, "cv": 0.01,
                   "ms_per_step": 1.5, "trials": 3, "energy_available": True}
            rows.append(row)
            on_result(row)
        return rows
    return measure


def test_sweep_resumes_after_interruption(tmp_path):
    out = tmp_path / "e2gc_cpu.csv"
    calls = []
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep("e2gc", CONFIGS, PROTOCOL, "cpu", out, measure=fake_measure(calls, interrupt_after=1))
    assert [c.scheme_kind for c in calls] == ["e2gc"]
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["scheme"] == "e2gc"  # saved as soon as it was finished

    calls.clear()
    summary = S.run_sweep("e2gc", CONFIGS, PROTOCOL, "cpu", out, measure=fake_measure(calls))
    assert [c.scheme_kind for c in calls] == ["fggc"]  # only the missing one
    assert (summary.measured, summary.skipped, summary.remaining) == (1, 1, 0)

    df = pd.read_csv(out)
    assert list(df.columns[:len(S.SWEEP_COLUMNS)]) == S.SWEEP_COLUMNS
    assert set(S.REQUIRED_COLUMNS) <= set(df.columns)
    assert list(df["scheme"]) == ["e2gc", "fggc"] and df["epf_dynamic_mj"].isna().all()
    assert (df["mode"] == "eager").all() and (df["experiment"] == "e2gc").all()

    calls.clear()
    summary = S.run_sweep("e2gc", CONFIGS, PROTOCOL, "cpu", out, measure=fake_measure(calls))
    assert calls == [] and summary.measured == 0 and summary.skipped == 2


def test_sweep_remeasures_under_another_protocol(tmp_path):
    out = tmp_path / "x.csv"
    calls = []
    S.run_sweep("e2gc", CONFIGS[:1], PROTOCOL, "cpu", out, measure=fake_measure(calls))
    other = EpfProtocol(**{**PROTOCOL.__dict__, "window_s": 0.1})
    S.run_sweep("e2gc", CONFIGS[:1], other, "cpu", out, measure=fake_measure(calls))
    assert len(calls) == 2 and len(pd.read_csv(out)) == 2


def test_sweep_time_budget_stops_between_configurations(tmp_path):
    now = [0.0]
    calls = []
    configs = [EpfConfig("mobilenet_v1", "e2gc", 1, b, **TINY) for b in (1, 2, 4)]  # three groups

    def advance():
        now[0] += 8.0

    summary = S.run_sweep("e2gc", configs, PROTOCOL, "cpu", tmp_path / "b.csv", time_budget_s=10.0,
                          measure=fake_measure(calls, advance=advance), clock=lambda: now[0],
                          setup_estimate_s=1.0)
    # the first fits the estimate; after it, 8 s per configuration is known and 2 s are left
    assert len(calls) == 1 and summary.stopped_by_budget and summary.remaining == 2
    summary = S.run_sweep("e2gc", configs, PROTOCOL, "cpu", tmp_path / "b.csv", time_budget_s=0.0,
                          measure=fake_measure(calls), clock=lambda: now[0])
    assert len(calls) == 1 and summary.measured == 0  # nothing fits in no time


def test_real_sweep_on_cpu_writes_nan_energy(tmp_path):
    out = tmp_path / "real.csv"
    summary = S.run_sweep("e2gc", CONFIGS[:1], PROTOCOL, "cpu", out)
    assert summary.measured == 1
    df = pd.read_csv(out)
    assert set(S.REQUIRED_COLUMNS) <= set(df.columns)
    row = df.iloc[0]
    assert row["ms_per_step"] > 0 and row["trials"] == 2
    if row["meter"] == "none":
        assert math.isnan(row["epf_total_mj"]) and not row["energy_available"]
    assert S.run_sweep("e2gc", CONFIGS[:1], PROTOCOL, "cpu", out).measured == 0


def test_experiment_configurations():
    configs = S.e2gc_configs()
    assert len(configs) == 66 and len(set(configs)) == 66
    per_model = [c for c in configs if c.model == "mobilenet_v1" and c.batch_size == 4]
    assert [(c.scheme_kind, c.k) for c in per_model] == (
        [("e2gc", g) for g in (1, 2, 4, 8, 16, 32)] + [("fggc", g) for g in (2, 4, 8, 16, 32)])
    assert {c.batch_size for c in configs} == {1, 4, 16} and {c.input_size for c in configs} == {224}
    assert len(S.e2gc_configs(batch_sizes=(1,), models=("resnext50",))) == 11

    gc2l = S.gc2l_overhead_configs()
    assert len(gc2l) == 12 and {c.model for c in gc2l} == {"wrn28_10"}
    assert {(c.scheme_kind, c.k) for c in gc2l} == {(k, g) for k in ("gc", "gc2l", "gc2l_unfused") for g in (2, 4, 8, 16)}
    assert S.vgg_latency_variants() == ("baseline", "A", "B", "C", "D", "E")


def test_reference_paths_and_loading(tmp_path):
    assert S.device_slug("NVIDIA H100 80GB HBM3") == "nvidia_h100_80gb_hbm3"
    p = S.reference_path("e2gc", "NVIDIA H100 80GB HBM3", tmp_path)
    assert p == tmp_path / "e2gc_nvidia_h100_80gb_hbm3.csv"
    assert S.reference_path("e2gc", "x").parent == S.REFERENCE_DIR

    empty = S.load_reference("e2gc", tmp_path)
    assert empty.empty and list(empty.columns) == S.SWEEP_COLUMNS

    S.write_csv_rows(p, [{"experiment": "e2gc", "model": "mobilenet_v1", "k": 1, "epf_total_mj": 1.5}], S.SWEEP_COLUMNS)
    S.write_csv_rows(S.reference_path("e2gc", "NVIDIA H200", tmp_path),
                     [{"experiment": "e2gc", "model": "resnext50", "k": 32, "epf_total_mj": None}], S.SWEEP_COLUMNS)
    S.write_csv_rows(tmp_path / "e2gc_extra_nvidia_h200.csv",  # another experiment sharing the prefix
                     [{"experiment": "e2gc_extra", "model": "x"}], S.SWEEP_COLUMNS)
    df = S.load_reference("e2gc", tmp_path)
    assert sorted(df["model"]) == ["mobilenet_v1", "resnext50"]
    assert df["epf_total_mj"].isna().sum() == 1  # missing stays missing, never 0


# -- CLI ------------------------------------------------------------------------------------------

def parser():
    p = argparse.ArgumentParser(prog="gconv")
    C.add_subcommands(p.add_subparsers(dest="command"))
    return p


def run_cli(argv):
    args = parser().parse_args(argv)
    return args.func(args)


def test_cli_bad_device_is_an_error_message(capsys):
    assert run_cli(["energy", "sweep", "--experiment", "e2gc", "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert run_cli(["energy", "sweep", "--experiment", "e2gc", "--device", "cpu", "--window-s", "0"]) == 2
    assert "window_s must be > 0" in capsys.readouterr().err
    assert run_cli(["latency", "--batch-sizes", "0"]) == 2


def test_cli_sweep_plumbing(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_run_sweep(name, configs, protocol, device, out, budget, log=None):
        seen.update(name=name, configs=configs, protocol=protocol, device=device, out=out, budget=budget)
        return S.SweepSummary(out, 0, 0, len(configs), False)

    monkeypatch.setattr(C, "run_sweep", fake_run_sweep)
    rc = run_cli(["energy", "sweep", "--experiment", "e2gc", "--device", "cpu", "--models", "mobilenet_v1",
                  "--batch-sizes", "1", "4", "--mode", "eager", "--window-s", "2", "--time-budget-s", "300",
                  "--out", str(tmp_path / "o.csv")])
    assert rc == 0
    assert seen["name"] == "e2gc" and len(seen["configs"]) == 22 and seen["device"] == "cpu"
    assert seen["protocol"].mode == "eager" and seen["protocol"].window_s == 2.0 and seen["budget"] == 300.0
    assert "remaining 22" in capsys.readouterr().out


def test_cli_bench_table_and_status(monkeypatch, capsys):
    def fake_measure(configs, protocol, device, log=None):
        assert protocol.min_trials == protocol.max_trials == 5
        return [{**c.fields(), "ms_per_step": 1.4, "epf_total_mj": 100.0, "epf_dynamic_mj": 40.0,
                 "cv": 0.005 if c.batch_size < 16 else 0.03, "cv_quantity": "epf_total_mj", "device": "Fake",
                 "mode": protocol.mode, "meter": "nvml_energy", "energy_available": True,
                 "unavailable_reason": None} for c in configs]

    monkeypatch.setattr(C, "measure_epf", fake_measure)
    assert run_cli(["energy", "bench", "--device", "cpu", "--batch-sizes", "1", "4"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and out.count("mobilenet_v1") == 2 and out.count("resnext50") == 2
    assert run_cli(["energy", "bench", "--device", "cpu", "--batch-sizes", "16", "--models", "resnext50"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_latency_writes_csv(tmp_path, capsys):
    out = tmp_path / "lat.csv"
    rc = run_cli(["latency", "--model", "vgg13_bn", "--variants", "E", "--batch-sizes", "1", "--input-size", "32",
                  "--repeats", "2", "--warmup", "0", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df.columns[:len(S.LATENCY_COLUMNS)]) == S.LATENCY_COLUMNS
    assert df.loc[0, "experiment"] == "latency_vgg13_bn" and df.loc[0, "ms_per_image_median"] > 0
    assert "median ms/img" in capsys.readouterr().out


def test_measure_epf_signature_is_what_run_sweep_calls():
    import inspect

    params = inspect.signature(measure_epf).parameters
    assert list(params)[:3] == ["configs", "protocol", "device"] and "meter" in params and "on_result" in params
