"""``gconv reference``: the CPU dry run end to end on a bare GPU node's Python, resumption, the
budget, and the plan of the GPU run."""
from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gconvlib.measure import reference as REF
from gconvlib.runtime import cpu_name
from gconvlib.measure.records import device_slug
from gconvlib.store import REFERENCE_DIR, ResultsStore

ROOT = Path(__file__).resolve().parent.parent

# Everything installed is made unimportable except a bare GPU node's packages (torch, numpy,
# pandas, pyyaml, tqdm, nvidia-ml-py, filelock) and what they need: sys.modules[name] = None makes
# "import name" raise ModuleNotFoundError and importlib.util.find_spec(name) return None.
BARE_NODE = textwrap.dedent('''
    import importlib.metadata as md, re, sys
    ALLOWED = ("torch", "numpy", "pandas", "PyYAML", "tqdm", "nvidia-ml-py", "filelock")
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
    todo, allowed = [norm(n) for n in ALLOWED], set()
    while todo:
        name = todo.pop()
        if name in allowed:
            continue
        allowed.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        todo += [norm(m.group(1)) for r in reqs if "extra ==" not in r
                 for m in [re.match(r"\\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)] if m]
    blocked = sorted(top for top, dists in md.packages_distributions().items()
                     if top != "gconvlib" and top not in sys.stdlib_module_names
                     and not any(norm(d) in allowed for d in dists))
    for name in blocked:
        sys.modules[name] = None
    print("blocked:", " ".join(blocked), flush=True)
''')


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """``python -m gconvlib.cli reference --device cpu --smoke`` from the repository, on a bare node."""
    out = tmp_path_factory.mktemp("reference")
    code = BARE_NODE + textwrap.dedent(f'''
        import runpy
        sys.argv = ["gconv", "reference", "--device", "cpu", "--smoke", "--out", {str(out)!r}]
        runpy.run_module("gconvlib.cli", run_name="__main__")
    ''')
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out, proc


