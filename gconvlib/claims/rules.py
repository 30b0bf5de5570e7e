"""The decision rules every evaluator shares: one named band, the seed and sanity gate, regions,
relations, printed sizes, and how a value is written.

* :data:`BAND_SIGMAS` the band rule: a statistic with spread sigma decides only when the whole band
  [x - BAND_SIGMAS sigma, x + BAND_SIGMAS sigma] lies inside (holds) or outside (does not hold) the
  region the claim allows, otherwise inconclusive. For a difference a - b the region is one side
  of 0 and sigma the pooled std: |a - b| > 2 pooled std;
* :class:`Stat` a value a check compares; :class:`Missing` what a check lacks instead;
* :func:`gate`       failed sanity -> not testable; too few seeds -> inconclusive;
* :func:`decide`     the band rule on a :class:`Region`;
* :func:`size_rule`  printed sizes (%, differences): the header's size rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ..tables import verdict as precision_verdict
from . import verdicts as V
from .evidence import BASE_UNITS, MIN_SEEDS, QUOTED, SCALED, Cell, pooled_std, relative_pooled_std
from .verdicts import Verdict

EPS = 1e-9  # closed bounds of exact ratios ("tolerance: 0")
#: the band rule's half-width in spreads (std, pooled std or standard error): about 95 % of a
#: normal spread, the usual line between "within noise" and "decided"
BAND_SIGMAS = 2


@dataclass
class Stat:
    """A value a check compares: the cells it comes from and its spread (std, for the band rule)."""

    value: float
    cells: tuple
    sigma: float = 0.0
    text: str = ""

    @property
    def n(self) -> int:
        return min((c.n for c in self.cells), default=1)


@dataclass(frozen=True)
class Missing:
    """What a value lacks instead of a :class:`Stat` ("epf of e2gc:32 (mobilenet_v1)")."""

    what: str


def cell_stat(cell: Cell) -> Stat:
    return Stat(cell.value, (cell,), cell.spread, fmt(cell.quantity, cell.value, cell))


def cells_of(stats: Iterable[Stat | Cell]) -> tuple:
    out = []
    for s in stats:
        out.extend(s.cells if isinstance(s, Stat) else [s])
    return tuple(out)


def _as_cell(s: Stat) -> Cell:
    return Cell(None, None, "", s.value, s.sigma if s.sigma else math.nan, s.n, "exact")


def pooled(a: Stat, b: Stat) -> float:
    """Pooled std of two stats (each with its std and its smallest n)."""
    return pooled_std(_as_cell(a), _as_cell(b))


def rel_pooled(a: Stat, b: Stat) -> float:
    return relative_pooled_std(_as_cell(a), _as_cell(b))


def gate(stats: Iterable[Stat | Cell], absolute: bool = False) -> Verdict | None:
    """Failed sanity -> not testable here (at this scale: ...); a trained value from fewer than
    MIN_SEEDS seeds -> inconclusive (k seeds); an absolute value of a scaled-down run (``absolute``)
    -> inconclusive."""
    cells = cells_of(stats)
    failed = sorted({c.sanity for c in cells if c.sanity})
    if failed:
        return V.not_testable("at this scale: " + "; ".join(failed))
    if absolute and any(c.kind == SCALED for c in cells):
        return V.inconclusive("absolute values of a scaled-down run are not compared with printed ones")
    seeds = [c.n for c in cells if c.needs_seeds]
    if seeds and min(seeds) < MIN_SEEDS:
        k = min(seeds)
        return V.inconclusive(f"{k} seed{'s' if k != 1 else ''}; at least {MIN_SEEDS} needed")
    return None


@dataclass(frozen=True)
class Region:
    """An interval of allowed values, each end open or closed."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_closed: bool = True
    hi_closed: bool = True

    def contains(self, x: float) -> bool:
        scale = max(1.0, abs(x))
        lo_ok = x > self.lo or (self.lo_closed and x >= self.lo - EPS * scale)
        hi_ok = x < self.hi or (self.hi_closed and x <= self.hi + EPS * scale)
        return lo_ok and hi_ok


def band(sigma: float) -> float:
    """The band's half-width for a spread (0 for a missing or NaN spread)."""
    return 0.0 if not sigma or math.isnan(sigma) else BAND_SIGMAS * sigma


def decide(x: float, sigma: float, region: Region) -> str:
    """The band rule: HOLDS if [x - 2 sigma, x + 2 sigma] lies in the region, DOES_NOT_HOLD if it lies
    outside it, else INCONCLUSIVE. sigma = 0 (deterministic values) compares x directly."""
    half = band(sigma)
    if half == 0:
        return V.HOLDS if region.contains(x) else V.DOES_NOT_HOLD
    lo, hi = x - half, x + half
    if region.contains(lo) and region.contains(hi):
        return V.HOLDS
    outside_hi = lo > region.hi or (lo == region.hi and not region.hi_closed)
    outside_lo = hi < region.lo or (hi == region.lo and not region.lo_closed)
    return V.DOES_NOT_HOLD if (outside_hi or outside_lo) else V.INCONCLUSIVE


def n_text(n: int, cells: Sequence) -> str:
    """``n = 3 seeds`` / ``n = 6 trials``: what the spread is taken over, when the cells say it (a
    timed call repeated six times is not six trained models)."""
    what = {c.replicates for c in cells if getattr(c, "replicates", None)}
    return f"n = {n}" + (f" {what.pop()}" if len(what) == 1 else "")


