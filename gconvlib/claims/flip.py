"""Flip points: for a decided verdict that rests on a threshold, the threshold at which the verdict
would change ("holds at tolerance_pts = 10; flips to holds only at 9.27"). A reader can then judge
our reading of the paper's words instead of trusting it.

Found by search, the same way for every evaluator: the claim is re-judged on the same evidence with
the threshold moved away from its value in growing steps, each way, until the verdict changes; the
nearest change is then bisected. Verdicts are monotone in their threshold (a wider tolerance can
only let more checks hold), so the first change found is the flip point."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

from . import scope
from .evaluators import _run
from .evidence import Evidence
from .registry import _freeze, thaw

#: the range each threshold can take (a tolerance is not negative, a correlation lies in [-1, 1])
LIMITS = {"tolerance": (0.0, math.inf), "tolerance_pts": (0.0, math.inf), "match_within": (0.0, math.inf),
          "tolerance_factor": (1.0, math.inf), "min_rho": (-1.0, 1.0)}
PROBES = 10      # doublings of the step each way (up to 51 times the threshold)
BISECTIONS = 12  # halvings of the bracket: 2^-12 of it, three significant figures


def with_threshold(claim, key: str, value: float):
    """The claim with one threshold arg set to ``value``."""
    return replace(claim, args=_freeze({**thaw(claim.args), key: value}))


def flip_point(claim, evidence: Evidence, kind: str | None = None) -> tuple[float, str] | None:
    """(threshold at which the verdict changes, the verdict kind beyond it), or None where the
    verdict is undecided, rests on no numeric threshold, or does not change within range."""
    used = claim.threshold
    if used is None or isinstance(used[1], bool) or not isinstance(used[1], (int, float)):
        return None
    key, t0 = used[0], float(used[1])
    # a decided verdict comes from the evidence inside the claim's scope: split it once
    scoped = scope.split(claim.evidence, evidence)[0]
    judge: Callable[[float], str] = lambda t: _run(with_threshold(claim, key, t), scoped, "ours")[0].kind
    kind = kind or judge(t0)
    lo_limit, hi_limit = LIMITS.get(key, (-math.inf, math.inf))
    step = abs(t0) * 0.05 or 0.01
    found = []
    for sign in (1, -1):
        inside = t0
        for i in range(PROBES):
            t = min(max(t0 + sign * step * 2 ** i, lo_limit), hi_limit)
            if t == inside:
                break
            other = judge(t)
            if other != kind:
                found.append((inside, t, other))
                break
            inside = t
    if not found:
        return None
    inside, outside, other = min(found, key=lambda f: abs(f[1] - t0))
    for _ in range(BISECTIONS):
        mid = (inside + outside) / 2
        if judge(mid) == kind:
            inside = mid
        else:
            outside = mid
    return (inside + outside) / 2, other


def flip_text(claim, kind: str, flip: tuple[float, str] | None) -> str:
    """'holds at tolerance_pts = 10; holds only at 9.27'; for a verdict the threshold does not move,
    says so; '' without a numeric threshold."""
    used = claim.threshold
    if used is None or isinstance(used[1], bool) or not isinstance(used[1], (int, float)):
        return ""
    if flip is None:
        return f"{kind} at any {used[0]} in range (the threshold does not decide it)"
    return f"{kind} at {used[0]} = {used[1]:g}; {flip[1]} at {flip[0]:.3g}"
