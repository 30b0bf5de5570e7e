"""`gconv claims`: the judged claims a chapter recorded in the store, filtered, as text or JSON."""
from __future__ import annotations

import json
import math

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
    # the latency chapter judged on a 50 % cut of scheme E's time (the paper prints 54.73 %)
    rows = [dict(model="vgg13_bn", variant=v, quantity="latency", value=t, std=math.nan, n=1, kind="measured here",
                 device="cpu", batch_size=1)
            for v, t in (("baseline", 1.0), ("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.6), ("E", 0.5))]
    judge_chapter(ChapterResult("vgg_latency", "quick"), pd.DataFrame(rows), store)
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
    drop = by["vgg.sec5_1.inference_time_drop_scheme_e"]
    assert (drop["evidence"], drop["verdict"], drop["threshold_source"]) == ("cpu_time", "holds", "reading")
    printed = float(load_values("vgg", ref="Sec. 5.1", quantity="inference_time_drop")["value"].iloc[0])
    assert drop["flip_point"] == pytest.approx(printed - 50, abs=0.01)
    # a chapter that did not run: not yet reproduced, no flip point, its threshold source all the same
    top1 = by["e2gc.table3.top1"]
    assert top1["verdict_kind"] == "not yet reproduced" and top1["flip_point"] is None
    assert top1["threshold_source"] == "reading"
    assert {r["threshold_source"] for r in rows} <= {"paper", "reading", "none"}


def test_filters(store, capsys):
    _, out = run(capsys, "--json", "--chapter", "vgg_latency", "--verdict", "holds")
    rows = json.loads(out)
    assert rows and {(r["chapter"], r["verdict_kind"]) for r in rows} == {("vgg_latency", "holds")}
    _, out = run(capsys, "--paper", "gc2l")
    assert out.splitlines() and all(line.startswith("gc2l.") for line in out.splitlines())


def test_an_unknown_verdict_is_one_line_of_usage(store, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["claims", "--verdict", "holds-ish"])
    assert e.value.code == 2 and "invalid choice: 'holds-ish'" in capsys.readouterr().err
