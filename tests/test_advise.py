"""`gconv advise` (gconvlib.advise): the search and the fit on a synthetic device with a known
optimum, the within-noise rule, and one real CPU run that a second call repeats from the store.

The synthetic device's cost is computed here from the hook counts of the built models
(gconvlib.complexity.layer_stats), not from gconvlib.group_size's formulas:
cost(variant) = OFFSET + SCALE * sum over conv/FC layers of M^(1-BETA) (A + P/B)^BETA.
With BETA > 1 it has an interior optimum in G; a fit that ignored beta (beta <= 1 makes the cost
fall monotonically towards G = 1) or a search that returned the first G would miss it.
"""
import re

import pytest

from gconvlib import advise as AD
from gconvlib.complexity import layer_stats
from gconvlib.measure.experiments import E2GC_VARIANTS
from gconvlib.models import ModelSpec

MODEL, SIZE, B = "mobilenet_v1", 112, 1
BETA, SCALE, OFFSET = 1.7, 3e-4, 250.0


@pytest.fixture(scope="module")
def device_cost():
    """Every variant's cost on the synthetic device, from the hook counts of the model itself."""
    cost = {}
    for v in E2GC_VARIANTS:
        spec = ModelSpec(MODEL, v, input_size=SIZE)
        stats = layer_stats(spec.build("meta"), SIZE)
        cost[v] = OFFSET + SCALE * sum(s.macs ** (1 - BETA) * (s.activations + s.params / B) ** BETA for s in stats)
    return cost


class SyntheticDevice:
    """``measure`` for :func:`gconvlib.advise.search`: each new variant costs one second of a fake
    clock; variants seen before come back from its memory (as from a results store)."""

    def __init__(self, cost, half_spread=0.0):
        self.cost, self.half_spread, self.now, self.seen = cost, half_spread, 0.0, {}

    def clock(self):
        return self.now

    def __call__(self, variants):
        new = 0
        for v in variants:
            if v not in self.seen:
                self.now += 1.0
                new += 1
                c = self.cost[v]
                self.seen[v] = AD.Measurement(v, c, (c - self.half_spread, c + self.half_spread))
        return [self.seen[v] for v in variants], new


def _search(device, **kw):
    return AD.search(MODEL, device, batch_size=B, input_size=SIZE, budget_s=kw.pop("budget_s", None),
                     clock=device.clock, **kw)


def test_synthetic_device_has_an_interior_optimum_outside_the_initial_design(device_cost):
    best = min((v for v in device_cost if v.startswith("e2gc:")), key=device_cost.get)
    assert best not in AD.INITIAL and best != "e2gc:1" and best != "e2gc:32"


def test_search_and_fit_find_the_known_optimum(device_cost):
    device = SyntheticDevice(device_cost)
    advice = _search(device)
    truth = min((v for v in device_cost if v.startswith("e2gc:")), key=device_cost.get)
    assert advice.recommended == truth and advice.measured_best == truth
    assert advice.state.row["beta"] == pytest.approx(BETA, rel=1e-4)
    assert advice.state.row["scale"] == pytest.approx(SCALE, rel=1e-3)
    # the search stopped by itself before measuring everything
    assert len(advice.order) < len(E2GC_VARIANTS) and "could beat" in advice.stop_reason
    # savings against G = 1, recomputed from the device's own costs
    expect = 100 * (device_cost["e2gc:1"] - device_cost[truth]) / device_cost["e2gc:1"]
    assert advice.saving_pct("e2gc:1", predicted=False) == pytest.approx(expect, rel=1e-9)
    assert advice.saving_pct("e2gc:1", predicted=True) == pytest.approx(expect, rel=1e-4)
    assert advice.loo_error_pct < 1e-3
    line = advice.summary_line()
    G = truth.split(":")[1]
    assert re.fullmatch(rf"recommended_G={G} measured_best_G={G} predicted_saving_pct=-?[\d.]+ "
                        r"measured_saving_pct=-?[\d.]+ loo_error_pct=[\d.]+", line), line