def test_the_dry_run_runs_every_part_on_a_bare_node(dry_run):
    out, proc = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    blocked = proc.stdout.splitlines()[0].split()[1:]
    assert {"papermill", "pooch", "jupyter_book", "matplotlib", "PIL", "torchvision"} <= set(blocked)
    text = proc.stdout
    for number in range(1, 9):   # every part announced with its estimate, then done, nothing failed
        assert f"\npart {number}: " in text and "estimate ~" in text
        assert f"part {number} done in " in text
    assert "failed 0" in text and "failed 1" not in text and "the reference is complete." in text
    store = ResultsStore(out)
    kinds = {kind: store.records(kind) for kind in ("environment", "epf", "latency", "conv_share", "train_bench")}
    assert {k: len(v) for k, v in kinds.items()} == {"environment": 1, "epf": 16, "latency": 2, "conv_share": 1,
                                                      "train_bench": 1}
    assert all(r["result"]["status"] == "ok" for v in kinds.values() for r in v)
    env = kinds["environment"][0]["result"]
    assert env["device_type"] == "cpu" and env["counter"].startswith(("unavailable", "readable"))
    slug = device_slug(cpu_name())
    experiments = {p.name.removesuffix(f"_{slug}.csv") for p in out.glob("*.csv")}
    assert experiments == {"environment", "e2gc_epf", "vgg_latency", "gc2l_overhead", "gc2l_conv_share",
                           "train_bench", "e2gc_epf_eager", "gc2l_comparison", "vgg_train_step"}
    with open(out / f"e2gc_epf_{slug}.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8    # MobileNet-V1 (part 2) and ResNeXt-50 (part 5) in one file
    for r in rows:
        assert r["device"] and r["torch"] and r["measured_at"] and r["status"] == "ok" and "commit" in r
        assert r["memory_format"] == "channels_last" and '"cudnn_allow_tf32": false' in r["backend_flags"]
    assert not (out / "journal" / "epf.jsonl").exists()      # every journalled cell was stored


def test_a_second_dry_run_measures_nothing_again(dry_run, monkeypatch, process_age):
    out, proc = dry_run
    assert proc.returncode == 0
    from gconvlib.measure import protocol as P
    from gconvlib.train import bench

    def refuse(*args, **kwargs):
        raise AssertionError("measured again")

    for module, name in ((P, "measure_epf"), (REF, "measure_latency"), (REF, "measure_conv_share"),
                         (bench, "benchmark_training")):
        monkeypatch.setattr(module, name, refuse)
    said = []
    reports = REF.run_reference("cpu", 60.0, out, smoke=True, log=said.append)
    assert [r.measured for r in reports] == [1, 0, 0, 0, 0, 0, 0, 0]   # only the environment check of this call
    assert [r.stored for r in reports][1:] == [r.cells for r in reports][1:]
    assert any("all 6 cells stored already" in s for s in said)


# -- resumption and the budget, with a fake plan and a fake clock ---------------------------------

class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def process_age(monkeypatch):
    """The process's age when the budget starts (fake seconds; 0 unless a test sets it)."""
    from gconvlib.measure import records

    age = {"s": 0.0}
    monkeypatch.setattr(records, "process_age_s", lambda: age["s"])
    return age


def fake_plan(clock, measured, cost2=10.0, graph_check="ok"):
    """Part 1 (1 s, every call; its CUDA-graph check says ``graph_check``), part 2 (2 graph-mode
    cells, ``cost2`` s each), part 3 (2 cells), part 4 (1 cell); 10 s a cell estimated."""
    def task(kind, cells, cost, always=False, estimate=None, needs_graphs=False, ctx=None):
        def measure(chunk, on_result):
            for c in chunk:
                measured.append(c)
                clock.t += cost
                if always:
                    ctx.graph_capture = graph_check
                on_result(c, {"status": "ok"})
        return REF.Task(kind, kind, cells, measure, lambda c: {"cell": c}, lambda c: ("gconvlib.measure.records",),
                        lambda c: estimate or cost, always=always, needs_graphs=needs_graphs)

    def make(ctx):
        return [REF.Part(1, "check", [task("environment", [f"env@{clock.t}"], 1.0, always=True, ctx=ctx)]),
                REF.Part(2, "two", [task("epf", ["a", "b"], cost2, estimate=10.0, needs_graphs=True)]),
                REF.Part(3, "three", [task("epf", ["c", "d"], 10.0)]),
                REF.Part(4, "four", [task("latency", ["e"], 10.0)])]
    return make


def test_an_interrupted_run_continues_where_it_stopped(tmp_path, process_age):
    clock, measured = FakeClock(), []
    def run():
        return REF.run_reference("cpu", 25.0, tmp_path, make_plan=fake_plan(clock, measured), clock=clock,
                                 meter=object(), log=said.append, reserve_s=0.0)

    said = []
    first = run()
    assert measured == ["env@0.0", "a", "b"]                 # part 3 does not fit in the 4 s left
    assert [(r.number, r.measured, r.stopped) for r in first] == [(1, 1, False), (2, 2, False), (3, 0, True),
                                                                   (4, 0, False)]
    assert any("run the same command again" in s.lower() for s in said)
    plan = said[1:7]
    assert plan[1].split()[:4] == ["1", "1", "0", "1.0s"] and plan[3].split()[:4] == ["3", "2", "0", "20s"]
    second = run()
    assert measured[3:] == ["env@21.0", "c", "d"]            # parts 1-2 not measured again, part 4 waits
    assert [(r.number, r.stored, r.measured) for r in second] == [(1, 0, 1), (2, 2, 0), (3, 0, 2), (4, 0, 0)]
    run()
    assert measured[6:] == ["env@42.0", "e"]
    said.clear()
    assert [r.measured for r in run()] == [1, 0, 0, 0] and "the reference is complete." in said[-1]


def test_the_budget_counts_from_the_start_of_the_process(tmp_path, process_age):
    """45 s from a process 20 s old (imports, CUDA start-up): part 3 no longer fits after part 2."""
    clock, measured = FakeClock(), []
    process_age["s"] = 20.0
    REF.run_reference("cpu", 45.0, tmp_path, make_plan=fake_plan(clock, measured), clock=clock, meter=object(),
                      log=lambda m: None, reserve_s=0.0)
    assert measured == ["env@0.0", "a", "b"]
    clock, measured = FakeClock(), []
    process_age["s"] = 0.0        # counted from the command's own start, part 3 would have run
    REF.run_reference("cpu", 45.0, tmp_path / "fresh", make_plan=fake_plan(clock, measured), clock=clock,
                      meter=object(), log=lambda m: None, reserve_s=0.0)
    assert measured == ["env@0.0", "a", "b", "c", "d"]


def test_the_reserve_is_kept_for_the_end(tmp_path, process_age):
    clock, measured = FakeClock(), []
    REF.run_reference("cpu", 45.0, tmp_path, make_plan=fake_plan(clock, measured), clock=clock, meter=object(),
                      log=lambda m: None, reserve_s=10.0)
    assert measured == ["env@0.0", "a", "b", "c"]          # 45 - 10 reserved: d no longer fits


def test_the_pace_of_part_2_sizes_part_3(tmp_path, process_age):
    """Part 2's cells take 20 s where 10 s were estimated: part 3's cells are estimated at 20 s too,
    so with 19 s left none of them starts (at 10 s one would, and a slow one would overrun the call)."""
    clock, measured = FakeClock(), []
    reports = REF.run_reference("cpu", 60.0, tmp_path, make_plan=fake_plan(clock, measured, cost2=20.0), clock=clock,
                                meter=object(), log=lambda m: None, reserve_s=0.0)
    assert measured == ["env@0.0", "a", "b"] and reports[2].stopped


def test_a_failed_capture_check_skips_the_graph_parts_without_storing_them(tmp_path, process_age):
    clock, measured, said = FakeClock(), [], []
    reports = REF.run_reference("cpu", None, tmp_path, clock=clock, meter=object(), log=said.append,
                                make_plan=fake_plan(clock, measured, graph_check="failed: RuntimeError: capture"))
    assert measured == ["env@0.0", "c", "d", "e"]           # part 2 (graph mode) not run
    assert [(r.number, r.measured, r.skipped) for r in reports] == [(1, 1, False), (2, 0, True), (3, 2, False),
                                                                    (4, 1, False)]
    assert ResultsStore(tmp_path).records("epf") and not any(
        r["spec"]["cell"] in ("a", "b") for r in ResultsStore(tmp_path).records("epf"))
    assert any("skipped, the CUDA-graph capture check failed (failed: RuntimeError: capture)" in s for s in said)
    measured.clear()                                        # the next call, capture fixed: part 2 runs
    REF.run_reference("cpu", None, tmp_path, clock=clock, meter=object(), log=said.append,
                      make_plan=fake_plan(clock, measured))
    assert measured[1:] == ["a", "b"]


def test_cpu_and_dry_runs_never_write_into_the_committed_reference():
    with pytest.raises(ValueError, match="a cpu run writes elsewhere"):
        REF.run_reference("cpu", 10.0, REFERENCE_DIR, plan_only=True, log=lambda m: None)
    with pytest.raises(ValueError, match="a dry run writes elsewhere"):
        REF.run_reference("cuda", 10.0, REFERENCE_DIR, smoke=True, plan_only=True, log=lambda m: None)


def test_the_gpu_plan_fits_the_budget():
    said = []
    reports = REF.run_reference("cuda", 480.0, plan_only=True, log=said.append)
    cells = {r.number: r.cells for r in reports}
    assert cells == {1: 1, 2: 33, 3: 12, 4: 15, 5: 33, 6: 1, 7: 9, 8: 28}
    core = sum(r.estimate_s for r in reports if r.number <= 7)
    assert 300 < core < 430   # parts 1-7 in about 7 minutes, with room under 8; part 8 when time is left
    assert REF.epf_cell_seconds(REF.EpfCell("mobilenet_v1/e2gc:4", 1), REF.PAPER_SIZES.epf) == pytest.approx(
        0.6 + 3 * (1.0 + 0.1))
    assert any(line.startswith("total estimate ~") for line in said)


def test_filelock_comes_with_torch():
    """The reference path writes through the results store, which locks with filelock: fine on a
    bare node because every torch installation brings it (a requirement of torch itself)."""
    import importlib.metadata as md
    import re

    assert "filelock" in {re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in md.requires("torch")}