def _band_reason(sigma: float, stats: Sequence[Stat]) -> str:
    n = min((s.n for s in stats), default=1)
    return (f"difference within {BAND_SIGMAS} pooled std ({BAND_SIGMAS} x {sigma:.3g}, "
            f"{n_text(n, [c for s in stats for c in s.cells])})")


def verdict_of(kind: str, sigma: float, stats: Sequence[Stat], shown: str = "") -> Verdict:
    if kind == V.HOLDS:
        return V.holds()
    if kind == V.DOES_NOT_HOLD:
        return V.does_not_hold(shown)
    return V.inconclusive(_band_reason(sigma, stats))


def relation_check(a: Stat, b: Stat, relation: str, args: Mapping) -> tuple[str, float, str]:
    """Judge ``a <relation> b``: (verdict kind, sigma used, text shown)."""
    tol = args.get("tolerance")
    pts = args.get("tolerance_pts")
    d = a.value - b.value
    sd = pooled(a, b)
    shown = f"{a.text} vs {b.text}"
    if relation in ("lower", "higher"):
        region = Region(hi=0, hi_closed=False) if relation == "lower" else Region(lo=0, lo_closed=False)
        return decide(d, sd, region), sd, shown
    if pts is not None:
        t = float(pts)
        region = {"comparable": Region(-t, t), "lower_or_comparable": Region(hi=t),
                  "slightly_higher": Region(0, t, lo_closed=False)}[relation]
        return decide(d, sd, region), sd, shown + f" ({d:+.3g})"
    t = float(tol if tol is not None else 0.0)
    if not b.value:
        return V.INCONCLUSIVE, 0.0, shown + " (b = 0)"
    r = a.value / b.value
    sr = abs(r) * rel_pooled(a, b)
    region = {"comparable": Region(1 - t, 1 + t), "lower_or_comparable": Region(hi=1 + t),
              "slightly_higher": Region(1, 1 + t, lo_closed=False)}[relation]
    return decide(r, sr, region), sr, shown + f" (ratio {r:.3f})"


def fmt(quantity: str | None, value: float, cell: Cell | None = None) -> str:
    unit = BASE_UNITS.get(quantity or "", "")
    v = float(value)
    if unit == "count":
        if quantity in ("params", "params_per_processor", "train_params", "macs", "macs_per_group",
                        "activations", "comm_volume") and abs(v) >= 1e6:
            text = f"{v / 1e9:.3f} G" if abs(v) >= 1e9 else f"{v / 1e6:.3f} M"
        else:
            text = f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"
    elif unit == "mJ":
        text = f"{v:.0f} mJ" if abs(v) >= 100 else f"{v:.3g} mJ"
    elif unit == "%":
        text = f"{v:.2f} %"
    elif unit == "s":
        text = (f"{v:.0f} s" if abs(v) >= 100 else f"{v:.3g} s") if abs(v) >= 1 else f"{v * 1e3:.3g} ms"
    elif unit == "bytes":
        text = f"{v / 2 ** 30:.2f} GiB"
    else:
        text = f"{v:.4g}"
    if cell is not None and cell.spread > 0:
        text += f" ± {fmt(quantity, cell.spread)} ({n_text(cell.n, [cell])})"  # the spread in the value's unit
    return text


def size_rule(args: Mapping, paper_side: bool, ours: float, sigma: float, printed_text: str,
              stats: Sequence[Stat], unit: str = " %") -> Verdict:
    """A printed size (a %, a difference) against ours.

    * the paper's own numbers (quoted) reproduce it at the printed precision
      (:func:`gconvlib.tables.verdict`: exact or truncated);
    * ours: holds when |ours - printed| <= max(2 sigma, tolerance); inconclusive when 2 sigma is
      at least the printed size itself;
    * a missed size with the printed sign: ``holds only (direction; ours vs printed)``.
    """
    printed = float(printed_text)
    shown = f"{ours:.2f}{unit} vs printed {printed_text} %"  # the papers print every size in %
    if paper_side or all(c.kind == QUOTED for s in stats for c in s.cells):
        if precision_verdict(printed_text, ours) in ("exact", "truncated"):
            return V.holds()
        if ours * printed > 0:
            return V.holds_only(f"direction; {shown}")
        return V.does_not_hold(shown)
    tol = 0.0
    if args.get("tolerance_pts") is not None:
        tol = float(args["tolerance_pts"])
    elif args.get("tolerance") is not None:
        tol = float(args["tolerance"]) * abs(printed)
    half = band(sigma)
    if half and half >= abs(printed):
        return V.inconclusive(f"{BAND_SIGMAS} pooled std ({half:.3g}) is as large as the printed {printed_text}{unit}")
    if abs(ours - printed) <= max(half, tol) + EPS * max(1, abs(printed)):
        if abs(ours - printed) <= tol + EPS * max(1, abs(printed)):
            return V.holds()
        # not the printed size, only not distinguishable from it: say so, and with what spread
        # (n counts timed calls or seeds, whichever the evidence has)
        spread = f"{half:.3g} percentage points" if unit.strip() == "%" else f"{half:.3g}{unit}"
        return V.holds(f"{shown}: within {BAND_SIGMAS} pooled std ({spread})")
    if ours * printed > 0 and abs(ours) > half:
        return V.holds_only(f"direction; {shown}")
    if abs(ours) <= half:
        return V.inconclusive(f"{shown}: within {BAND_SIGMAS} pooled std of 0")
    return V.does_not_hold(shown)
