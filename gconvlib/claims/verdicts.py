"""Verdicts: one fixed set, and how the verdicts of a claim's single checks combine into one.

A claim is judged by one or more *checks* (one per model, dataset, device, batch size, pair of
variants, printed cell ...). Each check has a :class:`Verdict`; :func:`combine` turns them into the
claim's verdict:

* every check holds                      -> ``holds``
* no check holds, some do not hold       -> ``does not hold``
* some hold, the others do not / are undecided / are missing
                                         -> ``holds only (<where it holds>; <the rest>)``
* nothing decided, some inconclusive     -> ``inconclusive at this scale (<why>)``
* nothing decided, a failed sanity check -> ``not testable here (at this scale: <why>)``
* nothing at all                         -> ``not yet reproduced (<what is missing>)``

``holds only`` also comes out of a single check that holds in direction but misses a printed size
(``holds only (direction; 12.3 % vs printed 13.1 %)``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

HOLDS = "holds"
HOLDS_ONLY = "holds only"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive at this scale"
NOT_YET = "not yet reproduced"
NOT_TESTABLE = "not testable here"

#: The fixed set, in the order tables and counts show it.
VERDICT_KINDS = (HOLDS, HOLDS_ONLY, DOES_NOT_HOLD, INCONCLUSIVE, NOT_YET, NOT_TESTABLE)
#: Kinds that must say why (under what / what is missing / why not).
NEEDS_REASON = frozenset({HOLDS_ONLY, INCONCLUSIVE, NOT_YET, NOT_TESTABLE})

POSITIVE, NEGATIVE, PENDING = "positive", "negative", "pending"
#: what :func:`combine` writes into a *holds only* for checks that are missing or undecided
UNSETTLED = ("missing:", "not printed:", "inconclusive at ", "not testable at ")
#: verdict kind -> landing-page category (pending: nothing was decided).
OUTCOME = {HOLDS: POSITIVE, HOLDS_ONLY: POSITIVE, DOES_NOT_HOLD: NEGATIVE,
           INCONCLUSIVE: PENDING, NOT_YET: PENDING, NOT_TESTABLE: PENDING}


@dataclass(frozen=True)
class Verdict:
    """A verdict of the fixed set, with its reason: ``str(v)`` is ``kind`` or ``kind (reason)``."""

    kind: str
    reason: str = ""

    def __post_init__(self):
        if self.kind not in VERDICT_KINDS:
            raise ValueError(f"unknown verdict {self.kind!r}; the verdicts are {', '.join(VERDICT_KINDS)}")
        if not isinstance(self.reason, str):
            raise TypeError(f"a verdict's reason is text, got {type(self.reason).__name__}")
        object.__setattr__(self, "reason", " ".join(self.reason.split()))
        if self.kind in NEEDS_REASON and not self.reason:
            raise ValueError(f"'{self.kind}' needs a reason (under what / what is missing / why)")

    def __str__(self) -> str:
        return f"{self.kind} ({self.reason})" if self.reason else self.kind

    @property
    def outcome(self) -> str:
        """``positive`` (holds, holds only), ``negative`` (does not hold) or ``pending``. A *holds
        only* whose other checks are missing or undecided (not contradicted) is pending: one check
        of seven holding while six are missing is not a positive result."""
        if self.kind == HOLDS_ONLY and any(p in self.reason for p in UNSETTLED):
            return PENDING
        return OUTCOME[self.kind]

    @property
    def decided(self) -> bool:
        return self.kind in (HOLDS, HOLDS_ONLY, DOES_NOT_HOLD)

    @classmethod
    def parse(cls, text: str) -> Verdict:
        """The inverse of ``str``: ``"holds only (resnext50)"`` -> Verdict(HOLDS_ONLY, "resnext50")."""
        text = str(text).strip()
        for kind in sorted(VERDICT_KINDS, key=len, reverse=True):
            if text == kind:
                return cls(kind)
            if text.startswith(kind + " (") and text.endswith(")"):
                return cls(kind, text[len(kind) + 2:-1])
        raise ValueError(f"not a verdict: {text!r}")


def holds(reason: str = "") -> Verdict:
    return Verdict(HOLDS, reason)


def holds_only(reason: str) -> Verdict:
    return Verdict(HOLDS_ONLY, reason)


def does_not_hold(reason: str = "") -> Verdict:
    return Verdict(DOES_NOT_HOLD, reason)


def inconclusive(reason: str) -> Verdict:
    return Verdict(INCONCLUSIVE, reason)


def not_yet(reason: str) -> Verdict:
    return Verdict(NOT_YET, reason)


def not_testable(reason: str) -> Verdict:
    return Verdict(NOT_TESTABLE, reason)


def outcome(verdict: Verdict | str) -> str:
    """Landing-page category of a verdict (or of its text): positive, negative or pending."""
    v = verdict if isinstance(verdict, Verdict) else Verdict.parse(verdict)
    return v.outcome


# -- combining the checks of one claim ---------------------------------------------------------

#: label slots of a check, in the order they are written (empty slots are left out)
SLOTS = ("model", "dataset", "device", "batch", "item")
MAX_LISTED = 8


@dataclass
class Check:
    """One judged comparison of a claim: where (label slots), its verdict, and what it compared."""

    label: tuple[str, ...]
    verdict: Verdict
    shown: str = ""
    cells: tuple = field(default_factory=tuple)

    def __post_init__(self):
        label = tuple("" if s is None else str(s) for s in self.label)
        self.label = (label + ("",) * len(SLOTS))[:len(SLOTS)]


def _write(labels: Sequence[tuple[str, ...]]) -> str:
    texts = []
    for lab in labels:
        text = " ".join(x for x in lab if x)
        if text and text not in texts:
            texts.append(text)
    if len(texts) > MAX_LISTED:
        texts = texts[:MAX_LISTED] + [f"+{len(texts) - MAX_LISTED} more"]
    return ", ".join(texts) or "everywhere"


def _patterns(checks: Sequence[Check], keep: Sequence[int], member) -> list[tuple[str, ...]]:
    """The checks that are members, written as few labels as possible: a slot (device, batch, ...)
    is left out of a label when every check that agrees on the other slots is a member too."""
    full = [tuple(c.label[i] for i in keep) for c in checks]
    inside = [member(c) for c in checks]
    # most wildcards first; among equals, leave out minor slots (batch, device, dataset) before
    # the model and the compared variants
    weight = [{"batch": 1, "device": 2, "dataset": 4, "model": 8, "item": 16}[SLOTS[i]] for i in keep]
    subsets = sorted(range(1 << len(keep)),
                     key=lambda m: (-bin(m).count("1"), sum(w for i, w in enumerate(weight) if m >> i & 1)))
    model_at = keep.index(0) if 0 in keep else None
    item_at = keep.index(4) if 4 in keep else None
    out = []
    for lab, ok in zip(full, inside):
        if not ok:
            continue
        for mask in subsets:
            if model_at is not None and item_at is not None and mask >> model_at & 1 and not mask >> item_at & 1:
                continue  # "e2gc:4 vs gc:32" without its model reads as every model: say the model
            pattern = tuple("" if mask >> i & 1 else x for i, x in enumerate(lab))
            if not any(pattern):
                if all(inside):
                    break
                continue
            hits = [o for f, o in zip(full, inside)  # an empty slot (unknown: missing results) matches
                    if all(p == "" or x == "" or p == x for p, x in zip(pattern, f))]
            if all(hits):
                if pattern not in out:
                    out.append(pattern)
                break

    def covers(a, b):  # a is more general than b
        return a != b and all(x == "" or x == y for x, y in zip(a, b))

    return [p for p in out if not any(covers(q, p) for q in out)]


def _say(check: Check) -> str:
    """What a check that does not hold says: its verdict's reason, else what it compared."""
    return check.verdict.reason or check.shown


