"""One store record per measured cell: cache hits, failures stored as values, budgets, CSV export,
and the ``gconv energy`` / ``gconv latency`` commands on top (fake measurements, no device)."""
from __future__ import annotations

import csv
import json

import pytest

from gconvlib.measure import records as R
from gconvlib.store import ResultsStore


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def fake_measure(log, clock=None, cost=10.0, fail=()):
    """A measure function: records which cells it was asked for, each costs ``cost`` fake seconds;
    cells named in ``fail`` come back failed; a cell named "boom" makes it raise."""
    def measure(cells, on_result):
        for c in cells:
            if c == "boom":
                raise RuntimeError("device lost")
            log.append(c)
            if clock is not None:
                clock.t += cost
            on_result(c, {"status": f"failed: {c} broke"} if c in fail else {"status": "ok", "value": len(c)})
    return measure


def run(store, cells, log, **kw):
    return R.run_cells(store, "epf", cells, spec_of=lambda c: {"model": c},
                       code_of=lambda c: ("gconvlib.measure.records",),
                       measure=kw.pop("measure", fake_measure(log)), **kw)


def test_a_second_call_reads_every_record_and_measures_nothing(tmp_path):
    store, log = ResultsStore(tmp_path), []
    first = run(store, ["a", "bb", "a"], log)
    assert log == ["a", "bb"] and first.measured == 2 and first.cached == 0   # "a" twice: measured once
    assert [r["result"]["value"] for r in first.records] == [1, 2, 1]
    again = run(store, ["a", "bb"], log)
    assert log == ["a", "bb"] and again.measured == 0 and again.cached == 2
    assert [r["key"] for r in again.records] == [r["key"] for r in first.records[:2]]


def test_a_failed_cell_is_stored_as_a_value_and_the_sweep_goes_on(tmp_path):
    store, log = ResultsStore(tmp_path), []
    out = run(store, ["a", "bad", "c"], log, measure=fake_measure(log, fail=("bad",)))
    assert log == ["a", "bad", "c"] and out.failed == 1 and out.remaining == 0
    assert out.records[1]["result"]["status"] == "failed: bad broke"
    assert run(store, ["bad"], log).cached == 1 and log == ["a", "bad", "c"]     # a value: not redone
    assert run(store, ["bad"], log, retry_failed=True).measured == 1 and log[-1] == "bad"


def test_an_exception_marks_the_rest_of_its_group_failed_and_other_groups_go_on(tmp_path):
    store, log = ResultsStore(tmp_path), []
    out = run(store, ["a", "boom", "x"], log, group_of=lambda c: c == "x")
    assert [r["result"]["status"] for r in out.records] == ["ok", "failed: RuntimeError: device lost",
                                                            "ok"]
    assert log == ["a", "x"]


def test_budget_stops_between_cells_and_the_next_call_continues(tmp_path):
    store, log, clock = ResultsStore(tmp_path), [], FakeClock()
    measure = fake_measure(log, clock, cost=10.0)
    cells = ["a", "b", "c", "d"]
    out = run(store, cells, log, measure=measure, estimate_s=lambda c: 10.0, budget=R.Budget(25.0, clock))
    assert out.stopped and log == ["a", "b"] and out.remaining == 2 and out.skipped == ["c", "d"]
    out = run(store, cells, log, measure=measure, estimate_s=lambda c: 10.0, budget=R.Budget(25.0, clock))
    assert not out.stopped and log == ["a", "b", "c", "d"] and out.cached == 2 and out.measured == 2


