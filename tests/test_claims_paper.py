"""Every claim run on the papers' own numbers (data/paper/values.csv as quoted evidence).

The expected verdicts are worked out by hand from the printed tables (claims_report.md (d) and
the notes of claims.yaml): where a paper's own numbers do not support its text, the check says so.
"""
from __future__ import annotations

import pytest

from gconvlib import claims as C
from gconvlib.claims import Evidence, Verdict, judge, load_claims
from gconvlib.claims.evaluators import evaluate
from gconvlib.paper import load_values


@pytest.fixture(scope="module")
def quoted() -> Evidence:
    return Evidence.from_values(load_values())


def paper_check(claim_id: str, quoted: Evidence) -> Verdict:
    verdict, _ = evaluate(C.get_claim(claim_id), quoted, side="paper")
    return verdict


@pytest.fixture(scope="module")
def table(quoted):
    return judge(load_claims(), Evidence.empty(), paper_evidence=quoted).set_index("id")


def test_higher_params_is_strict_not_ten_percent(quoted):
    # Obs. 2: FgGC g=32 4.95 M vs E2GC G=8 4.52 M: higher (ratio 1.095, under the old 10 % margin)
    assert paper_check("e2gc.sec4.obs2_mobilenet_fggc_g32_e2gc_g8_higher_params", quoted) == Verdict("holds")
    # Obs. 2, ResNeXt-50: 4.92 vs 4.20 G are 17 % apart: not "comparable"
    v = paper_check("e2gc.sec4.obs2_resnext_fggc_g8_e2gc_g8_comparable_macs", quoted)
    assert v.kind == C.DOES_NOT_HOLD and "ratio 1.171" in v.reason


def test_e2gc_g32_lowest_epf_fails_on_p4000_b1(quoted):
    # ResNeXt-50 on P4000 at B = 1: FgGC g=8 2055 mJ < E2GC G=32 2063 mJ; everywhere else G=32 is lowest
    v = paper_check("e2gc.sec4.e2gc_g32_lowest_epf", quoted)
    assert v.kind == C.HOLDS_ONLY
    assert v.reason.startswith("all but resnext50 P4000 B = 1:")
    assert "2063 mJ" in v.reason and "2055 mJ" in v.reason
    v = paper_check("e2gc.sec6.constant_group_size_more_efficient", quoted)
    assert v == Verdict("holds only", "all but resnext50 P4000 B = 1: e2gc:32 2063 mJ vs gc:8 2055 mJ")


def test_observation_1_resnext_pair(quoted):
    v = paper_check("e2gc.sec4.obs1_resnext_fggc_g32_vs_g8_energy", quoted)
    assert v == Verdict("holds only", "all but P4000 B = 1: 2337 mJ vs 2310 mJ")
    assert paper_check("e2gc.sec4.obs1_resnext_fggc_g32_vs_g16_energy", quoted) == Verdict("holds")


def test_observation_3_small_batch(quoted):
    # P100: 1132 vs 1131 (B=1), 722 vs 722 (B=4, a tie: not "higher"); P4000: 2220 vs 2106, 1251 vs 1295
    v = paper_check("e2gc.sec4.obs3_resnext_g16_less_efficient_small_batch", quoted)
    assert v == Verdict("holds only", "B = 1; not at B = 4 (e.g. P100 B = 4: 722 mJ vs 722 mJ)")
    assert paper_check("e2gc.sec4.obs3_resnext_g16_more_efficient_b16", quoted) == Verdict("holds")


def test_printed_percentages_at_printed_precision(quoted):
    # (418 - 373) / 418 = 10.77 % prints as 10.8; (766 - 694) / 766 = 9.40 %
    for cid in ("e2gc.abstract.energy_gain_p100_mobilenet", "e2gc.abstract.energy_gain_p100_resnext",
                "e2gc.sec4.energy_gain_mobilenet_p100", "e2gc.sec4.energy_gain_mobilenet_p4000",
                "e2gc.sec4.energy_gain_resnext_p100", "e2gc.sec5.top1_gain_g1_to_g2_resnext",
                "e2gc.sec5.top1_gain_g1_to_g2_mobilenet"):
        assert paper_check(cid, quoted) == Verdict("holds"), cid
    # 13.1 % matches no P4000 cell: at B = 4, (1356 - 1189) / 1356 = 12.32 %
    v = paper_check("e2gc.sec4.energy_gain_resnext_p4000", quoted)
    assert v == Verdict("holds only", "direction; 12.32 % vs printed 13.1 %")


