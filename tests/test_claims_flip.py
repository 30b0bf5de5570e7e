"""Flip points (issue 15): the threshold at which a decided verdict would change, checked against
hand-computed margins, and the threshold source every claim declares."""
from __future__ import annotations

import pandas as pd
import pytest

from gconvlib import claims as C
from gconvlib.claims import Evidence, judge, load_claims
from gconvlib.claims.flip import flip_point
from gconvlib.paper import load_values

# Sec. 5.1: scheme E's Macs fall by about 80 % (2.5 points, our reading of "about")
MACS = "vgg.sec5_1.macs_drop_scheme_e_about_80pct"
# Sec. IV Obs. 1: MobileNet-V1 E2GC G=32 and FgGC g=8 have comparable MACs (10 %, our reading)
COMPARABLE = "e2gc.sec4.obs1_mobilenet_g32_fggc_g8_comparable_macs"


def macs(base, e):
    return Evidence(pd.DataFrame([dict(model="vgg13_bn", variant=v, quantity="macs", value=x, kind="exact")
                                  for v, x in (("baseline", base), ("E", e))]))


def test_flip_of_a_printed_size_is_the_distance_to_it():
    printed = float(load_values("vgg", ref="Sec. 5.1", quantity="macs_drop")["value"].iloc[0])
    ev = macs(100e6, 22e6)  # a 78 % cut
    (row,) = judge([C.get_claim(MACS)], ev).to_dict("records")
    assert row["verdict_kind"] == C.HOLDS and row["threshold_source"] == "reading" and row["threshold_why"]
    assert row["flip_point"] == pytest.approx(printed - 78.0, abs=0.01)  # 2 points
    assert row["flip"].startswith(f"holds at tolerance_pts = 2.5; holds only at {printed - 78.0:.3g}")


def test_flip_of_a_comparable_pair_is_its_relative_gap():
    rows = [dict(model="mobilenet_v1", variant=v, quantity="macs", value=x, kind="exact")
            for v, x in (("e2gc:32", 620e6), ("gc:8", 600e6))]
    flip = flip_point(C.get_claim(COMPARABLE), Evidence(pd.DataFrame(rows)))
    assert flip[1] == C.DOES_NOT_HOLD and flip[0] == pytest.approx(620 / 600 - 1, rel=1e-2)


def test_undecided_verdicts_have_no_flip():
    (row,) = judge([C.get_claim(MACS)], Evidence.empty()).to_dict("records")
    assert row["flip_point"] is None and row["flip"] == ""


def test_every_claim_says_where_its_threshold_comes_from():
    claims = load_claims()
    assert {c.threshold_source for c in claims} <= {"paper", "reading", "none"}
    for c in claims:
        assert (c.threshold is None) == (c.threshold_source == "none"), c.id
        assert c.threshold_source != "reading" or c.threshold_why, c.id


def test_a_threshold_without_its_source_is_refused(tmp_path):
    text = C.claims_path().read_text(encoding="utf-8")
    broken = text.replace("  threshold_source: reading\n  threshold_why: '\"about 5x\"", "  threshold_why: '\"about 5x\"", 1)
    assert broken != text
    path = tmp_path / "claims.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError, match="mark threshold_source paper or reading"):
        load_claims(path=path)
