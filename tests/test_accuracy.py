"""Verdicts of the accuracy chapters, computed from synthetic run summaries."""
import math

import pandas as pd
import pytest

from gconvlib import accuracy


def summary(rows):
    frame = pd.DataFrame(rows, columns=["scheme", "k", "error_pct_mean"])
    frame["top1_pct_mean"] = 100 - frame.error_pct_mean
    frame["variant"] = [accuracy.label(s, k) for s, k in zip(frame.scheme, frame.k)]
    return frame


def test_slope_against_log2_groups():
    s = summary([("gc", 2, 10.0), ("gc", 4, 12.0), ("gc", 8, 14.0), ("gc2l", 2, 9.0)])
    assert accuracy.slope_vs_log2_groups(s, "gc") == pytest.approx(2.0)
    assert accuracy.slope_vs_log2_groups(s, "gc2l") is None  # one point has no slope


def test_gc2l_claims_hold_when_two_level_beats_gc_and_grows_slowest():
    rows = [("gc", g, 10 + 3 * i) for i, g in enumerate((2, 4, 8))]
    rows += [("gc2l", g, 9 + 1 * i) for i, g in enumerate((2, 4, 8))]
    rows += [("flgc", g, 12 + 4 * i) for i, g in enumerate((2, 4, 8))]
    claims = accuracy.gc2l_claims(summary(rows), "Table 3").set_index("claim")
    assert (claims.loc[[f"GC-2L error < GC error at g={g}" for g in (2, 4, 8)], "verdict"] == "holds").all()
    assert claims.loc["GC-2L's error grows most slowly with g (slope vs log2 g)", "verdict"] == "holds"
    assert claims.loc["FLGC has the highest error of the grouped variants", "verdict"] == "holds"


def test_gc2l_claims_fail_or_wait_honestly():
    claims = accuracy.gc2l_claims(summary([("gc", 2, 8.0), ("gc2l", 2, 9.0), ("gc2l", 4, 9.5)]), "Table 1")
    verdicts = dict(zip(claims.claim, claims.verdict))
    assert verdicts["GC-2L error < GC error at g=2"] == "does not hold"
    assert verdicts["GC-2L error < GC error at g=4"].startswith("not yet reproduced")


def test_vgg_claims():
    s = pd.DataFrame(dict(scheme=["baseline", "D", "E"], top1_pct_mean=[80.0, 77.0, 81.0]))
    claims = accuracy.vgg_claims(s).set_index("claim")
    assert claims.loc["scheme D loses test accuracy vs baseline (paper: -3.03 points)", "verdict"] == "holds"
    assert claims.loc["scheme E loses test accuracy vs baseline (paper: -2.49 points)", "verdict"] == "does not hold"
    assert claims.loc["every grouped scheme stays within 5 points of the baseline", "verdict"] == "holds"
    assert accuracy.vgg_claims(s[s.scheme != "baseline"]).verdict[0].startswith("not yet reproduced")


@pytest.mark.parametrize("model, dataset, rising", [("mobilenet_v1", "ImageNet-1K", False),
                                                    ("resnext50", "ImageNet-1K", True),
                                                    ("mobilenet_v1", "Food-101", True)])
def test_e2gc_claims_direction_of_fggc_trend(model, dataset, rising):
    acc = [70.0, 71.0, 72.0] if rising else [72.0, 71.0, 70.0]
    s = summary([("e2gc", 1, 30.0), ("e2gc", 2, 28.0)] + [("fggc", g, 100 - a) for g, a in zip((2, 4, 8), acc)])
    verdicts = dict(zip(*accuracy.e2gc_claims(s, model, dataset)[["claim", "verdict"]].values.T))
    assert verdicts[f"{model}: top-1 rises from E2GC G=1 to G=2"] == "holds"
    assert all(v == "holds" for v in verdicts.values())


def test_labels_follow_the_papers():
    assert accuracy.label("e2gc", 4) == "E2GC G=4" and accuracy.label("gc2l", 8) == "GC-2L g=8"
    assert accuracy.label("standard", None) == "SC" and accuracy.label("standard", math.nan) == "SC"


def test_grid_names_variants_as_model_texts_and_summarize_uses_the_papers_names():
    specs = accuracy.grid("wrn28", [("standard", None), ("gc2l", 4)], [0, 1], width=1, task="cifar10")
    assert [(s.model, s.seed) for s in specs] == [("wrn28_1/standard", 0), ("wrn28_1/standard", 1),
                                                  ("wrn28_1/gc2l:4", 0), ("wrn28_1/gc2l:4", 1)]
    assert accuracy.grid("vgg13_bn", [("E", None)], [0], width_mult=0.25)[0].model == "vgg13_bn/E/width_mult=0.25"
    fg = accuracy.grid("mobilenet_v1", [("fggc", 8), ("e2gc", 4)], [0])

    def record(spec, acc):
        v = spec.variant
        return {"spec": spec.store_spec(),
                "result": {"variant": spec.model, "model": v.model, "label": spec.label, "scheme": v.kind,
                           "k": v.k, "width": v.width, "task": spec.task, "data": {"source": "standin"},
                           "recipe": {"epochs": 1}, "test": {"accuracy": acc, "error": 1 - acc},
                           "params": 1, "timing": {"wall_s": 1.0}}}

    summary = accuracy.summarize([record(fg[0], 0.5), record(fg[1], 0.25)])
    assert list(summary.scheme) == ["fggc", "e2gc"] and list(summary.variant) == ["FgGC g=8", "E2GC G=4"]
    assert list(summary.model_variant) == ["mobilenet_v1/gc:8", "mobilenet_v1/e2gc:4"]
    assert list(summary.top1_pct_mean) == [50.0, 25.0]