def test_gc_best_is_found_too(device_cost):
    """GC (the E2GC paper's FgGC): its best measured g, and the advice's text names it as that paper does."""
    advice = _search(SyntheticDevice(device_cost))
    truth = min((v for v in device_cost if v.startswith("gc:")), key=device_cost.get)
    assert advice.gc_best == truth
    assert f"against FgGC's best measured g = {truth.split(':')[1]}:" in "\n".join(advice.lines())


def test_budget_stops_the_search_and_a_second_call_continues_without_remeasuring(device_cost):
    device = SyntheticDevice(device_cost)
    # one second per cell: the initial design (5) and one more fit the budget with the reserve kept
    first = _search(device, budget_s=len(AD.INITIAL) + 1 + AD.RESERVE_S)
    assert first.stop_reason.startswith("budget") and len(first.order) == len(AD.INITIAL) + 1
    second = _search(device, budget_s=None)
    assert second.order[:len(first.order)] == first.order and second.cached == len(first.measured)
    third = _search(device, budget_s=None)
    assert third.new == 0 and third.order == second.order and third.summary_line() == second.summary_line()


@pytest.mark.parametrize("half_spread, expect", [(6.0, "within noise"), (0.5, "outside")])
def test_within_noise_when_a_neighbour_is_inside_the_spread(device_cost, half_spread, expect):
    advice = _search(SyntheticDevice(device_cost, half_spread))
    best = advice.measured_best
    sizes = sorted(int(v.split(":")[1]) for v in advice.measured if v.startswith("e2gc:"))
    G = int(best.split(":")[1])
    i = sizes.index(G)
    gaps = {s: device_cost[f"e2gc:{s}"] - device_cost[best] for s in (sizes[i - 1:i] + sizes[i + 1:i + 2])}
    inside = sorted(s for s, d in gaps.items() if d <= 2 * half_spread)
    assert (expect == "within noise") == bool(inside)  # the two cases do differ on this device
    note = advice.noise_note()
    if inside:
        ks = [str(x) for x in sorted([G, *inside])]
        assert note == f"G = {', '.join(ks[:-1])} or {ks[-1]}: within noise"
    else:
        assert note.startswith(f"G = {G}: outside")


def test_unknown_model_and_bad_metric_are_one_line_errors():
    with pytest.raises(ValueError, match="no E2GC/FgGC variants"):
        AD.candidates_for("vgg13_bn", 224)
    with pytest.raises(ValueError, match="metric must be one of"):
        AD.advise(MODEL, metric="joules")


