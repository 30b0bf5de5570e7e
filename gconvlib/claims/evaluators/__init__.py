"""The evaluators of ``claims.yaml``, by kind: each turns a claim and an :class:`Evidence` into
checks, and the claim's verdict is :func:`~gconvlib.claims.verdicts.combine` of them.

* :mod:`.pairs`    compare, ratio, reduction_pct, gain_pct, difference (two sides);
* :mod:`.shapes`   extremum, trend, slope_compare, between (a shape over variants);
* :mod:`.matches`  value_match, range_match, rank_correlation, bound, untestable.

Each registers itself and its argument schema with :func:`gconvlib.claims.schema.evaluator`; the
rules they share are in :mod:`gconvlib.claims.rules` (the band, the gate, sizes) and
:mod:`gconvlib.claims.cells` (the grid of a claim, families, pairs, sides).
"""
from __future__ import annotations

from .. import scope
from .. import verdicts as V
from ..cells import Ctx, claim_quantities
from ..evidence import Evidence
from ..schema import EVALUATOR_ARGS, EVALUATORS
from ..verdicts import Check, Verdict
from . import matches, pairs, shapes  # noqa: F401  (each registers its evaluators)


def _run(claim, evidence: Evidence, side: str) -> tuple[Verdict, list[Check]]:
    checks = EVALUATORS[claim.evaluate](Ctx(claim, evidence, side))
    absent = "not printed" if side == "paper" else "missing"
    return V.combine(checks, claim.missing_text, absent), checks


def evaluate(claim, evidence: Evidence, side: str = "ours") -> tuple[Verdict, list[Check]]:
    """Run the claim's evaluator on the evidence: (verdict, checks).

    On our side only the evidence inside the claim's scope (:mod:`gconvlib.claims.scope`) may decide;
    where it decides nothing and evidence outside the scope shows something, the verdict is *not
    testable here*, saying why the evidence is outside and what it showed (its checks returned)."""
    if side == "paper":
        return _run(claim, evidence, side)
    inside, outside, why = scope.split(claim.evidence, evidence)
    verdict, checks = _run(claim, inside, side)
    if not len(outside) or verdict.decided or any(c.cells for c in checks):
        return verdict, checks
    seen, seen_checks = _run(claim, outside, side)
    if not any(c.cells for c in seen_checks):
        return verdict, checks
    return V.not_testable(f"{why}; seen there: {seen}"), seen_checks


__all__ = ["evaluate", "EVALUATORS", "EVALUATOR_ARGS", "claim_quantities"]