def combine(checks: Iterable[Check], missing: str = "results missing", absent: str = "missing") -> Verdict:
    """The claim's verdict from its checks (rules in the module docstring).

    ``missing`` is said when there are no checks at all (e.g. "no GPU reference results");
    ``absent`` names checks whose values are missing ("missing"; "not printed" on the paper's side).
    """
    checks = list(checks)
    if not checks:
        return not_yet(missing)
    if len(checks) == 1:
        return checks[0].verdict
    keep = [i for i in range(len(SLOTS)) if len({c.label[i] for c in checks}) > 1]
    kinds = {c.verdict.kind for c in checks}
    if kinds == {HOLDS}:
        return holds()

    def where(kind_set) -> str:
        return _write(_patterns(checks, keep, lambda c: c.verdict.kind in kind_set))

    positive = [c for c in checks if c.verdict.kind in (HOLDS, HOLDS_ONLY)]
    negative = [c for c in checks if c.verdict.kind == DOES_NOT_HOLD]
    undecided = [c for c in checks if c.verdict.kind == INCONCLUSIVE]
    untestable = [c for c in checks if c.verdict.kind == NOT_TESTABLE]
    lacking = [c for c in checks if c.verdict.kind == NOT_YET]

    def others(with_negative: bool = True) -> list[str]:
        parts = []
        if with_negative and negative:
            first = negative[0]
            shown = "" if not _say(first) else f": {_say(first)}" if len(negative) == 1 else \
                f" (e.g. {_write([tuple(first.label[i] for i in keep)])}: {_say(first)})"
            parts.append(f"not at {where({DOES_NOT_HOLD})}{shown}")
        if undecided:
            parts.append(f"inconclusive at {where({INCONCLUSIVE})} ({undecided[0].verdict.reason})")
        if untestable:
            parts.append(f"not testable at {where({NOT_TESTABLE})} ({untestable[0].verdict.reason})")
        if lacking:
            parts.append(f"{absent}: {where({NOT_YET})}")
        return parts

    if positive:
        partial = [c for c in positive if c.verdict.kind == HOLDS_ONLY]
        if len(positive) == len(checks):  # every check holds, some only in part
            reasons = list(dict.fromkeys(c.verdict.reason for c in partial))
            text = reasons[0] if len(reasons) == 1 else "; ".join(reasons[:3])
            return holds_only(f"{text} at {where({HOLDS_ONLY})}" if len(partial) < len(checks) else text)
        yes, no = where({HOLDS, HOLDS_ONLY}), where({DOES_NOT_HOLD, INCONCLUSIVE, NOT_TESTABLE, NOT_YET})
        if negative and not undecided and not untestable and not lacking and len(no) < len(yes):
            shown = f": {_say(negative[0])}" if len(negative) == 1 and _say(negative[0]) else ""
            parts = [f"all but {no}{shown}"]
        else:
            parts = [yes] + others()
        if partial:
            parts.append("in part: " + partial[0].verdict.reason)
        return holds_only("; ".join(parts))
    if negative:
        if len(negative) == len(checks):
            if len({_say(c) for c in negative}) == 1:
                return does_not_hold(_say(negative[0]))
            listed = "; ".join(f"{_write([tuple(c.label[i] for i in keep)])}: {_say(c)}" for c in negative[:3])
            return does_not_hold(listed + (f"; +{len(negative) - 3} more" if len(negative) > 3 else ""))
        return does_not_hold("; ".join(others()))
    if undecided:
        reasons = list(dict.fromkeys(c.verdict.reason for c in undecided))
        head = reasons[0] if len(reasons) == 1 else "; ".join(reasons[:3])
        return inconclusive("; ".join([head] + others(with_negative=False)[1:]))
    if untestable:
        reasons = list(dict.fromkeys(c.verdict.reason for c in untestable))
        return not_testable("; ".join(reasons[:3]))
    reasons = list(dict.fromkeys(c.verdict.reason for c in lacking))
    text = "; ".join(reasons[:2]) + (f"; +{len(reasons) - 2} more" if len(reasons) > 2 else "")
    return not_yet(text)