def test_vgg_up_to_50_contradicts_54_73(quoted):
    # Sec. 6 "up to 50 %" against the paper's own 54.73 % of scheme E (the only scheme it prints)
    v = paper_check("vgg.sec6.inference_reduced_up_to_50pct", quoted)
    assert v == Verdict("holds only", "direction; 54.73 % vs printed 50 %")
    # the abstract's "55 %" is 54.73 % rounded (read as a reduction by 55 %)
    assert paper_check("vgg.abstract.inference_time_55pct", quoted) == Verdict("holds")
    assert paper_check("vgg.sec6.macs_reduced_up_to_80pct", quoted) == Verdict("holds only", "over E only")


def test_gc2l_parallel_words(quoted):
    # "about half": 64038 / 178977 = 0.358 (P 1 -> 2) misses, 31187 / 64038 = 0.487 (P 2 -> 4) holds
    v = paper_check("gc2l.sec4_1_2.time_about_half_when_p_doubles", quoted)
    assert v == Verdict("holds only", "gc2l:4 / gc2l:2; not at gc2l:2 / standard: 0.3578 vs approx 0.5")
    # "almost a third" within 20 %: 0.337, 0.390, 0.288, 0.275; all above the ideal quarter
    assert paper_check("gc2l.sec4_1_2.time_almost_a_third_when_p_doubles", quoted) == Verdict("holds")
    assert paper_check("gc2l.sec4_1_2.slower_than_ideal_quarter", quoted) == Verdict("holds")
    assert paper_check("gc2l.sec4_1_2.params_halve_when_p_doubles", quoted) == Verdict("holds")
    # error rises with P by slope (not monotone for k = 40 and 80); at most +1 point at P = 4
    assert paper_check("gc2l.sec4_1_2.error_rises_with_processors", quoted) == Verdict("holds")
    assert paper_check("gc2l.sec4_1_2.error_increase_moderate", quoted) == Verdict("holds")


def test_gc2l_shuffle_beats_gc2l_at_small_g(quoted):
    v = paper_check("gc2l.abstract.superior_performance", quoted)
    assert v.kind == C.HOLDS_ONLY
    assert v.reason == ("all but wrn28_10 gc2l:2 vs shuffle:2, wrn28_10 gc2l:4 vs shuffle:4, "
                        "wrn28_10 gc2l:8 vs shuffle:8, wrn34_2 gc2l:2 vs shuffle:2, wrn34_2 gc2l:4 vs shuffle:4")
    # "similar or lower" (0.5 points): only CIFAR-100 g=4 (20.90 vs 20.38) is further off
    v = paper_check("gc2l.sec4_1_3.similar_or_lower_than_variants", quoted)
    assert v == Verdict("holds only", "all but wrn28_10 CIFAR-100 gc2l:4 vs shuffle:4: 20.90 % vs 20.38 % (+0.52)")
    for cid in ("gc2l.sec4_1_3.flgc_worst", "gc2l.sec4_1_3.lowest_error_slope", "gc2l.sec4_2.lowest_error",
                "gc2l.sec4_2.smallest_error_slope", "gc2l.abstract.robust_to_number_of_groups",
                "gc2l.sec4_1_1.error_far_below_gc", "gc2l.sec4_2.gap_grows_with_groups"):
        assert paper_check(cid, quoted) == Verdict("holds"), cid


def test_gc_reduces_parameters_about_1_over_g(quoted):
    # WRN: 18.25 / 36.48 = 0.500 ...; MobileNetV2 (only 1x1 convs grouped) 2.44 / 3.50 = 0.70 at g=2
    v = paper_check("gc2l.sec1.gc_reduces_parameters", quoted)
    assert v == Verdict("holds only", "all but wrn34_2 gc:16 / standard, mobilenet_v2")


def test_unprinted_and_untestable(quoted, table):
    assert table.loc["vgg.sec5_1.grouped_lower_macs", "paper_check"] == \
        "not testable here (the paper prints no number for it)"
    assert table.loc["e2gc.sec3b.offchip_access_orders_costlier", "paper_check"].startswith(
        "not testable here (a cited per-operation energy figure")
    # a value the paper does not print is "not printed", never "not yet reproduced"
    assert not table["paper_check"].str.startswith("not yet reproduced").any()
    assert table.loc["vgg.sec5_1.train_loss_grouped_range", "paper_check"].startswith("not testable here (not printed")
    v = table.loc["vgg.sec5_1.decrease_acceptable", "paper_check"]
    assert v == "holds only (baseline - D, baseline - E; not printed: baseline - A, baseline - B, baseline - C)"