def test_export_csv_one_file_per_device_with_provenance_in_every_row(tmp_path):
    store = ResultsStore(tmp_path / "store")
    records = []
    for device, model in (("NVIDIA H200", "m/e2gc:1"), ("NVIDIA H200", "m/gc:2"), ("Tesla P100", "m/gc:2")):
        records.append(store.put("epf", {"model": model, "batch_size": 1, "device": device, "mode": "graph",
                                         "protocol": {"window_s": 1.0}},
                                 {"status": "ok", "device": device, "driver": "580.1", "torch": "2.11.0",
                                  "commit": "abc", "measured_at": "2026-12-02T10:00:00+00:00",
                                  "trial_epf_mj": [1.0, 2.0]}))
    paths = R.export_csv(records, "e2gc_epf", tmp_path)
    assert sorted(p.name for p in paths) == ["e2gc_epf_nvidia_h200.csv", "e2gc_epf_tesla_p100.csv"]
    with open(tmp_path / "e2gc_epf_nvidia_h200.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["m/e2gc:1", "m/gc:2"]
    for r in rows:
        assert (r["experiment"], r["device"], r["driver"], r["torch"], r["commit"]) == (
            "e2gc_epf", "NVIDIA H200", "580.1", "2.11.0", "abc")
        assert r["measured_at"] and r["record_key"] and json.loads(r["trial_epf_mj"]) == [1.0, 2.0]
        assert json.loads(r["protocol"]) == {"window_s": 1.0}


def test_latest_records_newest_per_spec_whatever_the_code(tmp_path):
    store = ResultsStore(tmp_path)
    spec = {"model": "m/gc:2", "batch_size": 1}
    store.put("epf", spec, {"status": "ok", "v": 1}, code=("gconvlib.measure.records",))
    import time

    time.sleep(1.1)  # provenance times have one-second resolution
    store.put("epf", spec, {"status": "ok", "v": 2}, code=("gconvlib.measure.window",))
    store.put("epf", {"model": "m/gc:4", "batch_size": 1}, {"status": "ok", "v": 3})
    found = R.latest_records(store, "epf")
    assert sorted(r["result"]["v"] for r in found) == [2, 3]
    assert [r["result"]["v"] for r in R.latest_records(store, "epf", lambda r: r["spec"]["model"] == "m/gc:2")] == [2]


def test_budget():
    clock = FakeClock()
    b = R.Budget(10.0, clock)
    clock.t = 4.0
    assert b.left() == 6.0 and b.fits(6.0) and not b.fits(6.5)
    assert R.Budget(None, clock).fits(1e9)
    with pytest.raises(ValueError):
        R.Budget(-1.0)


# -- the commands -----------------------------------------------------------------------------

def test_cli_bad_device_is_an_error_message(capsys):
    from gconvlib.cli import main

    assert main(["energy", "sweep", "--experiment", "e2gc", "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_cli_sweep_stores_records_and_writes_the_csv(monkeypatch, tmp_path, capsys):
    from gconvlib.cli import main
    from gconvlib.measure import protocol as P

    seen = []

    def fake_measure_epf(cells, protocol, device, meter=None, on_result=None, **kw):
        seen.append((protocol.window_s, protocol.mode, [c.spec.text for c in cells]))
        for c in cells:
            on_result(c, {"status": "ok", "device": "Fake CPU", "ms_per_step": 1.0, "measured_at": "2026-12-01"})

    monkeypatch.setattr(P, "measure_epf", fake_measure_epf)
    args = ["energy", "sweep", "--experiment", "gc2l_overhead", "--device", "cpu", "--batch-sizes", "4",
            "--window-s", "0.5", "--out", str(tmp_path)]
    assert main(args) == 0
    assert [s[:2] for s in seen] == [(0.5, "graph")] * 4                        # one group per g
    assert seen[0][2] == ["wrn28_10/gc:2", "wrn28_10/gc2l:2", "wrn28_10/gc2l:2:unfused"]  # compared at one g
    out = capsys.readouterr().out
    assert "measured 12, already stored 0" in out and "gc2l_overhead_fake_cpu.csv" in out
    assert main(args) == 0 and len(seen) == 4                                    # nothing measured again
    assert "measured 0, already stored 12" in capsys.readouterr().out


def test_cli_latency_prints_and_writes(tmp_path, capsys):
    from gconvlib.cli import main

    assert main(["latency", "--variants", "E", "--batch-sizes", "1", "--repeats", "2", "--warmup", "0",
                 "--input-size", "32", "--threads", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "vgg13_bn/E/size=32" in out and "wrote" in out
    assert list(tmp_path.glob("vgg_latency_*.csv")) and list((tmp_path / "latency").glob("*.json"))


def test_the_journal_keeps_trials_until_their_cell_is_stored(tmp_path):
    j = R.Journal(tmp_path / "journal" / "epf.jsonl")
    assert j.trials("a") == []
    j.add("a", {"steps": 10, "seconds": 1.0})
    j.add("b", {"steps": 20, "seconds": 2.0})
    j.add("a", {"steps": 11, "seconds": 1.1})
    with open(j.path, "a") as f:
        f.write('{"key": "a", "trial": {"steps": 1')          # a kill in the middle of a write
    assert [t["steps"] for t in R.Journal(j.path).trials("a")] == [10, 11]
    j.drop("a")
    assert j.trials("a") == [] and [t["steps"] for t in j.trials("b")] == [20]
    j.drop("b")
    assert not j.path.exists()


def test_a_budget_from_process_start_counts_the_start_up(monkeypatch):
    clock = FakeClock()
    clock.t = 100.0
    monkeypatch.setattr(R, "process_age_s", lambda: 30.0)     # 30 s of imports and CUDA start-up
    b = R.Budget.from_process_start(60.0, clock, reserve_s=10.0)
    assert b.spent() == 30.0 and b.left() == 20.0 and not b.fits(25.0)


def test_process_age_counts_the_time_before_the_import():
    import subprocess
    import sys

    code = ("import time; time.sleep(0.5); from gconvlib.measure.records import process_age_s; "
            "print(process_age_s())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert float(out.stdout) >= 0.5        # the sleep before the import is inside


def test_the_pace_learned_on_one_group_sizes_the_next(tmp_path):
    """Cells take twice their estimate: after the first group the next cells are estimated at 10 s
    each, so with 18 s left only one of them starts (at 5 s each, both would)."""
    store, log, clock = ResultsStore(tmp_path), [], FakeClock()
    pace, budget = R.Pace(), R.Budget(38.0, clock)
    measure = fake_measure(log, clock, cost=10.0)
    run(store, ["a", "b"], log, measure=measure, estimate_s=lambda c: 5.0, budget=budget, pace=pace)
    assert pace.factor("epf") == 2.0 and clock.t == 20.0
    out = run(store, ["c", "d"], log, measure=measure, estimate_s=lambda c: 5.0, budget=budget, pace=pace)
    assert log == ["a", "b", "c"] and out.stopped and out.skipped == ["d"]


def test_a_journal_line_added_while_another_cell_is_dropped_is_kept(tmp_path):
    # a drop reads the file and writes it back without the finished cell: a line another process
    # appends in between must survive (the journal's lock); threads stand in for the processes
    import threading

    path = tmp_path / "journal" / "epf.jsonl"
    R.Journal(path).add("finished", {"steps": 0})
    adds = 300

    def add_many():
        j = R.Journal(path)
        for i in range(adds):
            j.add("running", {"steps": i})

    writer = threading.Thread(target=add_many)
    writer.start()
    while writer.is_alive():
        R.Journal(path).add("finished", {"steps": 1})
        R.Journal(path).drop("finished")
    writer.join()
    assert [t["steps"] for t in R.Journal(path).trials("running")] == list(range(adds))
