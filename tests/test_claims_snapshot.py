"""The registry's verdicts on a fixed hand-made store, pinned: a refactoring of the evaluators must
not change any of them (issue 14). The store is every printed number of values.csv turned into our
own evidence (exact counts, measured times and energies over 3 trials, scaled-down trained values
over 3 seeds), each moved by a fixed amount (the row's position picks -6 % .. +6 %), so that every
evaluator meets cells that hold, miss and straddle its rules. The pinned verdicts were written by
the code before the restructuring (``python tests/test_claims_snapshot.py`` rewrites them: do that
only for a change of rule, and say in the commit which verdicts changed and why)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from gconvlib.claims import Evidence, judge, load_claims
from gconvlib.claims.evidence import EXACT, MEASURED, SCALED, TRAINED
from gconvlib.paper import load_values

PINNED = Path(__file__).parent / "data" / "claims_verdicts.json"
TIMED = frozenset({"epf", "latency", "step_time", "train_step_time", "wall_clock", "gpu_utilization"})
SHIFTS = (-0.06, -0.02, 0.0, 0.01, 0.03, 0.06)


def handmade_evidence() -> Evidence:
    quoted = Evidence.from_values(load_values()).frame
    rows = []
    for i, r in enumerate(quoted.to_dict("records")):
        r = dict(r, value=r["value"] * (1 + SHIFTS[i % len(SHIFTS)]), source="hand-made store", spec=None)
        if r["quantity"] in TRAINED:
            r.update(kind=SCALED, n=3, std=0.4 + 0.2 * (i % 3))
        elif r["quantity"] in TIMED:
            r.update(kind=MEASURED, n=3, std=abs(r["value"]) * 0.01 * (1 + i % 3))
        else:
            r.update(kind=EXACT, n=1, std=math.nan)
        rows.append(r)
    return Evidence(pd.DataFrame(rows))


def verdicts() -> dict:
    claims = load_claims()
    ours = judge(claims, handmade_evidence(), flips=False)
    empty = judge(claims, Evidence.empty(), flips=False)
    return {r.id: {"verdict": r.verdict, "paper_check": r.paper_check, "empty": e.verdict}
            for r, e in zip(ours.itertuples(), empty.itertuples())}


@pytest.fixture(scope="module")
def now() -> dict:
    return verdicts()


def test_the_store_reaches_every_kind_of_verdict(now):
    # a pinned store that only ever says "not yet reproduced" would pin nothing
    kinds = {v["verdict"].split(" (")[0] for v in now.values()}
    assert {"holds", "holds only", "does not hold", "inconclusive at this scale"} <= kinds


def test_verdicts_on_the_pinned_store_are_unchanged(now):
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    gone = sorted(set(pinned) - set(now))   # a claim renamed or dropped would escape the comparison
    assert not gone, f"pinned claims no longer judged: {gone[:10]}"
    changed = {k: (pinned[k], now[k]) for k in pinned if k in now and pinned[k] != now[k]}
    assert not changed, "\n".join(f"{k}: {a} -> {b}" for k, (a, b) in list(changed.items())[:10])


if __name__ == "__main__":
    PINNED.parent.mkdir(exist_ok=True)
    PINNED.write_text(json.dumps(verdicts(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