def test_paper_side_counts(table):
    counts = C.counts(table, "paper_check_kind")
    assert sum(counts.values()) == len(table)
    assert counts == {"holds": 90, "holds only": 16, "does not hold": 1, "not testable here": 53}
    # every table cell of the papers is reproduced by their own numbers
    for cid in ("e2gc.table3.params_macs", "e2gc.table4.top1", "gc2l.table1.params", "gc2l.table2.error",
                "gc2l.table3.error", "gc2l.table4.params", "e2gc.table3.epf_ranking"):
        assert table.loc[cid, "paper_check"] == "holds", cid


# ----------------------------------------------------- the E2GC headline numbers, from Tables III-IV

def _gain(model, a, b, device, batch) -> float:
    """100 (EPF of b - EPF of a) / EPF of b, read off the printed table (an independent computation)."""
    ref = "Table III" if model == "mobilenet_v1" else "Table IV"
    (sa, ka), (sb, kb) = [(s.replace("gc", "fggc") if s == "gc" else s, int(k)) for s, k in
                          (x.split(":") for x in (a, b))]
    epf = [float(load_values("e2gc", ref=ref, model=model, scheme=s, k=k, quantity="epf", device=device,
                             batch_size=batch)["value"].iloc[0]) for s, k in ((sa, ka), (sb, kb))]
    return 100 * (epf[1] - epf[0]) / epf[1]


def _printed(claim_id) -> str:
    return str(C.get_claim(claim_id).printed()["value_text"].iloc[0])


def test_the_13_1_pct_column_slip_is_flagged():
    cid = "e2gc.sec4.energy_gain_resnext_p4000"
    printed = _printed(cid)
    p4000 = {b: _gain("resnext50", "e2gc:32", "gc:32", "P4000", b) for b in (1, 4, 16)}
    assert all(f"{g:.1f}" != printed for g in p4000.values())  # no P4000 cell gives it ...
    assert f"{_gain('resnext50', 'e2gc:32', 'gc:32', 'P100', 16):.1f}" == printed  # ... P100 at B = 16 does
    (row,) = judge([C.get_claim(cid)], Evidence.empty(), flips=False).to_dict("records")
    assert f"{printed} % matches no P4000 cell" in row["paper_cells"]
    assert "equals P100, B = 16: a column slip?" in row["paper_cells"]
    for b, g in p4000.items():
        assert f"P4000, B = {b}: {g:.1f} %" in row["paper_cells"]


@pytest.mark.parametrize("cid, model, a, b", [
    ("e2gc.abstract.energy_gain_p100_mobilenet", "mobilenet_v1", "e2gc:8", "gc:32"),
    ("e2gc.abstract.energy_gain_p100_resnext", "resnext50", "e2gc:32", "gc:8"),
    ("e2gc.sec4.energy_gain_mobilenet_p100", "mobilenet_v1", "e2gc:32", "e2gc:1"),
    ("e2gc.sec4.energy_gain_resnext_p100", "resnext50", "e2gc:32", "gc:32"),
])
def test_each_headline_number_names_its_device_and_batch_size(cid, model, a, b):
    printed = _printed(cid)
    hits = [bs for bs in (1, 4, 16) if f"{_gain(model, a, b, 'P100', bs):.{len(printed.split('.')[1])}f}" == printed]
    assert len(hits) == 1
    (row,) = judge([C.get_claim(cid)], Evidence.empty(), flips=False).to_dict("records")
    assert row["paper_cells"].startswith(f"{printed} % = P100, B = {hits[0]}")


def test_the_4_73_pct_pair_reverses_on_p4000_at_b1():
    gain = _gain("resnext50", "e2gc:32", "gc:8", "P4000", 1)
    assert gain < 0
    (row,) = judge([C.get_claim("e2gc.abstract.energy_gain_p100_resnext")], Evidence.empty(),
                   flips=False).to_dict("records")
    assert "reversed at P4000, B = 1" in row["paper_cells"]
