"""The claims engine: registry, evidence, verdicts, and judge() (gconvlib.claims).

Evaluator rules on hand-made evidence are in test_claims_evaluators.py; the check on the
papers' own numbers in test_claims_paper.py.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gconvlib import claims as C
from gconvlib.claims import Evidence, Verdict, judge, load_claims
from gconvlib.claims.registry import EVALUATOR_ARGS, claims_path
from gconvlib.paper import load_values


def row(model, variant, quantity, value, std=math.nan, n=1, kind="exact", **kw):
    return dict(model=model, variant=variant, quantity=quantity, value=value, std=std, n=n, kind=kind, **kw)


# ------------------------------------------------------------------------------ verdicts

def test_verdict_kinds_fixed_and_ordered():
    assert C.VERDICT_KINDS == ("holds", "holds only", "does not hold", "inconclusive at this scale",
                               "not yet reproduced", "not testable here")
    assert (C.HOLDS, C.HOLDS_ONLY, C.DOES_NOT_HOLD, C.INCONCLUSIVE, C.NOT_YET, C.NOT_TESTABLE) == C.VERDICT_KINDS


def test_verdict_text_and_reasons():
    assert str(Verdict("holds")) == "holds"
    assert str(Verdict("holds only", "resnext50; B = 16")) == "holds only (resnext50; B = 16)"
    assert str(Verdict("not yet reproduced", "no GPU reference results")) == \
        "not yet reproduced (no GPU reference results)"
    assert str(Verdict("does not hold")) == "does not hold"
    for kind in ("holds only", "not yet reproduced", "not testable here", "inconclusive at this scale"):
        with pytest.raises(ValueError, match="needs a reason"):
            Verdict(kind)
    for bad in ("holds mostly", "true", "matches", ""):
        with pytest.raises(ValueError, match="unknown verdict"):
            Verdict(bad)
    assert Verdict.parse("holds only (resnext50; B = 16)") == Verdict("holds only", "resnext50; B = 16")
    assert Verdict.parse("inconclusive at this scale (1 seed)").kind == C.INCONCLUSIVE
    with pytest.raises(ValueError):
        Verdict.parse("probably holds")


def test_outcome_for_the_landing_page():
    assert [C.outcome(Verdict(k, "x")) for k in C.VERDICT_KINDS] == \
        ["positive", "positive", "negative", "pending", "pending", "pending"]
    assert C.outcome("does not hold (2063 vs 2055 mJ)") == "negative"
    assert C.outcome("holds") == "positive"


def test_combine_rules():
    ok, no = Verdict("holds"), Verdict("does not hold")

    def check(model, batch, v, shown=""):
        return C.Check((model, "", "P100", f"B = {batch}", ""), v, shown)

    assert C.combine([check("m", 1, ok), check("m", 4, ok)]) == ok
    mixed = C.combine([check("m", 1, ok), check("m", 4, ok), check("m", 16, no, "3 vs 2")])
    assert mixed == Verdict("holds only", "all but B = 16: 3 vs 2")
    assert C.combine([check("m", 1, no, "a"), check("m", 4, no, "a")]) == Verdict("does not hold", "a")
    # a whole model holding is said once, not per batch size
    v = C.combine([check("a", b, ok) for b in (1, 4)] + [check("b", b, no) for b in (1, 4)])
    assert v == Verdict("holds only", "a; not at b")
    undecided = C.combine([check("m", 1, Verdict("inconclusive at this scale", "1 seed")),
                           check("m", 4, Verdict("not yet reproduced", "no epf"))])
    assert undecided.kind == C.INCONCLUSIVE and undecided.reason.startswith("1 seed")
    assert C.combine([], "no GPU reference results") == Verdict("not yet reproduced", "no GPU reference results")


# ------------------------------------------------------------------------------ registry

@pytest.fixture(scope="module")
def claims():
    return load_claims()


def test_registry_loads(claims):
    assert len(claims) >= 144
    ids = [c.id for c in claims]
    assert len(set(ids)) == len(ids)
    assert {c.paper for c in claims} == {"e2gc", "gc2l", "vgg"}
    used = {c.evaluate for c in claims}
    assert used <= set(C.EVALUATORS) and used == set(EVALUATOR_ARGS)  # all 14 kinds in use
    assert len(C.EVALUATORS) == 14
    assert {c.evidence for c in claims} <= set(C.EVIDENCE_KINDS)
    for c in claims:
        assert c.chapter in C.CHAPTERS[c.paper], c.id
        assert (c.evaluate == "untestable") == (c.evidence == "none"), c.id
        if c.values:
            printed = c.printed()
            assert len(printed), c.id
            assert set(printed["paper"]) == {c.paper}, c.id
    assert sum(c.evaluate != "untestable" for c in claims) >= 70


def test_a_claims_arguments_cannot_be_changed_by_an_evaluator(claims):
    c = claims[0]
    with pytest.raises(TypeError):
        c.args["relation"] = "higher"
    assert hash(c) == hash(c.id)


def test_load_filters(claims):
    vgg = load_claims(paper="vgg")
    assert vgg and {c.paper for c in vgg} == {"vgg"}
    energy = load_claims(chapter="e2gc_energy")
    assert energy and {c.chapter for c in energy} == {"e2gc_energy"}
    assert len(load_claims(paper="gc2l")) + len(load_claims(paper="e2gc")) + len(vgg) == len(claims)
    with pytest.raises(ValueError):
        load_claims(paper="resnet")
    with pytest.raises(ValueError):
        load_claims(chapter="e2gc_everything")


def test_printed_reads_values_csv():
    c = C.get_claim("e2gc.abstract.energy_gain_p100_mobilenet")
    p = c.printed()
    assert p["value_text"].tolist() == ["10.8"] and p["quantity"].tolist() == ["energy_gain"]
    half = C.get_claim("gc2l.sec4_1_2.time_about_half_when_p_doubles").printed()
    assert set(half["quantity"]) == {"wall_clock", "wall_clock_ratio"}
    assert half.loc[half["quantity"] == "wall_clock_ratio", "value"].tolist() == [0.5]
    quarter = C.get_claim("gc2l.sec4_1_2.slower_than_ideal_quarter").printed()
    assert quarter.loc[quarter["quantity"] == "wall_clock_ratio", "value"].tolist() == [0.25]


def test_no_printed_number_typed_in_args(claims):
    """Ratio claims whose factor the text prints read it from values.csv, not from args."""
    for c in claims:
        if c.evaluate == "ratio" and c.values:
            printed = c.printed()
            if printed["quantity"].str.endswith("_ratio").any():
                assert "factor" not in c.args, c.id
    assert "factor" not in C.get_claim("gc2l.sec4_1_2.params_halve_when_p_doubles").args
    assert "factor" not in C.get_claim("vgg.sec3_2.split_16_4_5").args


GOOD = dict(id="e2gc.test.one", paper="e2gc", where="Table III", statement="x", values=[
    {"paper": "e2gc", "ref": "Table III", "quantity": "params"}], evaluate="compare",
    args={"model": "mobilenet_v1", "quantity": "params", "a": "e2gc:8", "b": "gc:32", "relation": "lower"},
    evidence="exact", chapter="e2gc_complexity")


def _write(tmp_path: Path, *entries) -> Path:
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(list(entries)), encoding="utf-8")
    return path


def test_a_good_entry_loads(tmp_path):
    (claim,) = load_claims(path=_write(tmp_path, GOOD))
    assert claim.id == "e2gc.test.one" and claim.args["a"] == "e2gc:8"


@pytest.mark.parametrize("change, message", [
    (dict(evaluate="guess"), "unknown evaluator 'guess'"),
    (dict(chapter="gc2l_parallel"), "unknown chapter 'gc2l_parallel' for paper 'e2gc'"),
    (dict(evidence="vibes"), "unknown evidence kind 'vibes'"),
    (dict(values=[{"paper": "e2gc", "ref": "Table III", "quantity": "params", "k": 64}]), "selects no row"),
    (dict(values=[{"paper": "gc2l", "ref": "Table 1", "quantity": "params"}]), "rows of another paper"),
    (dict(values=[{"colour": "red"}]), "unknown column"),
    (dict(args={**GOOD["args"], "margin": 0.1}), "takes no arg(s) ['margin']"),
    (dict(args={k: v for k, v in GOOD["args"].items() if k != "relation"}), "needs arg relation"),
    (dict(args={**GOOD["args"], "a": "e2gc8"}), "'e2gc8' is not scheme text"),
    (dict(evaluate="untestable", args={"reason": "x"}), "untestable goes with evidence: none"),
    (dict(id="E2GC.Test"), "id must be"),
    (dict(evaluate="ratio", values=[{"paper": "e2gc", "ref": "Sec. IV", "quantity": "macs_ratio"}],
          args={"model": "mobilenet_v1", "quantity": "macs", "a": "gc:2", "b": "e2gc:1",
                "relation": "approx", "factor": 5}), "args.factor types a number values.csv prints"),
])
def test_validation_names_the_claim(tmp_path, change, message):
    bad = {**GOOD, **change}
    with pytest.raises(ValueError) as err:
        load_claims(path=_write(tmp_path, bad))
    assert f"claim {bad['id']}" in str(err.value)
    assert message in str(err.value)


def test_validation_missing_field_and_duplicates(tmp_path):
    with pytest.raises(ValueError, match=r"claim e2gc.test.one: missing field\(s\) \['chapter'\]"):
        load_claims(path=_write(tmp_path, {k: v for k, v in GOOD.items() if k != "chapter"}))
    with pytest.raises(ValueError, match=r"claim e2gc.test.one: .*duplicate id"):
        load_claims(path=_write(tmp_path, GOOD, GOOD))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['verdict'\]"):
        load_claims(path=_write(tmp_path, {**GOOD, "verdict": "holds"}))


def test_header_documents_the_vocabulary():
    header = claims_path().read_text(encoding="utf-8").split("# E2GC: Jha")[0]
    for name in EVALUATOR_ARGS:
        assert f"#   {name}" in header, name
    for kind in C.EVIDENCE_KINDS:
        assert kind in header
    for words in ("2 pooled std", "2-SE band", "holds only (direction", "at least 3", "printed precision",
                  "(at this scale: <reason>)"):
        assert words in header, words


# ------------------------------------------------------------------------------ evidence

def test_evidence_fills_optional_columns_and_validates():
    ev = Evidence(pd.DataFrame([row("mobilenet_v1", "gc:8", "params", 7.3e6)]))
    assert list(ev.frame.columns) == list(C.EVIDENCE_COLUMNS)
    cell = ev.cell("mobilenet_v1", "gc:8", "params")
    assert cell.value == 7.3e6 and cell.n == 1 and cell.spread == 0 and cell.device is None
    assert ev.cell("mobilenet_v1", "gc:4", "params") is None
    assert Evidence.empty().frame.empty and len(Evidence.empty()) == 0
    with pytest.raises(ValueError, match="unknown column"):
        Evidence(pd.DataFrame([{**row("m", "gc:8", "params", 1.0), "colour": "red"}]))
    with pytest.raises(ValueError, match="missing column"):
        Evidence(pd.DataFrame([{"model": "m", "quantity": "params", "value": 1.0}]))
    with pytest.raises(ValueError, match="kind 'guessed'"):
        Evidence(pd.DataFrame([row("m", "gc:8", "params", 1.0, kind="guessed")]))
    with pytest.raises(ValueError, match="needs its std"):
        Evidence(pd.DataFrame([row("m", "gc:8", "top1", 70.0, n=3, kind="scaled-down")]))
    with pytest.raises(ValueError, match="single numbers"):
        Evidence(pd.DataFrame([row("m", "gc:8", "params", 1.0, std=0.1, n=3, kind="exact")]))
    with pytest.raises(ValueError, match="finite"):
        Evidence(pd.DataFrame([row("m", "gc:8", "params", math.nan)]))


def test_evidence_kind_priority_and_concat():
    a = pd.DataFrame([row("m", "gc:8", "top1", 70.0, 0.5, 3, "scaled-down", dataset="ImageNet-1K")])
    b = pd.DataFrame([row("m", "gc:8", "top1", 71.0, 0.1, 3, "measured", dataset="ImageNet-1K")])
    ev = Evidence.concat(a, Evidence(b), None)
    assert len(ev) == 2
    assert ev.cell("m", "gc:8", "top1", dataset="ImageNet-1K").kind == "measured"  # full scale wins
    assert len(ev.where(kind="scaled-down")) == 1 and len(ev.without("measured")) == 1


def test_from_values_quotes_the_paper():
    ev = Evidence.from_values(load_values())
    f = ev.frame
    assert set(f["kind"]) == {"quoted"} and (f["n"] == 1).all() and f["std"].isna().all()
    # FgGC g=8 is gc:8; M is converted to a plain count
    cell = ev.cell("mobilenet_v1", "gc:8", "params")
    assert cell.value == pytest.approx(7.30e6) and cell.source == "E2GC Table III"
    assert ev.cell("resnext50", "gc:32", "macs").value == pytest.approx(4.23e9)
    assert ev.cell("mobilenet_v1", "e2gc:32", "epf", "P4000", 16).value == 480  # Table III, printed 480
    assert ev.cell("wrn28_10", "standard", "params").value == pytest.approx(36.48e6)
    # GC-2L Tables 1 and 3 print the same GC row: one row, both sources
    gc8 = ev.cell("wrn28_10", "gc:8", "error", dataset="CIFAR-10")
    assert gc8.value == 6.54 and gc8.source == "GC-2L Table 1 / Table 3"
    # splits and ranges are parts
    assert ev.cell(None, None, "dataset_size", dataset="Kuzushiji", part="val").value == 10586
    assert ev.cell("vgg13_bn", None, "val_loss", dataset="Kuzushiji", part="max").value == 1.4
    assert ev.cell(None, None, "dataset_size", dataset="ImageNet-1K", part="train").value == 1.2e6
    # a grouped scheme whose k the text does not give has no variant
    abstract = f[(f["quantity"] == "energy_gain") & f["source"].str.contains("Abstract")]
    assert len(abstract) == 2 and abstract["variant"].isna().all()


def test_layer_model_key():
    assert C.layer_model(512, 512, 3, 14) == "conv(m=512,n=512,k=3,h=14,w=14)"


def test_pooled_std_rule_numbers():
    a = C.Cell("m", "a", "top1", 10.0, 1.0, 3, "scaled-down")
    b = C.Cell("m", "b", "top1", 12.0, 2.0, 5, "scaled-down")
    assert C.pooled_std(a, b) == pytest.approx(math.sqrt((2 * 1 + 4 * 4) / 6))
    exact = C.Cell("m", "a", "params", 10.0, math.nan, 1, "exact")
    assert C.pooled_std(exact, exact) == 0


# ------------------------------------------------------------------------------ judge

def test_judge_columns_and_missing_results(claims):
    table = judge(claims, Evidence.empty())
    assert tuple(table.columns) == C.JUDGE_COLUMNS
    assert len(table) == len(claims) and table["id"].is_unique
    by = table.set_index("id")
    assert by.loc["e2gc.sec4.e2gc_g32_lowest_epf", "verdict"] == "not yet reproduced (no GPU reference results)"
    assert by.loc["gc2l.sec4_1_1.error_far_below_gc", "verdict"] == \
        "not yet reproduced (training runs of this chapter not in the store)"
    assert by.loc["gc2l.sec4_1_2.time_about_half_when_p_doubles", "verdict"] == \
        "not yet reproduced (no multi-process runs (GC-2L Table 2 parallel runs))"
    assert by.loc["gc2l.sec4_1_3.flgc_poor_with_large_kernels", "verdict"].startswith(
        "not testable here (a hedged explanation")
    assert set(table["verdict_kind"]) == {C.NOT_YET, C.NOT_TESTABLE}
    assert (table.loc[table.verdict_kind == C.NOT_TESTABLE, "evidence_kind"] == "none").all()
    assert by.loc["e2gc.abstract.energy_gain_p100_mobilenet", "printed"] == "e2gc (P100): 10.8 %"
    assert "verdict" in C.claims_html(table.head(3)) and C.verdict_sentence(table).startswith(f"{len(claims)} claims")


def test_quoted_rows_never_decide_the_verdict():
    claim = C.get_claim("e2gc.sec4.obs2_mobilenet_fggc_g32_e2gc_g8_higher_params")
    quoted = Evidence.from_values(load_values("e2gc"))
    (r,) = judge([claim], quoted).to_dict("records")
    assert r["verdict"] == "not yet reproduced (exact counts not in the results)"
    assert r["paper_check"] == "holds"


def test_judge_on_exact_counts_reports_ours_and_kind():
    claim = C.get_claim("e2gc.sec4.obs2_mobilenet_fggc_g32_e2gc_g8_higher_params")
    ev = Evidence(pd.DataFrame([row("mobilenet_v1", "gc:32", "params", 4_950_000, source="counted"),
                                row("mobilenet_v1", "e2gc:8", "params", 4_523_000, source="counted")]))
    (r,) = judge([claim], ev).to_dict("records")
    assert (r["verdict"], r["verdict_kind"], r["reason"]) == ("holds", "holds", "")
    assert r["kind"] == "exact" and r["source"] == "counted"
    assert r["ours"] == "mobilenet_v1 gc:32 vs e2gc:8: 4.950 M vs 4.523 M"
    # reversed counts: does not hold
    ev = Evidence(pd.DataFrame([row("mobilenet_v1", "gc:32", "params", 4_400_000),
                                row("mobilenet_v1", "e2gc:8", "params", 4_523_000)]))
    (r,) = judge([claim], ev).to_dict("records")
    assert r["verdict_kind"] == "does not hold"


def test_chapter_claims_table_has_anchors_rendered_statements_and_flip_points():
    frame = pd.DataFrame([dict(id="e2gc.x.y", where="Sec. IV", statement=r"$\approx 5 \times$ the *EPF*", printed="",
                               ours="", kind="exact", verdict="holds", verdict_kind="holds",
                               flip="holds at tolerance = 0.1; does not hold at 0.02")])
    page = C.claims_html(frame)
    assert '<tr id="e2gc.x.y"' in page and r"\(\approx 5 \times\)" in page and "<em>EPF</em>" in page
    assert "flip point: holds at tolerance = 0.1; does not hold at 0.02" in page
    assert "$" not in page and "*" not in page
