"""`gconv claims`: the judged claims a chapter recorded in the store, filtered, as text or JSON."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from gconvlib import cli
from gconvlib.chapters._base import ChapterResult
from gconvlib.chapters._claims import CLAIM_FIELDS, judge_chapter
from gconvlib.claims import load_claims
from gconvlib.paper import load_values
from gconvlib.store import ResultsStore


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "results"))
    store = ResultsStore(tmp_path / "results")
    # the complexity chapter judged on a 78 % cut of scheme E's Macs (the paper prints "about 80 %")
    rows = [dict(model="vgg13_bn", variant=v, quantity="macs", value=x, kind="exact")
            for v, x in (("baseline", 100e6), ("A", 90e6), ("B", 70e6), ("C", 60e6), ("D", 40e6), ("E", 22e6))]
    judge_chapter(ChapterResult("vgg_complexity", "quick"), pd.DataFrame(rows), store)
    return store


def run(capsys, *argv) -> tuple[int, str]:
    code = cli.main(["claims", *argv])
    return code, capsys.readouterr().out


def test_json_lists_every_claim_with_its_fields(store, capsys):
    code, out = run(capsys, "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == len(load_claims())
    assert all(tuple(r) == CLAIM_FIELDS for r in rows)
    by = {r["id"]: r for r in rows}
    drop = by["vgg.sec5_1.macs_drop_scheme_e_about_80pct"]
    assert (drop["evidence"], drop["verdict"], drop["threshold_source"]) == ("exact", "holds", "reading")
    printed = float(load_values("vgg", ref="Sec. 5.1", quantity="macs_drop")["value"].iloc[0])
    assert drop["flip_point"] == pytest.approx(printed - 78, abs=0.01)
    # a chapter that did not run: not yet reproduced, no flip point, its threshold source all the same
    top1 = by["e2gc.table3.top1"]
    assert top1["verdict_kind"] == "not yet reproduced" and top1["flip_point"] is None
    assert top1["reason"] == "chapter e2gc_accuracy not executed in the quick profile"
    assert top1["threshold_source"] == "reading"
    assert {r["threshold_source"] for r in rows} <= {"paper", "reading", "none"}


def test_filters(store, capsys):
    _, out = run(capsys, "--json", "--chapter", "vgg_complexity", "--verdict", "holds")
    rows = json.loads(out)
    assert rows and {(r["chapter"], r["verdict_kind"]) for r in rows} == {("vgg_complexity", "holds")}
    _, out = run(capsys, "--paper", "gc2l")
    assert out.splitlines() and all(line.startswith("gc2l.") for line in out.splitlines())


def test_an_unknown_verdict_is_one_line_of_usage(store, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["claims", "--verdict", "holds-ish"])
    assert e.value.code == 2 and "invalid choice: 'holds-ish'" in capsys.readouterr().err