def test_cli_advise_on_this_cpu_then_from_the_store(tmp_path, capsys):
    """A real measurement (tiny windows, 64 px) through the EPF protocol and the results store, run
    as on a GPU node's bare Python (``python -m gconvlib.cli advise``; only torch, numpy, pandas,
    pyyaml, tqdm, nvidia-ml-py, filelock importable): the second call with the same arguments
    measures nothing and prints the same advice."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    from test_reference import BARE_NODE

    from gconvlib.cli import main

    args = ["advise", MODEL, "--input-size", "64", "--window-s", "0.02", "--budget-s", "120",
            "--out", str(tmp_path / "cpu")]
    code = BARE_NODE + textwrap.dedent(f'''
        import runpy
        sys.argv = ["gconv", *{args!r}]
        runpy.run_module("gconvlib.cli", run_name="__main__")
    ''')
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "matplotlib" in proc.stdout.splitlines()[0]  # the blocked list: the bare node is in force
    first = proc.stdout.strip().splitlines()[1:]
    assert re.fullmatch(r"recommended_G=\d+ measured_best_G=\d+ predicted_saving_pct=-?[\d.]+ "
                        r"measured_saving_pct=-?[\d.]+ loo_error_pct=([\d.]+|nan)", first[-1]), first[-1]
    n = int(re.search(r"\((\d+) now, 0 read from the store\)", first[0]).group(1))
    assert n >= len(AD.INITIAL)
    assert list((tmp_path / "cpu").glob("advise_*.csv")) and len(list((tmp_path / "cpu" / "epf").glob("*.json"))) == n
    assert main(args) == 0
    second = capsys.readouterr().out.strip().splitlines()
    assert f"(0 now, {n} read from the store)" in second[0]
    assert second[-1] == first[-1]

    # what --out wrote is a contribution: read back as a store and as its CSV alone, the same numbers,
    # and replayed into the same advice; the energy chapter shows it as one more column
    import shutil

    from gconvlib.chapters import e2gc_energy

    (tmp_path / "csv_only").mkdir()
    for csv in (tmp_path / "cpu").glob("advise_*.csv"):
        shutil.copy(csv, tmp_path / "csv_only")
    rows = AD.other_devices(tmp_path)
    by_folder = {f: part.set_index("variant")["time_ms"].sort_index() for f, part in rows.groupby("folder")}
    assert set(by_folder) == {"cpu", "csv_only"} and len(by_folder["cpu"]) == n
    assert by_folder["csv_only"].to_dict() == by_folder["cpu"].to_dict()
    assert AD.replay(rows[rows["folder"] == "cpu"]).summary_line() == first[-1]
    columns = [name for name, _ in e2gc_energy.other_devices(tmp_path)]
    assert len(columns) == 2 and all("(64 px, time per frame, ms; contributed: " in c for c in columns)


class _Stopped(Exception):
    """Raised where the measurement would start: the keys are known by then, nothing is measured."""


def _store_keys_at_start(monkeypatch) -> dict:
    """{(spec text, batch size): store key} of every cell that a call would measure or read back,
    recorded by a stand-in for :func:`gconvlib.measure.records.run_cells` (where both callers' cells
    meet the store) that then stops the call."""
    from gconvlib.measure import records

    seen = {}

    def run_cells(store, kind, cells, *, spec_of, code_of, **kw):
        for c in cells:
            seen[c.spec.text, c.batch_size] = store.key(kind, spec_of(c), code=code_of(c))
        raise _Stopped

    monkeypatch.setattr(records, "run_cells", run_cells)
    return seen


def test_gconv_advise_and_the_energy_chapter_share_their_store_keys(tmp_path, monkeypatch):
    """`gconv advise` (its command line, defaults as a user gets them) and the e2gc_energy chapter (its
    notebook's parameters under the quick profile), for the same model, device, input size and
    batch size, key each cell alike: one's records are the other's cache hits. The key covers every
    knob of the protocol, the mode, the device, the threads and the code, so a caller that builds its
    protocol apart (another warm-up, CV target, calibration or idle window) gets other keys and
    measures every cell again."""
    import json
    from pathlib import Path

    import yaml

    from gconvlib.chapters import e2gc_energy
    from gconvlib.cli import make_parser
    from gconvlib.store import ResultsStore

    root = Path(__file__).resolve().parent.parent
    cells = json.loads((root / "notebooks" / "e2gc_energy.ipynb").read_text())["cells"]
    parameters = {}
    exec("".join(next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))["source"]),
         parameters)
    quick = yaml.safe_load((root / "notebooks" / "profiles" / "quick.yaml").read_text())
    parameters.update(quick["notebooks"]["e2gc_energy"])
    parameters.pop("__builtins__")

    chapter = _store_keys_at_start(monkeypatch)
    with pytest.raises(_Stopped):   # the notebook's call: its cell's names, the profile's values
        e2gc_energy.run(**parameters, store=ResultsStore(tmp_path / "store"),
                        reference_store=ResultsStore(tmp_path / "no_reference"))
    model, size = parameters["measure_models"][0], parameters["measure_input_size"]
    batch = parameters["measure_batch_sizes"][0]
    assert len(chapter) == len(E2GC_VARIANTS) * len(parameters["measure_batch_sizes"])

    argv = ["advise", model, "--device", parameters["device"], "--input-size", str(size), "--batch-size", str(batch),
            "--out", str(tmp_path / "advise")]
    if parameters["window_s"] is not None:   # a profile that sets the chapter's window: advise is given it
        argv += ["--window-s", str(parameters["window_s"])]
    advise = _store_keys_at_start(monkeypatch)
    args = make_parser().parse_args(argv)
    with pytest.raises(_Stopped):
        args.func(args)
    assert sorted(advise) == sorted((ModelSpec(model, v, input_size=size).text, batch) for v in AD.INITIAL)
    assert {cell: chapter.get(cell) for cell in advise} == advise
