"""Scope rules (issue 15): evidence outside what a claim is about never decides it either way.
Each rule is checked with the same values inside and outside the claim's scope: inside they decide,
outside they give 'not testable here' saying why and what was seen, so a missing or wrong rule
fails here."""
from __future__ import annotations

import math

import pandas as pd

from gconvlib import claims as C
from gconvlib.claims import Evidence
from gconvlib.claims.evaluators import evaluate
from gconvlib.claims.scope import device_class

# Sec. 4.1.2: the wall clock roughly halves when the processors double (WRN-28-40)
HALF = "gc2l.sec4_1_2.time_about_half_when_p_doubles"
# Sec. 6: more grouping, lower test accuracy (C < A, C < B, D < C, D < E)
MORE_LOSS = "vgg.sec6.more_grouping_more_accuracy_loss"
# Sec. 5.1: every grouped scheme infers faster than the baseline (the paper names no device)
FASTER = "vgg.sec5_1.grouped_lower_inference_time"


def judged(claim_id, rows):
    return evaluate(C.get_claim(claim_id), Evidence(pd.DataFrame(rows)))[0]


def wall(device, n=3, std=0.01, slower=2.6, **kw):
    """Step times at P = 1, 2, 4 where each doubling makes a step ``slower`` times longer."""
    return [dict(model="wrn28_40", variant=v, quantity="wall_clock", value=1.0 * slower ** i, std=std * slower ** i,
                 n=n, kind="scaled-down", device=device, **kw)
            for i, v in enumerate(("standard", "gc2l:2", "gc2l:4"))]


def test_device_classes():
    assert [device_class(d) for d in ("cpu", "cuda:0", "NVIDIA H200", "P100", "Titan RTX", None)] == \
        ["cpu", "gpu", "gpu", "gpu", "gpu", None]


def test_cpu_timing_never_decides_a_multi_gpu_claim():
    # on a GPU the same numbers decide: 2.6x slower is far from "about half"
    assert judged(HALF, wall("NVIDIA H100")).kind == C.DOES_NOT_HOLD
    v = judged(HALF, wall("cpu"))
    assert v.kind == C.NOT_TESTABLE
    assert "measured on cpu; the claim is about a multi-GPU run" in v.reason
    assert "seen there: does not hold" in v.reason  # what was seen is said, not hidden
    # nor when the CPU happens to agree with the paper
    assert judged(HALF, wall("cpu", slower=0.5)).kind == C.NOT_TESTABLE


def test_timing_trials_are_not_seeds():
    # two timing trials on a GPU: the clock's repeatability, not a seed count; the band rule decides
    assert judged(HALF, wall("NVIDIA H100", n=2)).kind == C.DOES_NOT_HOLD
    # two seeds of a trained value are too few (the seed rule is untouched)
    rows = [dict(model="vgg13_bn", variant=v, quantity="test_acc", value=acc, std=0.1, n=2, kind="scaled-down",
                 dataset="Kuzushiji", spec="vgg13_bn, kuzushiji (real), seeds 0,1")
            for v, acc in (("A", 95), ("B", 95), ("C", 90), ("D", 85), ("E", 90))]
    v = judged(MORE_LOSS, rows)
    assert v.kind == C.INCONCLUSIVE and "2 seeds" in v.reason


def accuracies(data):
    return [dict(model="vgg13_bn", variant=v, quantity="test_acc", value=acc, std=0.2, n=3, kind="scaled-down",
                 dataset="Kuzushiji", spec=f"vgg13_bn, kuzushiji ({data}), seeds 0,1,2")
            for v, acc in (("A", 95), ("B", 95), ("C", 90), ("D", 85), ("E", 90))]


def test_stand_in_accuracy_never_decides():
    assert judged(MORE_LOSS, accuracies("real")).kind == C.HOLDS
    v = judged(MORE_LOSS, accuracies("standin"))
    assert v.kind == C.NOT_TESTABLE and "synthetic stand-in of Kuzushiji" in v.reason
    # the column, when a chapter writes it, wins over the spec text
    rows = [dict(r, data="stand-in") for r in accuracies("real")]
    assert judged(MORE_LOSS, rows).kind == C.NOT_TESTABLE


def test_cpu_time_claims_are_decided_on_the_cpu():
    rows = [dict(model="vgg13_bn", variant=v, quantity="latency", value=t, std=math.nan, n=1, kind="measured here",
                 device="cpu", batch_size=1)
            for v, t in (("baseline", 1.0), ("A", 0.8), ("B", 0.7), ("C", 0.6), ("D", 0.5), ("E", 0.45))]
    assert judged(FASTER, rows).kind == C.HOLDS


def test_the_parallel_chapters_stand_in_errors_are_outside_too():
    # the parallel chapter writes "<spec>, standin data, 2 epochs": the same rule applies
    ev = Evidence(pd.DataFrame([dict(model="wrn28_40", variant="standard", quantity="error", value=5.0, std=0.1, n=3,
                                     kind="scaled-down", dataset="CIFAR-10", spec="wrn28_1/standard, standin data, 2 epochs"),
                                dict(model="wrn28_40", variant="standard", quantity="error", value=5.0, std=0.1, n=3,
                                     kind="scaled-down", dataset="CIFAR-100", spec="wrn28_1/standard, real data, 2 epochs")]))
    assert list(ev.frame["data"]) == ["stand-in", "real"]


def test_holds_only_with_missing_checks_is_pending_not_positive():
    from gconvlib.claims.verdicts import Check, combine, holds, not_yet, does_not_hold

    one_of_seven = combine([Check((f"m{i}",), holds() if i == 0 else not_yet("no epf")) for i in range(7)])
    assert one_of_seven.kind == C.HOLDS_ONLY and C.outcome(one_of_seven) == C.PENDING
    # holding everywhere but one place where it is contradicted is a (partial) positive
    all_but_one = combine([Check((f"m{i}",), holds() if i else does_not_hold("1 vs 2")) for i in range(7)])
    assert all_but_one.kind == C.HOLDS_ONLY and C.outcome(all_but_one) == C.POSITIVE
