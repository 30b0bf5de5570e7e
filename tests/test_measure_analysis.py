"""gconvlib.measure.analysis on synthetic frames (no torch, no device)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gconvlib.measure import analysis as A

E2GC_G = (1, 2, 4, 8, 16, 32)
FGGC_G = (2, 4, 8, 16, 32)


def paper_frame(models=("mobilenet_v1",), batch_sizes=(1,), p100=None, p4000=None):
    """Published-values rows (quantity epf) for 11 variants; values from two dicts {(scheme, k): mJ}."""
    rows = []
    for model in models:
        for b in batch_sizes:
            for scheme, ks in (("e2gc", E2GC_G), ("fggc", FGGC_G)):
                for k in ks:
                    for dev, table in (("P100", p100), ("P4000", p4000)):
                        value = table[(scheme, k)] if table else 100.0 + k
                        rows.append(dict(paper="e2gc", ref="Table III", model=model, scheme=scheme, k=k,
                                         quantity="epf", device=dev, batch_size=b, value=float(value)))
    rows.append(dict(paper="e2gc", ref="Table III", model=models[0], scheme="e2gc", k=1, quantity="params",
                     device="", batch_size=None, value=4.2))  # other quantities are ignored
    return pd.DataFrame(rows)


# the shape the paper describes: E2GC falls with G; FgGC has its minimum at g = 8
P100 = {**{("e2gc", k): v for k, v in zip(E2GC_G, (600, 500, 400, 350, 340, 300))},
        **{("fggc", k): v for k, v in zip(FGGC_G, (450, 380, 320, 330, 400))}}
P4000 = {key: 2 * v for key, v in P100.items()}


def measured(values: dict, model="mobilenet_v1", b=1, column="epf_total_mj"):
    return pd.DataFrame([dict(model=model, scheme=s, k=k, batch_size=b, **{column: v})
                         for (s, k), v in values.items()])


def test_paper_epf_table_pivots_devices_and_orders_variants():
    t = A.paper_epf_table(paper_frame(p100=P100, p4000=P4000))
    assert len(t) == 11 and list(t.columns) == ["table", "model", "scheme", "k", "batch_size",
                                                 "paper_P100", "paper_P4000"]
    assert list(zip(t.scheme, t.k))[:7] == [("e2gc", k) for k in E2GC_G] + [("fggc", 2)]
    row = t[(t.scheme == "fggc") & (t.k == 8)].iloc[0]
    assert (row.paper_P100, row.paper_P4000) == (320.0, 640.0)


def test_join_keeps_missing_as_nan_and_rejects_duplicates():
    paper = A.paper_epf_table(paper_frame(p100=P100, p4000=P4000))
    ours = measured({("e2gc", 1): 10.0, ("fggc", 8): 7.0, ("e2gc", 64): 1.0})  # G=64: not in the paper
    j = A.join_epf(paper, ours)
    assert len(j) == 11 and j["ours"].notna().sum() == 2
    assert j.loc[(j.scheme == "fggc") & (j.k == 8), "ours"].item() == 7.0
    assert A.join_epf(paper, pd.DataFrame())["ours"].isna().all()
    with pytest.raises(ValueError, match="one source"):
        A.join_epf(paper, pd.concat([ours, ours]))


def test_rank_correlation_exact_on_known_cases():
    assert A.rank_correlation([1, 2, 3, 4, 5], [5, 6, 7, 8, 7000]) == pytest.approx(1.0)
    assert A.rank_correlation([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # textbook case: d = ranks differ by (0, -1, 1, 0, 0) -> rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert A.rank_correlation([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    # ties get average ranks: x ranks (1.5, 1.5, 3, 4), y ranks (1, 2, 3, 4)
    rx, ry = np.array([1.5, 1.5, 3, 4]), np.array([1, 2, 3, 4])
    assert A.rank_correlation([7, 7, 8, 9], [1, 2, 3, 4]) == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert math.isnan(A.rank_correlation([1, 2], [1, 2]))                     # too few pairs
    assert math.isnan(A.rank_correlation([1, 2, 3, None], [3, 3, 3, 1]))      # constant after dropping NaN


def test_epf_rank_correlation_verdicts():
    paper = A.paper_epf_table(paper_frame(p100=P100, p4000=P4000))
    same = A.epf_rank_correlation(A.join_epf(paper, measured(P100)))
    assert set(same.verdict) == {A.HOLDS} and same.rho.tolist() == pytest.approx([1.0, 1.0])
    assert same.rho_P100_P4000.tolist() == pytest.approx([1.0, 1.0])
    flipped = A.epf_rank_correlation(A.join_epf(paper, measured({k: -v for k, v in P100.items()})))
    assert set(flipped.verdict) == {A.FAILS} and flipped.rho.tolist() == pytest.approx([-1.0, -1.0])
    empty = A.epf_rank_correlation(A.join_epf(paper, pd.DataFrame()))
    assert set(empty.verdict) == {"not yet reproduced (no GPU reference results)"}
    assert empty.rho.isna().all()
    two = A.epf_rank_correlation(A.join_epf(paper, measured({("e2gc", 1): 1.0, ("e2gc", 2): 2.0})))
    assert set(two.verdict) == {"not yet reproduced (2 of 11 variants measured)"}


def test_minimum_location_paper_vs_ours():
    paper = A.paper_epf_table(paper_frame(p100=P100, p4000=P4000))
    # ours: FgGC minimum at g = 2, E2GC minimum at G = 8 -> both claims fail
    ours = dict(P100)
    ours[("fggc", 2)] = 100.0
    ours[("e2gc", 8)] = 200.0
    m = A.minimum_locations(A.join_epf(paper, measured(ours))).set_index("family")
    assert m.loc["fggc", "min_P100"] == "FgGC g=8" and bool(m.loc["fggc", "holds_P100"])
    assert m.loc["fggc", "min_ours"] == "FgGC g=2" and m.loc["fggc", "verdict"] == A.FAILS
    assert m.loc["e2gc", "min_P4000"] == "E2GC G=32" and m.loc["e2gc", "min_ours"] == "E2GC G=8"
    assert m.loc["all", "min_ours"] == "FgGC g=2" and m.loc["all", "verdict"] == A.FAILS
    good = A.minimum_locations(A.join_epf(paper, measured(P100))).set_index("family")
    assert set(good.verdict) == {A.HOLDS}
    partial = dict(P100)
    del partial[("fggc", 16)]
    p = A.minimum_locations(A.join_epf(paper, measured(partial))).set_index("family")
    assert p.loc["fggc", "verdict"] == "not yet reproduced (4 of 5 variants measured)"
    assert p.loc["e2gc", "verdict"] == A.HOLDS          # the E2GC family is complete
    assert pd.isna(p.loc["fggc", "min_ours"])            # no minimum over a partial family
    none = A.minimum_locations(A.join_epf(paper, pd.DataFrame()))
    assert set(none.verdict) == {"not yet reproduced (no GPU reference results)"}


def test_observation_checks_per_batch_relation():
    p100 = dict(P100)
    p100[("e2gc", 16)], p100[("fggc", 16)] = 330.0, 320.0   # Obs. 3 at B=1: E2GC higher -> holds
    paper = A.paper_epf_table(paper_frame(models=("resnext50",), p100=p100, p4000=P4000))
    ours = measured({("e2gc", 16): 10.0, ("fggc", 16): 20.0, ("e2gc", 8): 5.0, ("fggc", 32): 4.0},
                    model="resnext50")
    obs = A.observation_checks(A.join_epf(paper, ours))
    assert set(obs.model) == {"resnext50"} and len(obs) == 3      # the two Obs. 1 pairs + Obs. 3
    o3 = obs[obs.ref == "Obs. 3"].iloc[0]
    assert "higher" in o3.claim and o3.holds_P100 and o3.holds_P4000
    assert o3.verdict == A.FAILS and o3.ours_diff_pct == pytest.approx(-50.0)
    g8 = obs[(obs.ref == "Obs. 1") & (obs.a == "E2GC G=8")].iloc[0]
    assert g8.verdict == A.FAILS and g8.ours_diff_pct == pytest.approx(25.0)
    g16 = obs[(obs.ref == "Obs. 1") & (obs.a == "E2GC G=16")].iloc[0]
    assert g16.verdict == A.FAILS
    lone = A.observation_checks(A.join_epf(paper, measured({("e2gc", 8): 5.0}, model="resnext50")))
    assert lone[lone.a == "E2GC G=8"].verdict.item() == "not yet reproduced (FgGC g=32 not measured)"
    empty = A.observation_checks(A.join_epf(paper, pd.DataFrame()))
    assert set(empty.verdict) == {"not yet reproduced (no GPU reference results)"}


def test_observation_3_relation_flips_at_batch_16():
    paper = A.paper_epf_table(paper_frame(models=("resnext50",), batch_sizes=(1, 16), p100=P100, p4000=P4000))
    ours = pd.concat([measured({("e2gc", 16): 11.0, ("fggc", 16): 10.0}, "resnext50", 1),
                      measured({("e2gc", 16): 9.0, ("fggc", 16): 10.0}, "resnext50", 16)])
    o3 = A.observation_checks(A.join_epf(paper, ours)).query("ref == 'Obs. 3'").set_index("batch_size")
    assert "higher" in o3.loc[1, "claim"] and "lower" in o3.loc[16, "claim"]
    assert set(o3.verdict) == {A.HOLDS}


def test_energy_gain_percent_and_printed_batch():
    p100 = {**P100, ("e2gc", 1): 630.0, ("e2gc", 32): 281.0}     # the paper's MobileNet-V1 B=4 cells
    paper = A.paper_epf_table(paper_frame(batch_sizes=(4,), p100=p100, p4000=P4000))
    printed = pd.DataFrame([dict(model="mobilenet_v1", device="P100", value=55.4),
                            dict(model="mobilenet_v1", device="P4000", value=65.4)])
    assert A.gain_pct(630.0, 281.0) == pytest.approx(55.3968, abs=1e-4)
    g = A.energy_gains(A.join_epf(paper, measured({("e2gc", 1): 10.0, ("e2gc", 32): 7.5}, b=4)), printed).iloc[0]
    assert g.baseline == "E2GC G=1" and g.target == "E2GC G=32"
    assert g.gain_P100 == pytest.approx(55.3968, abs=1e-4) and g.printed_is_this_B_P100
    assert g.gain_P4000 == pytest.approx(50.0) and not g.printed_is_this_B_P4000
    assert g.gain_ours == pytest.approx(25.0) and g.verdict == A.HOLDS
    worse = A.energy_gains(A.join_epf(paper, measured({("e2gc", 1): 10.0, ("e2gc", 32): 12.0}, b=4)))
    assert worse.gain_ours.item() == pytest.approx(-20.0) and worse.verdict.item() == A.FAILS
    none = A.energy_gains(A.join_epf(paper, pd.DataFrame()))
    assert none.verdict.item() == "not yet reproduced (no GPU reference results)"


def test_resnext_baseline_is_fggc_32():
    paper = A.paper_epf_table(paper_frame(models=("resnext50",), p100=P100, p4000=P4000))
    g = A.energy_gains(A.join_epf(paper, measured(P100, model="resnext50"))).iloc[0]
    assert g.baseline == "FgGC g=32"
    assert g.gain_ours == pytest.approx(100 * (400 - 300) / 400)


def gc2l_rows(ms: dict, epf: dict | None = None, reason=None):
    rows = []
    for (scheme, g), t in ms.items():
        rows.append(dict(model="wrn28_10", scheme=scheme, k=g, batch_size=128, ms_per_step=t,
                         epf_total_mj=(epf or {}).get((scheme, g)), unavailable_reason=reason))
    return pd.DataFrame(rows)


def test_gc2l_overhead_time_and_missing_energy():
    f = gc2l_rows({("gc", 2): 100.0, ("gc2l", 2): 110.0, ("gc2l_unfused", 2): 150.0},
                  reason="RAPL not readable: no intel-rapl")
    o = A.gc2l_overhead(f).set_index(["variant", "quantity"])
    assert o.loc[("gc2l", "time"), "overhead_pct"] == pytest.approx(10.0)
    assert o.loc[("gc2l", "time"), "verdict"] == A.HOLDS
    assert o.loc[("gc2l_unfused", "time"), "overhead_pct"] == pytest.approx(50.0)
    assert o.loc[("gc2l_unfused", "time"), "verdict"] == A.FAILS
    assert math.isnan(o.loc[("gc2l", "epf"), "overhead_pct"])       # missing stays missing, never 0
    assert o.loc[("gc2l", "epf"), "verdict"] == "not yet reproduced (energy unavailable: RAPL not readable: no intel-rapl)"
    strict = A.gc2l_overhead(f, threshold_pct=5.0).set_index(["variant", "quantity"])
    assert strict.loc[("gc2l", "time"), "verdict"] == A.FAILS


def test_gc2l_overhead_with_energy_and_empty_frame():
    f = gc2l_rows({("gc", 4): 10.0, ("gc2l", 4): 12.0}, epf={("gc", 4): 50.0, ("gc2l", 4): 55.0})
    o = A.gc2l_overhead(f).set_index("quantity")
    assert o.loc["epf", "overhead_pct"] == pytest.approx(10.0) and o.loc["epf", "verdict"] == A.HOLDS
    assert o.loc["time", "overhead_pct"] == pytest.approx(20.0)
    empty = A.gc2l_overhead(pd.DataFrame(), groups=(2, 4))
    assert len(empty) == 2 * 2 * 2 and set(empty.verdict) == {"not yet reproduced (no GPU reference results)"}


def test_summarize_verdicts():
    f = pd.DataFrame(dict(variant=["a", "a", "b", "b", "c"],
                          verdict=[A.HOLDS, A.FAILS, A.HOLDS, A.HOLDS, A.not_yet("x")]))
    s = A.summarize_verdicts(f, ["variant"]).set_index("variant")
    assert s.loc["a", "verdict"] == A.FAILS and s.loc["a", "failing"] == 1
    assert s.loc["b", "verdict"] == A.HOLDS and s.loc["c", "verdict"] == "not yet reproduced (x)"


def latency_rows(ms: dict, b=1):
    return pd.DataFrame([dict(variant=v, batch_size=b, ms_per_image_median=t) for v, t in ms.items()])


def test_vgg_latency_reduction():
    ms = {"baseline": 100.0, "A": 90.0, "B": 80.0, "C": 60.0, "D": 40.0, "E": 45.0}
    r = A.vgg_latency_reduction(latency_rows(ms)).set_index("variant")
    assert r.loc["E", "reduction_pct"] == pytest.approx(55.0) and r.loc["E", "verdict"] == A.HOLDS
    assert r.loc["E", "paper_pct"] == pytest.approx(54.73)
    assert r.loc["A", "reduction_pct"] == pytest.approx(10.0) and r.loc["A", "verdict"] == A.HOLDS
    assert r.loc["baseline", "verdict"] == "" and r.loc["baseline", "reduction_pct"] == pytest.approx(0.0)
    slow = A.vgg_latency_reduction(latency_rows({**ms, "E": 80.0, "A": 120.0})).set_index("variant")
    assert slow.loc["E", "reduction_pct"] == pytest.approx(20.0) and slow.loc["E", "verdict"] == A.FAILS
    assert slow.loc["A", "verdict"] == A.FAILS
    assert A.vgg_latency_reduction(latency_rows(ms), tolerance_pts=0.1).set_index("variant").loc["E", "verdict"] == A.FAILS
    part = A.vgg_latency_reduction(latency_rows({"baseline": 100.0, "E": 50.0})).set_index("variant")
    assert part.loc["E", "verdict"] == A.HOLDS and part.loc["C", "verdict"] == "not yet reproduced (C not measured)"
    empty = A.vgg_latency_reduction(pd.DataFrame())
    assert len(empty) == 6 and set(empty.verdict) - {""} == {"not yet reproduced (no GPU reference results)"}
    with pytest.raises(ValueError):
        A.vgg_latency_reduction(pd.concat([latency_rows(ms), latency_rows(ms)]))


def test_vgg_nesting_checks():
    ms = {"baseline": 100.0, "A": 90.0, "B": 80.0, "C": 60.0, "D": 65.0, "E": 45.0}
    n = A.vgg_nesting_checks(pd.concat([latency_rows(ms, 1), latency_rows(ms, 8)]))
    assert len(n) == 6
    one = n[n.batch_size == 1].set_index("claim")
    assert one.loc["C is faster than A", "verdict"] == A.HOLDS
    assert one.loc["D is faster than C", "verdict"] == A.FAILS
    assert set(A.vgg_nesting_checks(pd.DataFrame()).verdict) == {"not yet reproduced (no GPU reference results)"}


def test_latest_per_config_and_provenance_labels():
    f = pd.DataFrame([
        dict(model="m", scheme="e2gc", k=1.0, batch_size=1, epf_total_mj=5.0, device="NVIDIA H100",
             measured_at="2026-01-02T10:00:00+00:00", commit="abcdef1234567", dirty=False, mode="graph",
             protocol='{"window_s": 5.0, "min_trials": 3, "max_trials": 10, "target_cv": 0.02}',
             protocol_key="k1"),
        dict(model="m", scheme="e2gc", k=1, batch_size=1, epf_total_mj=4.0, device="NVIDIA H100",
             measured_at="2026-01-03T10:00:00+00:00", commit="abcdef1234567", dirty=False, mode="graph",
             protocol='{"window_s": 5.0, "min_trials": 3, "max_trials": 10, "target_cv": 0.02}',
             protocol_key="k1"),
    ])
    latest = A.latest_per_config(f)
    assert len(latest) == 1 and latest.epf_total_mj.item() == 4.0
    labels = A.provenance_labels(f)
    label = labels.label.item()
    assert label.startswith("measured on NVIDIA H100, 2026-01-02 to 2026-01-03, commit abcdef1234")
    assert "graph mode" in label and ">= 5 s windows" in label and "3-10 trials to CV <= 2 %" in label
    assert A.provenance_labels(pd.DataFrame()).empty
    assert list(A.split_by_device(f)) == ["NVIDIA H100"]


def test_variant_labels():
    assert A.variant_label("e2gc", 32) == "E2GC G=32" and A.variant_label("fggc", 8) == "FgGC g=8"
    assert A.variant_label("gc2l_unfused", 4) == "GC-2L unfused g=4" and A.variant_label("E", None) == "E"
    assert A.not_yet("why") == "not yet reproduced (why)"


def test_e2gc_claims_one_table_per_source():
    paper = A.paper_epf_table(paper_frame(p100=P100, p4000=P4000))
    claims = A.e2gc_claims(A.join_epf(paper, measured(P100)))
    assert list(claims.columns) == ["ref", "model", "batch_size", "claim", "paper", "ours", "verdict"]
    # 3 minimum claims + 3 observation pairs (MobileNet-V1) + 1 gain + 2 rank correlations
    assert len(claims) == 9 and set(claims.verdict) == {A.HOLDS}
    gain = claims[claims.claim.str.contains("more energy-efficient")].iloc[0]
    assert gain.ours == "gain 50.0 %" and gain.paper.startswith("P100 50.0 % from the table; P4000 50.0 %")
    none = A.e2gc_claims(A.join_epf(paper, pd.DataFrame()))
    assert len(none) == 9 and set(none.verdict) == {"not yet reproduced (no GPU reference results)"}
    assert set(none.ours) == {"n/a", "gain n/a", "rho n/a (0 of 11 variants)"}


def test_gc2l_fused_vs_unfused():
    f = gc2l_rows({("gc", 2): 1.0, ("gc2l", 2): 2.0, ("gc2l_unfused", 2): 3.0,
                   ("gc", 4): 1.0, ("gc2l", 4): 2.5, ("gc2l_unfused", 4): 2.0, ("gc", 8): 1.0, ("gc2l", 8): 1.0})
    r = A.gc2l_fused_vs_unfused(f).set_index("k")
    assert r.loc[2, "verdict"] == A.HOLDS and r.loc[2, "fused_vs_unfused_pct"] == pytest.approx(-100 / 3)
    assert r.loc[4, "verdict"] == A.FAILS
    assert r.loc[8, "verdict"] == "not yet reproduced (GC-2L unfused g=8 not measured)"
    assert set(A.gc2l_fused_vs_unfused(pd.DataFrame()).verdict) == {"not yet reproduced (no GPU reference results)"}


def test_e2gc_claims_marks_the_batch_the_printed_gain_comes_from():
    p100 = {**P100, ("e2gc", 1): 630.0, ("e2gc", 32): 281.0}
    paper = A.paper_epf_table(paper_frame(batch_sizes=(4,), p100=p100, p4000=P4000))
    printed = pd.DataFrame([dict(model="mobilenet_v1", device="P100", value=55.4),
                            dict(model="mobilenet_v1", device="P4000", value=65.4)])
    gain = A.e2gc_claims(A.join_epf(paper, pd.DataFrame()), printed).query("ref == 'Sec. IV'").paper.item()
    assert gain == "P100 55.4 % from the table (printed 55.4 %, = this B); P4000 50.0 % from the table (printed 65.4 %)"


def test_fastest_trial_from_lists_json_and_fallback():
    f = pd.DataFrame([dict(trial_ms_per_step=[3.0, 2.0, 5.0], ms_per_step=3.3),
                      dict(trial_ms_per_step="[4.5, 4.0]", ms_per_step=4.25),
                      dict(trial_ms_per_step=None, ms_per_step=7.0),
                      dict(trial_ms_per_step=None, ms_per_step=None)])
    out = A.fastest_trial(f)
    assert out.tolist()[:3] == [2.0, 4.0, 7.0] and math.isnan(out.iloc[3])
    assert A.fastest_trial(pd.DataFrame()).empty
