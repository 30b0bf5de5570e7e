"""gconvlib.measure.analysis: records -> frames -> tables and claims evidence (no torch device)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gconvlib.measure import analysis as A
from gconvlib.paper import load_values
from gconvlib.store import ResultsStore


def put(store, model, b, device="NVIDIA H200", **result):
    return store.put("epf", {"model": model, "batch_size": b, "device": device, "mode": "graph"},
                     {"status": "ok", "device": device, "device_type": "cuda", "commit": "0123456789abc",
                      "dirty": False, "mode": "graph", "measured_at": "2026-12-02T10:00:00+00:00", **result})


def test_frame_reads_the_spec_text(tmp_path):
    store = ResultsStore(tmp_path)
    records = [put(store, "wrn28_10/gc2l:8:unfused", 128, trials=3, trial_ms_per_step=[3.0, 2.0, 4.0]),
               put(store, "mobilenet_v1/gc:8/size=112", 4),
               store.put("epf", {"model": "resnext50/e2gc:4", "batch_size": 1}, {"status": "failed: OOM"})]
    f = A.frame(records).set_index("spec")
    row = f.loc["wrn28_10/gc2l:8:unfused"]
    assert (row.model, row.variant, row.k, row.scheme, row.label) == ("wrn28_10", "gc2l:8:unfused", 8, "gc2l",
                                                                        "GC-2L g=8 (unfused)")
    assert row.ms_fastest == 2.0 and row.ok and pd.isna(row.reduced)
    assert f.loc["mobilenet_v1/gc:8/size=112", "reduced"] == "input 112 instead of 224"
    assert f.loc["mobilenet_v1/gc:8/size=112", "label"] == "FgGC g=8"
    assert not f.loc["resnext50/e2gc:4", "ok"] and f.loc["resnext50/e2gc:4", "status"] == "failed: OOM"


def test_source_text_names_device_mode_date_and_commit(tmp_path):
    store = ResultsStore(tmp_path)
    f = A.frame([put(store, "mobilenet_v1/gc:2", 1), put(store, "mobilenet_v1/gc:4", 1, dirty=True,
                                                          measured_at="2026-12-04T01:00:00+00:00")])
    assert A.source_text(f) == {"NVIDIA H200": "NVIDIA H200, graph mode, 2026-12-02 to 2026-12-04, "
                                               "commit 0123456, 0123456 (dirty)"}


def test_evidence_rows_in_base_units_with_std_and_trials(tmp_path):
    store = ResultsStore(tmp_path)
    f = A.frame([put(store, "wrn28_10/gc:4", 128, ms_per_step=20.0, ms_std=0.5, trials=3, epf_total_mj=7.0,
                     epf_std_mj=0.1),
                 put(store, "wrn28_10/gc:8", 128, ms_per_step=10.0, ms_std=None, trials=1, epf_total_mj=None),
                 store.put("epf", {"model": "wrn28_10/gc:16", "batch_size": 128}, {"status": "failed: x"})])
    ev = A.evidence(f, {"step_time": ("ms_per_step", "ms_std", 1e-3), "epf": ("epf_total_mj", "epf_std_mj", 1.0)},
                    "measured")
    assert sorted(zip(ev.variant, ev.quantity)) == [("gc:4", "epf"), ("gc:4", "step_time"), ("gc:8", "step_time")]
    st = ev[(ev.variant == "gc:4") & (ev.quantity == "step_time")].iloc[0]
    assert (st.value, st["std"], st.n, st.kind, st.model, st.batch_size) == (pytest.approx(0.02), pytest.approx(5e-4),
                                                                          3, "measured", "wrn28_10", 128)
    one = ev[ev.variant == "gc:8"].iloc[0]
    assert one.n == 1 and math.isnan(one["std"])   # a single trial has no spread
    assert st.source.startswith("NVIDIA H200, graph mode, 2026-12-02")
    from gconvlib.claims import Evidence

    Evidence(ev)  # valid evidence


def test_paper_epf_table_pivots_devices_and_orders_variants():
    t = A.paper_epf_table(load_values("e2gc"))
    mb1 = t[(t.model == "mobilenet_v1") & (t.batch_size == 1)]
    assert list(mb1.variant) == [f"e2gc:{G}" for G in (1, 2, 4, 8, 16, 32)] + [f"gc:{g}" for g in (2, 4, 8, 16, 32)]
    row = mb1[mb1.variant == "gc:8"].iloc[0]
    assert (row.table, row.paper_P100, row.paper_P4000) == ("Table III", 372.0, 704.0)
    assert len(t) == 2 * 3 * 11


def test_merge_measured_leaves_missing_as_nan_and_rejects_duplicates(tmp_path):
    store = ResultsStore(tmp_path)
    paper = A.paper_epf_table(load_values("e2gc"))
    ours = A.frame([put(store, "mobilenet_v1/gc:8", 1, epf_total_mj=7.0), put(store, "mobilenet_v1/e2gc:64", 1,
                                                                                 epf_total_mj=1.0)])
    m = A.merge_measured(paper, ours, "epf_total_mj", "ours")
    assert len(m) == len(paper) and m["ours"].notna().sum() == 1
    assert m.loc[(m.model == "mobilenet_v1") & (m.variant == "gc:8") & (m.batch_size == 1), "ours"].item() == 7.0
    assert A.merge_measured(paper, pd.DataFrame(), "epf_total_mj", "x")["x"].isna().all()
    with pytest.raises(ValueError, match="repeat a cell"):
        A.merge_measured(paper, pd.concat([ours, ours]), "epf_total_mj", "ours")


def test_rank_correlation_exact_on_known_cases():
    assert A.rank_correlation([1, 2, 3, 4, 5], [5, 6, 7, 8, 7000]) == pytest.approx(1.0)
    assert A.rank_correlation([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # textbook case: d = ranks differ by (0, -1, 1, 0, 0) -> rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert A.rank_correlation([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    rx, ry = np.array([1.5, 1.5, 3, 4]), np.array([1, 2, 3, 4])   # ties share their mean rank
    assert A.rank_correlation([7, 7, 8, 9], [1, 2, 3, 4]) == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert math.isnan(A.rank_correlation([1, 2], [1, 2]))
    assert math.isnan(A.rank_correlation([1, 2, 3, None], [3, 3, 3, 1]))


def test_overhead_table(tmp_path):
    store = ResultsStore(tmp_path)
    rows = A.frame([put(store, "wrn28_10/gc:4", 128, ms_per_step=20.0),
                    put(store, "wrn28_10/gc2l:4", 128, ms_per_step=22.0),
                    put(store, "wrn28_10/gc2l:4:unfused", 128, ms_per_step=25.0),
                    put(store, "wrn28_10/shuffle:4", 128, ms_per_step=99.0)])
    (row,) = A.overhead_table(rows).to_dict("records")
    assert (row["k"], row["gc"], row["gc2l"], row["gc2l_unfused"]) == (4, 20.0, 22.0, 25.0)
    assert row["fused_extra_pct"] == pytest.approx(10.0) and row["unfused_extra_pct"] == pytest.approx(25.0)
    assert row["fused_vs_unfused_pct"] == pytest.approx(100 * (22 / 25 - 1))


def test_reduction_table_and_pct(tmp_path):
    store = ResultsStore(tmp_path)
    rows = A.frame([store.put("latency", {"model": f"vgg13_bn/{v}", "batch_size": 1},
                              {"status": "ok", "device": "cpu", "ms_per_image_median": ms})
                    for v, ms in (("baseline", 100.0), ("E", 45.27), ("A", 120.0))])
    t = A.reduction_table(rows).set_index("variant")
    assert t.loc["E", "reduction_pct"] == pytest.approx(54.73) and t.loc["A", "reduction_pct"] == pytest.approx(-20.0)
    assert t.loc["baseline", "reduction_pct"] == 0.0
    assert A.reduction_pct(45.27, 100.0) == pytest.approx(54.73) and math.isnan(A.reduction_pct(None, 100.0))
