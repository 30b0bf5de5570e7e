"""The 14 evaluators of ``claims.yaml``: each turns a claim and an :class:`Evidence` into checks.

Shared machinery (one place for all evaluators):

* :class:`Ctx`       the claim, the evidence, which side is judged (ours / the paper's numbers);
* :func:`contexts`   the grid of a claim: models x datasets x devices x batch sizes;
* :func:`family`, :func:`pairs`   ``gc:*`` families, ``per: k`` pairing, ``matched`` pairs;
* :func:`side_stat`  one side of a comparison: a cell, a family's min/max, a drop from a baseline;
* :func:`gate`       failed sanity -> not testable; too few seeds -> inconclusive;
* :func:`decide`     the band rule: a statistic with spread sigma decides only when the whole band
                     [x - 2 sigma, x + 2 sigma] lies inside (holds) or outside (does not hold) the
                     region the claim allows, otherwise inconclusive. For a difference a - b the
                     region is one side of 0 and sigma the pooled std: |a - b| > 2 * pooled std;
* :func:`size_rule`  printed sizes (%, differences): the header's size rule.

Each evaluator returns a list of :class:`~gconvlib.claims.verdicts.Check`; the claim's verdict
is :func:`~gconvlib.claims.verdicts.combine` of them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import paper as paper_values
from ..tables import verdict as precision_verdict
from . import verdicts as V
from .evidence import (BASE_UNITS, MIN_SEEDS, QUOTED, SCALED, TRAINED, UNIT_SCALE, Cell, Evidence,
                       layer_model, pooled_std, relative_pooled_std)
from .registry import Claim
from .verdicts import Check, Verdict

EPS = 1e-9  # closed bounds of exact ratios ("tolerance: 0")


# ---------------------------------------------------------------------------------------------
# context

@dataclass
class Ctx:
    """What an evaluator works on."""

    claim: Claim
    ev: Evidence
    side: str = "ours"  # "ours" | "paper"
    _printed: pd.DataFrame | None = field(default=None, repr=False)
    _printed_ev: Evidence | None = field(default=None, repr=False)

    @property
    def args(self) -> Mapping:
        return self.claim.args

    @property
    def paper_side(self) -> bool:
        return self.side == "paper"

    @property
    def printed(self) -> pd.DataFrame:
        if self._printed is None:
            self._printed = self.claim.printed()
        return self._printed

    @property
    def printed_ev(self) -> Evidence:
        """The claim's printed rows as quoted evidence (used to match pairs on printed MACs)."""
        if self._printed_ev is None:
            self._printed_ev = Evidence.from_values(self.printed)
        return self._printed_ev

    def missing(self, what: str) -> Verdict:
        return V.not_yet(f"no {what}")


def _list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def quantities(args: Mapping) -> list[str]:
    if "quantities" in args:
        return [str(q) for q in args["quantities"]]
    q = args.get("quantity")
    return [] if q is None or isinstance(q, Mapping) else [str(q)]


def claim_quantities(args: Mapping) -> set[str]:
    """Every quantity a claim's evaluation reads (args quantity / quantities / directions / sides)."""
    out = set(quantities(args)) | set(dict(args.get("directions", {})))
    for key in ("a", "b"):
        if isinstance(args.get(key), Mapping) and "quantity" in args[key]:
            out.add(str(args[key]["quantity"]))
    if isinstance(args.get("reference"), Mapping):
        out.add(str(args["reference"]["quantity"]))
    out |= set(dict(args.get("also", {})))
    return out


def models(args: Mapping) -> list[str | None]:
    if "layer" in args:
        return [layer_model(**_layer(args["layer"]))]
    if "layers" in args:
        return [layer_model(**_layer(layer)) for layer in args["layers"]]
    if "model" in args:
        return [str(args["model"])]
    if "models" in args:
        return [str(m) for m in args["models"]]
    return [None]


def _layer(spec: Mapping) -> dict:
    return {k: int(spec[k]) for k in ("m", "n", "k", "h", "w") if k in spec}


def layer_of(model: str | None) -> dict | None:
    """The {m, n, k, h, w} of a :func:`layer_model` key."""
    if model and model.startswith("conv("):
        return {k: int(v) for k, v in re.findall(r"(\w)=(\d+)", model)}
    return None


def datasets_for(args: Mapping, model: str | None) -> list[str] | None:
    if "dataset" in args:
        return [str(args["dataset"])]
    if "datasets" in args:
        d = args["datasets"]
        if isinstance(d, Mapping):
            return [str(x) for x in d.get(model, ())]
        return [str(x) for x in d]
    return None


def batch_sizes(args: Mapping) -> list[int] | None:
    if "batch_sizes" in args:
        return [int(b) for b in args["batch_sizes"]]
    if "batch_size" in args:
        return [int(args["batch_size"])]
    return None


@dataclass(frozen=True)
class Context:
    model: str | None
    device: str | None = None
    batch_size: int | None = None
    dataset: str | None = None
    part: str | None = None
    found: bool = True  # False: a required context the evidence lacks

    def label(self, item: str = "") -> tuple:
        item = " ".join(x for x in (self.part or "", item) if x)
        return (self.model or "", self.dataset or "", self.device or "",
                "" if self.batch_size is None else f"B = {self.batch_size}", item)

    def where(self) -> str:
        return ", ".join(s for s in self.label() if s)


def contexts(ctx: Ctx, model: str | None, qs: Sequence[str]) -> list[Context]:
    """Every (device, batch size, dataset) of the model's evidence for these quantities, filtered by
    the claim's datasets / batch_sizes (/ paper_devices on the paper side); a required combination
    the evidence lacks is a context of its own (its checks say what is missing)."""
    args = ctx.args
    found = set()
    for q in qs:
        found |= ctx.ev.contexts(model, q)
    ds, bs = datasets_for(args, model), batch_sizes(args)
    devices = [str(d) for d in args["paper_devices"]] if ctx.paper_side and "paper_devices" in args else None
    # a value without a batch size (a printed reduction, an exact count) is valid at any batch size
    keep = sorted({c for c in found if (ds is None or c[2] in ds) and (bs is None or c[1] in bs or c[1] is None)
                   and (devices is None or c[0] in devices)}, key=lambda c: tuple(str(x) for x in c))
    out = [Context(model, *c) for c in keep]
    for d in (ds if ds is not None else [None]):
        for b in (bs if bs is not None else [None]):
            if not any((d is None or c.dataset == d) and (b is None or c.batch_size in (b, None)) for c in out):
                out.append(Context(model, None, b, d, found=False))
    return out


def per_part(ctx: Ctx, cs: Sequence[Context], qs: Sequence[str]) -> list[Context]:
    """``per: layer``: each context once per part (layer) the evidence has for it."""
    if ctx.args.get("per") != "layer":
        return list(cs)
    out = []
    for c in cs:
        parts = sorted({x.part for q in qs for x in ctx.ev.cells(c.model, q) if x.part and x.epoch is None
                        and (x.device, x.batch_size, x.dataset) == (c.device, c.batch_size, c.dataset)})
        out.extend(Context(c.model, c.device, c.batch_size, c.dataset, p) for p in parts)
        if not parts:
            out.append(c)
    return out


# ---------------------------------------------------------------------------------------------
# variants, families, pairs

def kind_of(variant: str) -> str:
    return variant.split(":", 1)[0]


def k_of(variant: str | None) -> int | None:
    """The group parameter of a variant text: ``gc:8`` -> 8, ``standard`` -> 1, VGG -> None."""
    if variant is None:
        return None
    if variant == "standard":
        return 1
    parts = variant.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@lru_cache(maxsize=64)
def _paper_variants(model: str) -> tuple[str, ...]:
    from ..models.spec import scheme_text

    rows = paper_values.load_values(model=model)
    out = []
    for r in rows.itertuples():
        if r.scheme and not (pd.isna(r.k) and r.scheme not in ("standard", "baseline", "A", "B", "C", "D", "E")):
            text = scheme_text(r.scheme, None if pd.isna(r.k) else int(r.k))
            if text not in out:
                out.append(text)
    return tuple(out)


def family(ctx: Ctx, model: str | None, text: str, qs: Sequence[str] = ()) -> list[str]:
    """Variants of a family text: ``gc:*`` -> every k the paper prints for the model (``args.ks`` when
    given; else the evidence's), ``gc2l:*:unfused`` -> ``gc2l:k:unfused``; ``gc:m`` -> the layer's
    depthwise g; anything else is itself."""
    text = str(text)
    parts = text.split(":")
    if len(parts) < 2 or parts[1] not in ("*", "m"):
        return [text]
    scheme, suffix = parts[0], ":".join(parts[2:])
    if parts[1] == "m":
        layer = layer_of(model) or {}
        ks = [layer["m"]] if "m" in layer else []
    elif "ks" in ctx.args:
        ks = [int(k) for k in ctx.args["ks"]]
    else:
        printed = [k_of(v) for v in _paper_variants(model) if kind_of(v) == scheme] if model else []
        if printed:
            ks = printed
        else:
            seen = set()
            for q in (qs or quantities(ctx.args)):
                seen |= {k_of(v) for v in ctx.ev.variants(model, q) if kind_of(v) == scheme}
            ks = sorted(k for k in seen if k is not None)
    return [f"{scheme}:{k}" + (f":{suffix}" if suffix else "") for k in sorted(set(ks))]


def expand(ctx: Ctx, model: str | None, texts: Any, qs: Sequence[str] = ()) -> list[str]:
    out = []
    for t in _list(texts):
        for v in family(ctx, model, t, qs):
            if v not in out:
                out.append(v)
    return out


def is_family(text: Any) -> bool:
    return isinstance(text, str) and ":*" in text


def pair_up(ctx: Ctx, model: str | None, a: Any, b: Any, qs: Sequence[str]) -> list[tuple[Any, Any]]:
    """Pairs of one [a, b]: two families pair on equal k (``per: k``), a family against a variant
    pairs every member with it; side mappings ({min: ...}, {quantity: ...}) are kept as they are."""
    if isinstance(a, str) and isinstance(b, str):
        fa, fb = family(ctx, model, a, qs), family(ctx, model, b, qs)
        if is_family(a) and is_family(b):
            bk = {k_of(v): v for v in fb}
            suffix_b = ":".join(b.split(":")[2:])
            return [(va, bk.get(k_of(va), f"{b.split(':')[0]}:{k_of(va)}" + (f":{suffix_b}" if suffix_b else "")))
                    for va in fa]
        return [(va, vb) for va in fa for vb in fb]
    if isinstance(a, str):
        return [(va, b) for va in family(ctx, model, a, qs)]
    if isinstance(b, str):
        return [(a, vb) for vb in family(ctx, model, b, qs)]
    if "over" in ctx.args:
        return [(_with(a, variant=v), _with(b, variant=v)) for v in expand(ctx, model, ctx.args["over"], qs)]
    va, vb = (a or {}).get("variant"), (b or {}).get("variant")
    if is_family(va):  # {model: x, variant: "gc2l:*"} vs {model: y, variant: "gc2l:*"}: pair on k
        ma = _list(a.get("model", model))[0]
        out = []
        for v in family(ctx, ma, va, qs):
            other = f"{vb.split(':')[0]}:{k_of(v)}" if is_family(vb) else vb
            out.append((_with(a, variant=v), _with(b, variant=other)))
        return out
    return [(a, b)]


def _with(side: Any, **changes) -> dict:
    out = dict(side) if isinstance(side, Mapping) else {"variant": side}
    out.update(changes)
    return out


def pairs(ctx: Ctx, model: str | None, qs: Sequence[str]) -> list[tuple[Any, Any]]:
    """The [a, b] pairs of a claim (``pairs``, ``pairs: matched``, or ``a`` / ``b``) for one model."""
    args = ctx.args
    if args.get("pairs") == "matched":
        return matched_pairs(ctx, model)
    if "pairs" in args:
        out = []
        for a, b in args["pairs"]:
            out.extend(pair_up(ctx, model, a, b, qs))
        return out
    return pair_up(ctx, model, args.get("a"), args.get("b"), qs)


def matched_pairs(ctx: Ctx, model: str | None) -> list[tuple[str, str]]:
    """Every (family_a x family_b) pair whose ``match_on`` quantities are within ``match_within``
    (relative), matched on the paper's printed values (the pairing the text's "comparable" means)."""
    args = ctx.args
    fa = family(ctx, model, args["family_a"])
    fb = family(ctx, model, args["family_b"])
    within = float(args.get("match_within", 0.10))
    out = []
    for a in fa:
        for b in fb:
            for q in _list(args.get("match_on")):
                ca, cb = ctx.printed_ev.cell(model, a, q), ctx.printed_ev.cell(model, b, q)
                if ca and cb and cb.value and abs(ca.value / cb.value - 1) <= within + EPS:
                    out.append((a, b))
                    break
    return out


def vlist(variants: Sequence[str]) -> str:
    """A list of variants, runs of one scheme shortened: ``gc:1 .. gc:512 (10)``."""
    out, run = [], []

    def flush():
        if len(run) > 3:
            out.append(f"{run[0]} .. {run[-1]} ({len(run)})")
        else:
            out.extend(run)
        run.clear()

    for v in variants:
        if run and (":" not in v or kind_of(v) != kind_of(run[-1])):
            flush()
        run.append(v)
    flush()
    return ", ".join(out)


def side_text(side: Any) -> str:
    if isinstance(side, str):
        return side
    if side is None:
        return "?"
    if "min" in side or "max" in side:
        op = "min" if "min" in side else "max"
        return f"{op} {side[op]}"
    bits = []
    if "model" in side:
        m = side["model"]
        bits.append("/".join(m) if isinstance(m, (list, tuple)) else str(m))
    if "variant" in side:
        bits.append(str(side["variant"]))
    if "quantity" in side:
        bits.append(str(side["quantity"]) + (f" drop from {side['drop_from']}" if "drop_from" in side else ""))
    return " ".join(bits)


# ---------------------------------------------------------------------------------------------
# statistics

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


def cell_stat(cell: Cell) -> Stat:
    return Stat(cell.value, (cell,), cell.spread, fmt(cell.quantity, cell.value, cell))


def lookup(ctx: Ctx, model: str | None, variant: str | None, quantity: str, c: Context,
           part: str | None = None) -> Cell | None:
    return ctx.ev.cell(model, variant, quantity, c.device, c.batch_size, c.dataset, part or c.part)


def side_stat(ctx: Ctx, side: Any, quantity: str | None, c: Context, model: str | None = None) -> Stat | str:
    """The value of one side in context ``c``; a string says what is missing."""
    model = c.model if model is None else model
    if isinstance(side, str) or side is None:
        cell = lookup(ctx, model, side, quantity, c)
        return cell_stat(cell) if cell else _what(quantity, side, model)
    side = dict(side)
    q = str(side.get("quantity", quantity))
    m = side.get("model", model)
    if "min" in side or "max" in side:
        op = "min" if "min" in side else "max"
        members = family(ctx, m, side[op], [q])
        cells = [x for x in (lookup(ctx, m, v, q, c) for v in members) if x is not None]
        if not cells:
            return f"{q} of {side[op]}" + (f" ({m})" if m else "")
        best = (min if op == "min" else max)(cells, key=lambda x: x.value)
        st = cell_stat(best)
        st.text = f"{best.variant} {st.text}"
        if len(cells) < len(members):
            st.text += f" (of {len(cells)}/{len(members)})"
        return st
    variant = side.get("variant")
    if "drop_from" in side:
        base = lookup(ctx, m, side["drop_from"], q, c)
        this = lookup(ctx, m, variant, q, c)
        if base is None or this is None:
            return f"{q} of {side['drop_from'] if base is None else variant}" + (f" ({m})" if m else "")
        value = base.value - this.value
        return Stat(value, (base, this), math.hypot(base.spread, this.spread), fmt(q, value, None))
    cell = lookup(ctx, m, variant, q, c)
    return cell_stat(cell) if cell else _what(q, variant, m)


def _what(quantity: str | None, variant: str | None, model: str | None) -> str:
    """What is missing: "epf of e2gc:32 (mobilenet_v1)"."""
    return f"{quantity}" + (f" of {variant}" if variant else "") + (f" ({model})" if model else "")


def pooled(a: Stat, b: Stat) -> float:
    """Pooled std of two stats (each with its std and its smallest n)."""
    ca = Cell(None, None, "", a.value, a.sigma if a.sigma else math.nan, a.n, "exact")
    cb = Cell(None, None, "", b.value, b.sigma if b.sigma else math.nan, b.n, "exact")
    return pooled_std(ca, cb)


def rel_pooled(a: Stat, b: Stat) -> float:
    ca = Cell(None, None, "", a.value, a.sigma if a.sigma else math.nan, a.n, "exact")
    cb = Cell(None, None, "", b.value, b.sigma if b.sigma else math.nan, b.n, "exact")
    return relative_pooled_std(ca, cb)


def gate(stats: Iterable[Stat | Cell], absolute: bool = False) -> Verdict | None:
    """Failed sanity -> not testable here (at this scale: ...); a trained value from fewer than
    MIN_SEEDS seeds -> inconclusive (k seeds); an absolute value of a scaled-down run (``absolute``)
    -> inconclusive."""
    cells = []
    for s in stats:
        cells.extend(s.cells if isinstance(s, Stat) else [s])
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


def decide(x: float, sigma: float, region: Region) -> str:
    """The band rule: HOLDS if [x - 2 sigma, x + 2 sigma] lies in the region, DOES_NOT_HOLD if it lies
    outside it, else INCONCLUSIVE. sigma = 0 (deterministic values) compares x directly."""
    sigma = 0.0 if not sigma or math.isnan(sigma) else sigma
    if sigma == 0:
        return V.HOLDS if region.contains(x) else V.DOES_NOT_HOLD
    lo, hi = x - 2 * sigma, x + 2 * sigma
    if region.contains(lo) and region.contains(hi):
        return V.HOLDS
    outside_hi = lo > region.hi or (lo == region.hi and not region.hi_closed)
    outside_lo = hi < region.lo or (hi == region.lo and not region.lo_closed)
    return V.DOES_NOT_HOLD if (outside_hi or outside_lo) else V.INCONCLUSIVE


def _band_reason(sigma: float, stats: Sequence[Stat]) -> str:
    n = min((s.n for s in stats), default=1)
    return f"difference within 2 pooled std (2 x {sigma:.3g}, n = {n})"


def verdict_of(kind: str, sigma: float, stats: Sequence[Stat], shown: str = "") -> Verdict:
    if kind == V.HOLDS:
        return V.holds()
    if kind == V.DOES_NOT_HOLD:
        return V.does_not_hold(shown)
    return V.inconclusive(_band_reason(sigma, stats))


# relation -> which statistic and which region ---------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# formatting

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
        text += f" ± {fmt(quantity, cell.spread)} (n = {cell.n})"  # the spread in the value's unit
    return text


# ---------------------------------------------------------------------------------------------
# printed numbers

def printed_rows(ctx: Ctx, quantity: str | Sequence[str] | None = None, model: str | None = None) -> pd.DataFrame:
    p = ctx.printed
    if quantity is not None:
        p = p[p["quantity"].isin(_list(quantity))]
    if model is not None and len(p):
        own = p[p["model"] == model]
        p = own if len(own) else p[p["model"] == ""]
    return p


def printed_factor(ctx: Ctx, model: str | None) -> tuple[float, str] | None:
    """A printed ratio of the claim (``*_ratio`` rows): the model's own row, else the model-less one."""
    p = ctx.printed
    p = p[p["quantity"].str.endswith("_ratio")]
    if not len(p):
        return None
    own = p[p["model"] == (model or "")]
    row = (own if len(own) else p[p["model"] == ""]).head(1)
    if not len(row):
        row = p.head(1)
    return float(row["value"].iloc[0]), str(row["value_text"].iloc[0])


def factor_value(expr: Any, k: int | None, layer: Mapping | None = None) -> float:
    """``args.factor``: a number, or ``g``, ``g^2``, ``1/g``, ``n``, ``m`` (g = the variant's k)."""
    if isinstance(expr, (int, float)):
        return float(expr)
    text = str(expr).replace(" ", "")
    names = {"g": k, "G": k}
    if layer:
        names.update(n=layer.get("n"), m=layer.get("m"))
    m = re.fullmatch(r"(1/)?([gGnm])(\^2)?", text)
    if not m or names.get(m.group(2)) is None:
        raise ValueError(f"factor {expr!r}: a number or g, g^2, 1/g, n, m")
    v = float(names[m.group(2)]) ** (2 if m.group(3) else 1)
    return 1 / v if m.group(1) else v


def size_rule(ctx: Ctx, ours: float, sigma: float, printed_text: str, stats: Sequence[Stat],
              unit: str = " %") -> Verdict:
    """A printed size (a %, a difference) against ours.

    * the paper's own numbers (quoted) reproduce it at the printed precision
      (:func:`gconvlib.tables.verdict`: exact or truncated);
    * ours: holds when |ours - printed| <= max(2 sigma, tolerance); inconclusive when 2 sigma is
      at least the printed size itself;
    * a missed size with the printed sign: ``holds only (direction; ours vs printed)``.
    """
    printed = float(printed_text)
    shown = f"{ours:.2f}{unit} vs printed {printed_text}{unit}"
    if ctx.paper_side or all(c.kind == QUOTED for s in stats for c in s.cells):
        if precision_verdict(printed_text, ours) in ("exact", "truncated"):
            return V.holds()
        if ours * printed > 0:
            return V.holds_only(f"direction; {shown}")
        return V.does_not_hold(shown)
    args = ctx.args
    tol = 0.0
    if args.get("tolerance_pts") is not None:
        tol = float(args["tolerance_pts"])
    elif args.get("tolerance") is not None:
        tol = float(args["tolerance"]) * abs(printed)
    if sigma and 2 * sigma >= abs(printed):
        return V.inconclusive(f"2 pooled std ({2 * sigma:.3g}) is as large as the printed {printed_text}{unit}")
    if abs(ours - printed) <= max(2 * sigma, tol) + EPS * max(1, abs(printed)):
        return V.holds()
    if ours * printed > 0 and abs(ours) > 2 * sigma:
        return V.holds_only(f"direction; {shown}")
    if abs(ours) <= 2 * sigma:
        return V.inconclusive(f"{shown}: within 2 pooled std of 0")
    return V.does_not_hold(shown)


# ---------------------------------------------------------------------------------------------
# the evaluators

def _missing_check(ctx: Ctx, c: Context, what: str, item: str = "") -> Check:
    return Check(c.label(item), ctx.missing(what))


def ev_value_match(ctx: Ctx) -> list[Check]:
    args = ctx.args
    qs = quantities(args)
    p = ctx.printed
    if qs:
        p = p[p["quantity"].isin(qs)]
    ms = [m for m in models(args) if m is not None]
    if ms and "layer" not in args:
        p = p[p["model"].isin(ms) | (p["model"] == "")]
    if "variants" in args:
        from ..models.spec import scheme_text
        want = set(_list(args["variants"]))
        p = p[[scheme_text(s, None if pd.isna(k) else k) in want if s else False
               for s, k in zip(p["scheme"], p["k"])]]
    from ..models.spec import scheme_text

    checks = []
    for r in p.itertuples():
        variant = None
        if r.scheme and not (pd.isna(r.k) and r.scheme not in ("standard", "baseline", "A", "B", "C", "D", "E")):
            variant = scheme_text(r.scheme, None if pd.isna(r.k) else int(r.k))
        note = str(r.note)
        head = note.split(";", 1)[0].split(" ", 1)[0]
        part = head if head in ("train", "val", "test", "total", "min", "max") else None
        c = Context(r.model or None, r.device or None, None if pd.isna(r.batch_size) else int(r.batch_size),
                    r.dataset or None)
        item = " ".join(x for x in (variant or "", r.quantity, part or "") if x)
        cell = ctx.ev.cell(c.model, variant, r.quantity, c.device, c.batch_size, c.dataset, part)
        if cell is None:
            checks.append(_missing_check(ctx, c, f"{r.quantity} of {variant or c.model or c.dataset}", item))
            continue
        scale = UNIT_SCALE.get(r.unit, 1.0)
        ours = cell.value / scale
        stop = gate([cell], absolute=True)
        unit = "" if r.unit == "count" else f" {r.unit}"
        shown = f"{ours:.6g} vs printed {r.value_text}{unit}"
        if stop:
            checks.append(Check(c.label(item), stop, shown, (cell,)))
            continue
        tol = None
        if args.get("tolerance_pts") is not None:
            tol = float(args["tolerance_pts"])
        elif args.get("tolerance") is not None:
            tol = float(args["tolerance"]) * abs(float(r.value))
        if tol is None or ctx.paper_side:
            how = precision_verdict(str(r.value_text), ours)
            v = V.holds() if how in ("exact", "truncated") else V.does_not_hold(f"{how}: {shown}")
        else:
            sigma = cell.spread
            ok = abs(ours - float(r.value)) <= max(tol, 2 * sigma / scale) + EPS * max(1, abs(ours))
            v = V.holds() if ok else V.does_not_hold(shown)
        checks.append(Check(c.label(item), v, shown, (cell,)))
    return checks


def ev_compare(ctx: Ctx) -> list[Check]:
    args = ctx.args
    relation = str(args["relation"])
    qs = quantities(args) or [None]
    checks = []
    ms = models(args)
    if ms == [None]:  # the sides name their models: contexts from the first side's model
        named = [m for s in (args.get("a"), args.get("b")) if isinstance(s, Mapping) for m in _list(s.get("model"))]
        ms = named[:1] or ms
    for q in qs:
        side_qs = [q] if q else [s.get("quantity") for s in (args.get("a"), args.get("b")) if isinstance(s, Mapping)]
        side_qs = [x for x in side_qs if x]
        for m in ms:
            for c in contexts(ctx, m, side_qs):
                for a, b in pairs(ctx, m, side_qs):
                    checks.extend(_compare_pair(ctx, c, a, b, q, relation, prefix=q if len(qs) > 1 else ""))
    return checks


def _side_models(side: Any) -> list:
    if isinstance(side, Mapping) and "model" in side and isinstance(side["model"], (list, tuple)):
        return [_with(side, model=m) for m in side["model"]]
    return [side]


def _compare_pair(ctx: Ctx, c: Context, a: Any, b: Any, q: str | None, relation: str, prefix: str = "") -> list[Check]:
    out = []
    for a1 in _side_models(a):
        for b1 in _side_models(b):
            item = " ".join(x for x in (prefix, f"{side_text(a1)} vs {side_text(b1)}") if x)
            sa, sb = side_stat(ctx, a1, q, c), side_stat(ctx, b1, q, c)
            if isinstance(sa, str) or isinstance(sb, str):
                out.append(_missing_check(ctx, c, sa if isinstance(sa, str) else sb, item))
                continue
            stop = gate([sa, sb])
            if stop:
                out.append(Check(c.label(item), stop, f"{sa.text} vs {sb.text}", sa.cells + sb.cells))
                continue
            kind, sigma, shown = relation_check(sa, sb, relation, ctx.args)
            out.append(Check(c.label(item), verdict_of(kind, sigma, [sa, sb], shown), shown, sa.cells + sb.cells))
    return out


def ev_ratio(ctx: Ctx) -> list[Check]:
    args = ctx.args
    if "parts" in args:
        return _ratio_parts(ctx)
    relation = str(args["relation"])
    qs = quantities(args)
    checks = []
    for q in qs or [None]:
        side_qs = [q] if q else [s.get("quantity") for s in (args.get("a"), args.get("b")) if isinstance(s, Mapping)]
        for m in models(args):
            printed = printed_factor(ctx, m)
            side_qs = [x for x in side_qs if x]
            for c in per_part(ctx, contexts(ctx, m, side_qs), side_qs):
                for a, b in pairs(ctx, m, side_qs):
                    item = f"{side_text(a)} / {side_text(b)}"
                    sa, sb = side_stat(ctx, a, q, c), side_stat(ctx, b, q, c)
                    if isinstance(sa, str) or isinstance(sb, str):
                        checks.append(_missing_check(ctx, c, sa if isinstance(sa, str) else sb, item))
                        continue
                    stop = gate([sa, sb])
                    if stop:
                        checks.append(Check(c.label(item), stop, "", sa.cells + sb.cells))
                        continue
                    if printed is not None:
                        f, ftext = printed
                    else:
                        k = k_of(a if isinstance(a, str) else None)
                        if k in (None, 1):
                            k = k_of(b if isinstance(b, str) else None)
                        f = factor_value(args["factor"], k, layer_of(m))
                        ftext = f"{f:.4g}"
                    r = sa.value / sb.value if sb.value else math.inf
                    sr = abs(r) * rel_pooled(sa, sb)
                    t = float(args.get("tolerance", 0.0))
                    region = {"approx": Region(f * (1 - t), f * (1 + t)), "at_most": Region(hi=f),
                              "at_least": Region(lo=f)}[relation]
                    kind = decide(r, sr, region)
                    shown = f"{r:.4g} vs {relation.replace('_', ' ')} {ftext}"
                    v = verdict_of(kind, sr, [sa, sb], shown) if kind != V.INCONCLUSIVE else \
                        V.inconclusive(f"ratio {r:.3g} ± 2 x {sr:.2g} straddles {ftext}")
                    checks.append(Check(c.label(item), v, shown, sa.cells + sb.cells))
    return checks


def _ratio_parts(ctx: Ctx) -> list[Check]:
    """Shares of a split (train:val:test) against the printed proportions."""
    args = ctx.args
    parts = [str(p) for p in args["parts"]]
    q = quantities(args)[0]
    shares = printed_rows(ctx, "split_ratio")
    want = {}
    for r in shares.itertuples():
        head = str(r.note).split(";", 1)[0].strip()
        want[head] = float(r.value)
    total_want = sum(want.get(p, math.nan) for p in parts)
    checks = []
    for m in models(args):
        for c in contexts(ctx, m, [q]):
            cells = {p: ctx.ev.cell(m, None, q, c.device, c.batch_size, c.dataset, p) for p in parts}
            if any(v is None for v in cells.values()) or any(p not in want for p in parts):
                miss = [p for p, v in cells.items() if v is None] or [p for p in parts if p not in want]
                checks.append(_missing_check(ctx, c, f"{q} of the {', '.join(miss)} split"))
                continue
            gated = gate(cells.values())
            if gated is not None:
                checks.append(Check(c.label(), gated, "", tuple(cells.values())))
                continue
            total = sum(x.value for x in cells.values())
            t = float(args.get("tolerance", 0.0))
            for p in parts:
                share, expect = cells[p].value / total, want[p] / total_want
                ok = abs(share / expect - 1) <= t + EPS
                shown = f"{p} {share:.3f} vs {expect:.3f}"
                checks.append(Check(c.label(p), V.holds() if ok else V.does_not_hold(shown), shown, (cells[p],)))
    return checks


def _reduction(a: Stat, base: Stat) -> tuple[float, float]:
    """100 (base - a) / base and its spread (from the pooled relative std)."""
    r = a.value / base.value
    return 100 * (1 - r), 100 * abs(r) * rel_pooled(a, base)


def ev_reduction_pct(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    for m in models(args):
        prows = printed_rows(ctx, model=m)
        if len(prows):  # the printed size: energy_gain or a *_drop row
            prows = prows[(prows["quantity"] == "energy_gain") | prows["quantity"].str.endswith("_drop")]
        if not len(prows):
            continue
        ptext, pquantity = str(prows["value_text"].iloc[0]), str(prows["quantity"].iloc[0])
        # a printed reduction vs the VGG baseline (*_drop rows) stands for one not computed
        fallback = pquantity.endswith("_drop") and str(args["baseline"]) == "baseline"
        cs = contexts(ctx, m, [q])
        if fallback and not any(c.found for c in cs):
            cs = contexts(ctx, m, [pquantity])
        for c in cs:
            members = expand(ctx, m, args["over"], [q]) if "over" in args else [str(args["a"])]
            got = []
            missing = []
            for v in members:
                sa = side_stat(ctx, v, q, c)
                sb = side_stat(ctx, str(args["baseline"]), q, c)
                if not isinstance(sa, str) and not isinstance(sb, str):
                    red, sig = _reduction(sa, sb)
                    got.append((v, red, sig, [sa, sb]))
                    continue
                drop = lookup(ctx, m, v, pquantity, c) if fallback else None
                if drop is not None:
                    got.append((v, drop.value, drop.spread, [cell_stat(drop)]))
                else:
                    missing.append(sa if isinstance(sa, str) else sb)
            item = (f"{args.get('agg', '')} over {', '.join(members)}" if "over" in args
                    else f"{members[0]} vs {args['baseline']}")
            if not got:
                checks.append(_missing_check(ctx, c, missing[0] if missing else q, item.strip()))
                continue
            pick = max if args.get("agg", "max") == "max" else min
            v, red, sig, stats = pick(got, key=lambda g: g[1])
            stop = gate(stats)
            if stop:
                checks.append(Check(c.label(item), stop, "", tuple(x for s in stats for x in s.cells)))
                continue
            verdicts = []
            for reading in _list(args.get("readings")) or ["by"]:
                ours = red if reading == "by" else 100 - red
                verdicts.append((reading, size_rule(ctx, ours, sig, ptext, stats)))
            first = verdicts[0][1]
            if first.kind != V.HOLDS and any(vv.kind == V.HOLDS for _, vv in verdicts[1:]):
                reading = next(r for r, vv in verdicts[1:] if vv.kind == V.HOLDS)
                first = V.holds_only(f"read as 'reduced {reading} {ptext} %'")
            shown = f"{v}: {red:.2f} % vs printed {ptext} %"
            if "over" in args and len(got) < len(members):
                shown += f" (of {len(got)}/{len(members)} schemes)"
                if first.kind == V.HOLDS:
                    first = V.holds_only(f"over {', '.join(g[0] for g in got)} only")
            checks.append(Check(c.label(item), first, shown, tuple(x for s in stats for x in s.cells)))
    return checks


def ev_gain_pct(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    for m in models(args):
        prows = printed_rows(ctx, model=m)
        if not len(prows):
            continue
        ptext = str(prows["value_text"].iloc[0])
        for c in contexts(ctx, m, [q]):
            item = f"{args['a']} vs {args['b']}"
            sa, sb = side_stat(ctx, str(args["a"]), q, c), side_stat(ctx, str(args["b"]), q, c)
            if isinstance(sa, str) or isinstance(sb, str):
                checks.append(_missing_check(ctx, c, sa if isinstance(sa, str) else sb, item))
                continue
            else:
                stop = gate([sa, sb])
                if stop:
                    checks.append(Check(c.label(item), stop, "", sa.cells + sb.cells))
                    continue
                r = sa.value / sb.value
                gain, sig, stats = 100 * (r - 1), 100 * abs(r) * rel_pooled(sa, sb), [sa, sb]
                absolute = sa.value - sb.value
            v = size_rule(ctx, gain, sig, ptext, stats)
            shown = f"relative gain {gain:.2f} % vs printed {ptext} %" + (
                f" (absolute {absolute:+.2f} points)" if absolute is not None else "")
            checks.append(Check(c.label(item), v, shown, tuple(x for s in stats for x in s.cells)))
    return checks


def ev_difference(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    reading = str(args.get("reading", "points"))
    checks = []
    for m in models(args):
        prows = printed_rows(ctx, model=m)
        prows = prows[prows["quantity"].str.endswith("_drop")] if len(prows) else prows
        size = (str(prows["value_text"].iloc[0]), str(prows["quantity"].iloc[0])) if len(prows) and \
            "at_most" not in args and "at_least" not in args else None
        for c in contexts(ctx, m, [q]):
            for a, b in pairs(ctx, m, [q]):
                item = f"{side_text(a)} - {side_text(b)}"
                sa, sb = side_stat(ctx, a, q, c), side_stat(ctx, b, q, c)
                if isinstance(sa, str) or isinstance(sb, str):
                    # a printed drop of the same pair (values.csv *_drop rows) stands for a - b
                    drop_q = f"{q}_drop"
                    drop = lookup(ctx, m, b, drop_q, c) if isinstance(b, str) else None
                    if drop is None:
                        checks.append(_missing_check(ctx, c, sa if isinstance(sa, str) else sb, item))
                        continue
                    d, sig, stats, rel = drop.value, drop.spread, [cell_stat(drop)], None
                else:
                    stop = gate([sa, sb])
                    if stop:
                        checks.append(Check(c.label(item), stop, "", sa.cells + sb.cells))
                        continue
                    d, sig, stats = sa.value - sb.value, pooled(sa, sb), [sa, sb]
                    rel = 100 * d / sa.value if sa.value else math.nan
                    if reading == "relative":
                        d, rel = rel, d
                unit = " points" if reading == "points" else " %"
                other = f"; relative reading {rel:.2f} %" if rel is not None and args.get("also_relative") else ""
                if size is not None:
                    v = size_rule(ctx, d, sig, size[0], stats, unit=unit)
                    shown = f"{d:.2f}{unit} vs printed {size[0]}{other}"
                else:
                    region = (Region(hi=float(args["at_most"])) if "at_most" in args
                              else Region(lo=float(args["at_least"])))
                    kind = decide(d, sig, region)
                    bound = f"at most {args['at_most']}" if "at_most" in args else f"at least {args['at_least']}"
                    shown = f"{d:+.2f}{unit} vs {bound}{other}"
                    v = verdict_of(kind, sig, stats, shown)
                checks.append(Check(c.label(item), v, shown, tuple(x for s in stats for x in s.cells)))
    return checks


def _best(values: Sequence[tuple[str, Stat]], op: str) -> tuple[str, Stat]:
    return (min if op == "min" else max)(values, key=lambda t: t[1].value)


def ev_extremum(ctx: Ctx) -> list[Check]:
    args = ctx.args
    op = str(args["op"])
    expect = args.get("expect")
    if expect in ("varies_across_layers", "same_G_across_layers"):
        return _extremum_layers(ctx)
    checks = []
    for q in quantities(args):
        for m in models(args):
            over_all = expand(ctx, m, args["over"], [q])
            groups = [(f"g = {k}", [v for v in over_all if k_of(v) == k])
                      for k in sorted({k_of(v) for v in over_all if k_of(v) is not None})] \
                if args.get("per") == "k" else [("", over_all)]
            for c in contexts(ctx, m, [q]):
                for tag, members in groups:
                    k = k_of(members[0]) if tag else None
                    item = " ".join(x for x in (q if len(quantities(args)) > 1 else "", tag) if x)
                    got = [(v, cell_stat(x)) for v in members if (x := lookup(ctx, m, v, q, c)) is not None]
                    if len(got) < len(members):
                        miss = [v for v in members if lookup(ctx, m, v, q, c) is None]
                        checks.append(_missing_check(ctx, c, f"{q} of {vlist(miss)}", item))
                        continue
                    stop = gate([s for _, s in got])
                    if stop:
                        checks.append(Check(c.label(item), stop, "", tuple(x for _, s in got for x in s.cells)))
                        continue
                    if expect is not None:
                        wanted = [e.replace(":*", f":{k}") if k else e for e in _list(expect)]
                        allowed = set(expand(ctx, m, wanted, [q]))
                    else:
                        forbid = args["expect_not"]
                        forbid = forbid.get(m, ()) if isinstance(forbid, Mapping) else forbid
                        allowed = set(members) - set(expand(ctx, m, forbid, [q]))
                    good = [(v, s) for v, s in got if v in allowed]
                    bad = [(v, s) for v, s in got if v not in allowed]
                    winner, wstat = _best(got, op)
                    if not good or not bad:
                        v = V.holds() if good else V.does_not_hold(f"none of {sorted(allowed)} measured")
                        checks.append(Check(c.label(item), v, f"{op} at {winner}",
                                            tuple(x for _, s in got for x in s.cells)))
                        continue
                    gv, gs = _best(good, op)
                    bv, bs = _best(bad, op)
                    d = (gs.value - bs.value) if op == "min" else (bs.value - gs.value)  # < 0: expected wins
                    sigma = pooled(gs, bs)
                    kind = decide(d, sigma, Region(hi=0, hi_closed=False))
                    shown = f"{op} at {winner} ({wstat.text}); best expected {gv} {gs.text} vs {bv} {bs.text}"
                    checks.append(Check(c.label(item), verdict_of(kind, sigma, [gs, bs], shown), shown,
                                        tuple(x for _, s in got for x in s.cells)))
    return checks


def _extremum_layers(ctx: Ctx) -> list[Check]:
    """per: layer — the optimum of each layer (evidence ``part``), then: does it vary across layers
    (``varies_across_layers``) / is it the same within ``tolerance_factor`` (``same_G_across_layers``)."""
    args = ctx.args
    op, q, expect = str(args["op"]), quantities(args)[0], args["expect"]
    checks = []
    for m in models(args):
        members = expand(ctx, m, args["over"], [q])
        for c in contexts(ctx, m, [q]):
            parts = sorted({x.part for x in ctx.ev.cells(m, q) if x.part and x.epoch is None
                            and (x.device, x.batch_size, x.dataset) == (c.device, c.batch_size, c.dataset)})
            if not parts:
                checks.append(_missing_check(ctx, c, f"per-layer {q} of {m}"))
                continue
            best, undecided, used = {}, [], []
            for p in parts:
                got = [(v, cell_stat(x)) for v in members
                       if (x := ctx.ev.cell(m, v, q, c.device, c.batch_size, c.dataset, p)) is not None]
                if not got:
                    continue
                used.extend(x for _, s in got for x in s.cells)
                order = sorted(got, key=lambda t: t[1].value, reverse=(op == "max"))
                best[p] = order[0][0]
                if len(order) > 1:
                    spread = pooled(order[0][1], order[1][1])
                    if spread > 0 and abs(order[0][1].value - order[1][1].value) <= 2 * spread:
                        undecided.append(p)  # the layer's optimum is within the spread of the runner-up
            stop = gate(used)
            if stop:
                checks.append(Check(c.label(), stop, "", tuple(used)))
                continue
            ks = {p: k_of(v) for p, v in best.items()}
            distinct = sorted({k for k in ks.values() if k is not None})
            shown = f"optimum per layer: {', '.join(f'{p}: {v}' for p, v in list(best.items())[:6])}" + (
                "" if len(best) <= 6 else f" (+{len(best) - 6})")
            if expect == "varies_across_layers":
                ok = len(distinct) > 1
            else:
                ok = bool(distinct) and max(distinct) / min(distinct) <= float(args.get("tolerance_factor", 1)) + EPS
            if undecided and ok == (expect == "varies_across_layers"):
                v = V.inconclusive(f"the optimum of {len(undecided)} layer(s) is within 2 pooled std of the runner-up")
            else:
                v = V.holds() if ok else V.does_not_hold(shown)
            checks.append(Check(c.label(), v, shown, tuple(used)))
    return checks


def slope(xs: Sequence[float], ys: Sequence[float], sds: Sequence[float] | None = None,
          noisy: bool = True) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error.

    SE: 0 for deterministic values (``noisy=False``: exact counts, the paper's printed numbers);
    otherwise the larger of the regression's residual SE (needs 3 points) and the SE propagated
    from the per-point std, sqrt(sum((x - mean x)^2 sd^2)) / Sxx (the std of each point, not of
    its mean: as conservative as the pooled-std rule for differences)."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    xm = x - x.mean()
    sxx = float((xm ** 2).sum())
    if sxx == 0:
        return math.nan, math.nan
    b = float((xm * (y - y.mean())).sum() / sxx)
    if not noisy:
        return b, 0.0
    se = 0.0
    if len(x) >= 3:
        resid = y - (y.mean() + b * xm)
        se = math.sqrt(float((resid ** 2).sum()) / (len(x) - 2) / sxx)
    if sds is not None:
        s = np.nan_to_num(np.asarray(sds, float))
        se = max(se, math.sqrt(float((xm ** 2 * s ** 2).sum())) / sxx)
    return b, se


def _noisy(cells: Iterable[Cell]) -> bool:
    return any(not c.deterministic for c in cells)


DIRECTION_REGION = {"increasing": Region(lo=0, lo_closed=False), "decreasing": Region(hi=0, hi_closed=False)}


def _series(ctx: Ctx, m: str | None, q: str, members: Sequence[str], c: Context, x_of: Callable,
            log_y: bool = False, gap_to: str | None = None):
    """(xs, ys, sds, cells, missing) of a quantity over variants (y = q(v) - q(gap_to at the same k))."""
    xs, ys, sds, cells, missing = [], [], [], [], []
    for v in members:
        x = lookup(ctx, m, v, q, c)
        if x is None:
            missing.append(v)
            continue
        y, sd, used = x.value, x.spread, [x]
        if gap_to is not None:
            ref_v = family(ctx, m, gap_to)[0] if not is_family(gap_to) else f"{gap_to.split(':')[0]}:{k_of(v)}"
            ref = lookup(ctx, m, ref_v, q, c)
            if ref is None:
                missing.append(ref_v)
                continue
            y, sd, used = x.value - ref.value, math.hypot(x.spread, ref.spread), [x, ref]
        if log_y:
            if y <= 0:
                missing.append(f"{v} (log of {y:.3g})")
                continue
            sd, y = sd / y / math.log(2), math.log2(y)
        xs.append(x_of(v))
        ys.append(y)
        sds.append(sd)
        cells.extend(used)
    return xs, ys, sds, cells, missing


def ev_trend(ctx: Ctx) -> list[Check]:
    args = ctx.args
    directions = dict(args["directions"]) if "directions" in args else {q: args["direction"] for q in quantities(args)}
    monotone = bool(args.get("monotone", False))
    by_batch = args.get("x") == "batch_size"
    checks = []
    for q, direction in directions.items():
        for m in models(args):
            fams = _list(args["over"])
            series_sets = [(f, expand(ctx, m, f, [q])) for f in fams] if (by_batch or "gap_to" in args) \
                else [("", expand(ctx, m, fams, [q]))]
            if by_batch:  # one series per variant, x = log2 B
                series_sets = [(v, [v]) for _, vs in series_sets for v in vs]
                ctxs = [Context(m, dev, None, ds) for dev, ds in
                        sorted({(cc.device, cc.dataset) for cc in contexts(ctx, m, [q])}, key=str)]
            else:
                ctxs = contexts(ctx, m, [q])
            for c in ctxs:
                for tag, members in series_sets:
                    item = " ".join(x for x in (q if len(directions) > 1 else "", tag) if x)
                    if by_batch:
                        pts = []
                        for b in batch_sizes(args) or []:
                            cell = ctx.ev.cell(m, members[0], q, c.device, b, c.dataset)
                            pts.append((b, cell))
                        missing = [f"B = {b}" for b, cell in pts if cell is None]
                        got = [(b, cell) for b, cell in pts if cell is not None]
                        xs, ys = [math.log2(b) for b, _ in got], [cell.value for _, cell in got]
                        sds, cells = [cell.spread for _, cell in got], [cell for _, cell in got]
                    else:
                        xs, ys, sds, cells, missing = _series(
                            ctx, m, q, members, c, lambda v: math.log2(k_of(v) or 1),
                            gap_to=args.get("gap_to"))
                    if missing and len(xs) < 2:
                        checks.append(_missing_check(ctx, c, f"{q} of {vlist(missing)}", item))
                        continue
                    checks.append(_trend_check(ctx, c, item, xs, ys, sds, cells, direction, monotone, missing,
                                               "B" if by_batch else "k"))
    return checks


def _trend_check(ctx: Ctx, c: Context, item: str, xs, ys, sds, cells, direction: str, monotone: bool,
                 missing: Sequence[str], xname: str = "k") -> Check:
    stop = gate(cells)
    if stop:
        return Check(c.label(item), stop, "", tuple(cells))
    order = np.argsort(xs)
    xs, ys, sds = [xs[i] for i in order], [ys[i] for i in order], [sds[i] for i in order]
    noisy = _noisy(cells)
    b, se = slope(xs, ys, sds, noisy)
    shown = f"slope {b:+.3g} per doubling" + (f" ± 2 x {se:.2g}" if se else "")
    if direction == "constant":
        flat = all(abs(y - ys[0]) <= EPS * max(1, abs(ys[0])) for y in ys) if not noisy else abs(b) <= 2 * se
        v = V.holds() if flat else (V.does_not_hold(shown) if not noisy or abs(b) > 2 * se else V.inconclusive(shown))
        return Check(c.label(item), v, shown, tuple(cells))
    kind = decide(b, se, DIRECTION_REGION[direction])
    if kind == V.INCONCLUSIVE:
        v = V.inconclusive(f"the slope's 2-SE band includes 0 ({shown})")
    elif kind == V.DOES_NOT_HOLD:
        v = V.does_not_hold(shown)
    else:
        v = V.holds()
        if monotone:
            sign = 1 if direction == "increasing" else -1
            steps = [(ys[i + 1] - ys[i]) * sign for i in range(len(ys) - 1)]
            spread = [2 * math.sqrt((sds[i] ** 2 + sds[i + 1] ** 2) / 2) if noisy else 0 for i in range(len(ys) - 1)]
            wrong = [i for i, s in enumerate(steps) if s <= 0]
            if wrong:
                decisive = [i for i in wrong if -steps[i] > spread[i] or (not noisy)]
                where = ", ".join(f"{xname} = {2 ** xs[i]:g} -> {2 ** xs[i + 1]:g}" for i in wrong)
                v = V.holds_only(f"direction; not monotone at {where}") if decisive else \
                    V.inconclusive(f"steps within 2 pooled std at {where}")
    if missing and v.kind == V.HOLDS:
        v = V.holds_only(f"without {', '.join(missing)}")
    return Check(c.label(item), v, shown, tuple(cells))


def ev_slope_compare(ctx: Ctx) -> list[Check]:
    args = ctx.args
    expect = args["expect"]
    log_y = bool(args.get("log_y", False))
    rng = dict(args.get("range", {}))
    kmin = min((int(v) for k, v in rng.items() if k.lower().endswith("min")), default=None)
    checks = []
    if "quantities" in args and "family" in args:  # two quantities of one family: a below b
        qa, qb = quantities(args)[:2]
        series = [(qa, str(args["family"]), qa), (qb, str(args["family"]), qb)]
    else:
        q = quantities(args)[0]
        series = [(f, str(f), q) for f in _list(args["families"])]
    for m in models(args):
        qs = sorted({s[2] for s in series})
        for c in contexts(ctx, m, qs):
            slopes, cells_all, missing = {}, [], []
            for name, fam, q in series:
                members = [v for v in family(ctx, m, fam, [q]) if kmin is None or (k_of(v) or 0) >= kmin]
                xs, ys, sds, cells, miss = _series(ctx, m, q, members, c, lambda v: math.log2(k_of(v) or 1), log_y)
                missing.extend(miss)
                cells_all.extend(cells)
                if len(xs) >= 2:
                    slopes[name] = slope(xs, ys, sds, _noisy(cells))
            names = [s[0] for s in series]
            if missing or len(slopes) < len(names):
                checks.append(_missing_check(ctx, c, f"{'/'.join(qs)} of {vlist(missing)}" if missing
                                             else f"two points of every family ({'/'.join(qs)})"))
                continue
            stop = gate(cells_all)
            if stop:
                checks.append(Check(c.label(), stop, "", tuple(cells_all)))
                continue
            shown = ", ".join(f"{n} {slopes[n][0]:+.3g}" for n in names)
            if isinstance(expect, Mapping) and "smallest" in expect:
                target = str(expect["smallest"])
                others = [n for n in names if n != target]
            else:  # a_below_b
                target, others = names[0], [names[1]]
            kinds = []
            for o in others:
                (b1, s1), (b2, s2) = slopes[target], slopes[o]
                kinds.append(decide(b1 - b2, math.hypot(s1, s2), Region(hi=0, hi_closed=False)))
            if all(k == V.HOLDS for k in kinds):
                v = V.holds()
            elif any(k == V.DOES_NOT_HOLD for k in kinds):
                v = V.does_not_hold(f"slopes {shown}")
            else:
                v = V.inconclusive(f"slopes within their 2-SE bands ({shown})")
            checks.append(Check(c.label(), v, f"slopes {shown}", tuple(cells_all)))
    return checks


def ev_between(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    curves = args.get("over") == "epochs"
    checks = []
    for m in models(args):
        xs = family(ctx, m, str(args["x"]), [q])
        for c in contexts(ctx, m, [q]):
            for x in xs:
                k = k_of(x)
                lower = family(ctx, m, str(args["lower"]).replace(":*", f":{k}"), [q])[0]
                upper = family(ctx, m, str(args["upper"]).replace(":*", f":{k}"), [q])[0]
                item = f"{lower} <= {x} <= {upper}"
                epochs = [None]
                if curves:
                    got = {cc.epoch for cc in ctx.ev.cells(m, q) if cc.variant == x and cc.epoch is not None
                           and (cc.device, cc.batch_size, cc.dataset) == (c.device, c.batch_size, c.dataset)}
                    if not got:
                        checks.append(_missing_check(ctx, c, f"{q} curve of {x}", item))
                        continue
                    ordered = sorted(got)
                    skip = int(math.ceil(0.1 * len(ordered)))
                    epochs = ordered[skip:] or ordered[-1:]
                results, cells, missing = [], [], []
                for e in epochs:
                    trio = [ctx.ev.cell(m, v, q, c.device, c.batch_size, c.dataset, None, e) for v in (lower, x, upper)]
                    if any(t is None for t in trio):
                        missing.append(e)
                        continue
                    lo, mid, hi = trio
                    cells.extend(trio)
                    s_lo, s_hi = pooled(cell_stat(lo), cell_stat(mid)), pooled(cell_stat(mid), cell_stat(hi))
                    a = decide(mid.value - lo.value, s_lo, Region(lo=0, lo_closed=False))
                    b = decide(hi.value - mid.value, s_hi, Region(lo=0, lo_closed=False))
                    results.append((e, V.DOES_NOT_HOLD if V.DOES_NOT_HOLD in (a, b) else
                                    V.HOLDS if a == b == V.HOLDS else V.INCONCLUSIVE, lo, mid, hi))
                if not results:
                    checks.append(_missing_check(ctx, c, f"{q} of {lower}, {x} and {upper} at the same epochs", item))
                    continue
                stop = gate(cells)
                if stop:
                    checks.append(Check(c.label(item), stop, "", tuple(cells)))
                    continue
                last = results[-1]
                shown = f"final {last[2].value:.4g} <= {last[3].value:.4g} <= {last[4].value:.4g}"
                bad = [r[0] for r in results if r[1] == V.DOES_NOT_HOLD]
                open_ = [r[0] for r in results if r[1] == V.INCONCLUSIVE]
                if bad:
                    when = "" if not curves else f" at {len(bad)} of {len(results)} epochs (first {bad[0]:g})"
                    v = V.does_not_hold(f"outside{when}; {shown}")
                elif open_:
                    v = V.inconclusive(f"within 2 pooled std at {len(open_)} of {len(results)} epoch(s)")
                else:
                    v = V.holds()
                checks.append(Check(c.label(item), v, shown, tuple(cells)))
    return checks


def ev_range_match(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    for m in models(args):
        prows = printed_rows(ctx, q, m)
        want = {str(n).split(" ", 1)[0]: (float(v), str(t))
                for n, v, t in zip(prows["note"], prows["value"], prows["value_text"])}
        for c in contexts(ctx, m, [q]):
            members = expand(ctx, m, args["over"], [q])
            got = [(v, x) for v in members if (x := lookup(ctx, m, v, q, c)) is not None]
            if len(got) < len(members):
                miss = [v for v in members if lookup(ctx, m, v, q, c) is None]
                checks.append(_missing_check(ctx, c, f"{q} of {vlist(miss)}"))
                continue
            stop = gate([x for _, x in got], absolute=True)
            if stop:
                checks.append(Check(c.label(), stop, "", tuple(x for _, x in got)))
                continue
            lo = min(got, key=lambda t: t[1].value)
            hi = max(got, key=lambda t: t[1].value)
            for name, (v, x) in (("min", lo), ("max", hi)):
                if name not in want:
                    continue
                p, ptext = want[name]
                tol = float(args["tolerance_pts"]) if args.get("tolerance_pts") is not None else \
                    float(args.get("tolerance", 0)) * abs(p)
                ok = abs(x.value - p) <= max(tol, 2 * x.spread) + EPS
                shown = f"{name} {x.value:.4g} ({v}) vs printed {ptext}"
                checks.append(Check(c.label(name), V.holds() if ok else V.does_not_hold(shown), shown, (x,)))
    return checks


def ev_rank_correlation(ctx: Ctx) -> list[Check]:
    from ..measure.analysis import rank_correlation

    args = ctx.args
    q = quantities(args)[0]
    ref = args["reference"]
    min_rho = float(args.get("min_rho", 0.7))
    checks = []
    for m in models(args):
        members = expand(ctx, m, args["over"], [q])
        for c in contexts(ctx, m, [q]):
            ours = {v: x for v in members if (x := lookup(ctx, m, v, q, c)) is not None}
            if len(ours) < 3:
                checks.append(_missing_check(ctx, c, f"{q} of at least 3 of {vlist(members)}"))
                continue
            stop = gate(list(ours.values()))
            if stop:
                checks.append(Check(c.label(), stop, "", tuple(ours.values())))
                continue
            if ref == "values":
                pev = ctx.printed_ev
                devices = sorted({x.device for x in pev.cells(m, q) if x.batch_size == c.batch_size
                                  and x.dataset == c.dataset and x.device is not None})
                if ctx.paper_side:
                    devices = [d for d in devices if d == c.device]
                refs = [(d, {v: x.value for v in members
                             if (x := pev.cell(m, v, q, d, c.batch_size, c.dataset)) is not None}) for d in devices]
            else:
                rq = str(ref["quantity"])
                refs = [(rq, {v: x.value for v in members if (x := lookup(ctx, m, v, rq, c)) is not None})]
            if not refs:
                checks.append(_missing_check(ctx, c, f"reference {q} to correlate with"))
                continue
            for name, values in refs:
                common = [v for v in members if v in ours and v in values]
                rho = rank_correlation([ours[v].value for v in common], [values[v] for v in common])
                item = f"vs {name}"
                if math.isnan(rho):
                    undefined = V.inconclusive(f"rho undefined ({len(common)} common variants)")
                    checks.append(Check(c.label(item), undefined))
                    continue
                shown = f"rho = {rho:.2f} over {len(common)} variants"
                v = V.holds() if rho >= min_rho else V.does_not_hold(f"{shown} < {min_rho}")
                checks.append(Check(c.label(item), v, shown, tuple(ours[v] for v in common)))
    return checks


OPS = {"<": Region(hi=0, hi_closed=False), "<=": Region(hi=0), ">": Region(lo=0, lo_closed=False),
       ">=": Region(lo=0), "==": Region(0, 0)}
THRESHOLD_UNITS = {"GiB": 2 ** 30, "GB": 1e9, "MiB": 2 ** 20, "M": 1e6, "G": 1e9}


def ev_bound(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    scale = THRESHOLD_UNITS.get(str(args.get("threshold_unit", "")), 1.0)
    checks = []
    runs = [(m, str(args["op"]), "") for m in models(args)]
    control = args.get("control")
    if control:
        runs.append((str(control["model"]), str(control["op"]), "control"))
    for m, op, tag in runs:
        threshold = args["threshold"]
        for c in contexts(ctx, m, [q]):
            if threshold == "values":
                prow = printed_rows(ctx, q)
                prow = prow[prow["note"].str.startswith("total")] if "parts" in args and len(prow) else prow
                if not len(prow):
                    checks.append(_missing_check(ctx, c, f"printed {q}"))
                    continue
                t, ttext = float(prow["value"].iloc[0]), str(prow["value_text"].iloc[0])
            elif isinstance(threshold, Mapping):
                if c.dataset not in threshold:
                    continue
                t, ttext = float(threshold[c.dataset]) * scale, f"{threshold[c.dataset]}"
            else:
                unit = f" {args['threshold_unit']}" if scale != 1 else ""
                t, ttext = float(threshold) * scale, f"{threshold}{unit}"
            if "parts" in args:
                cells = [ctx.ev.cell(m, None, q, c.device, c.batch_size, c.dataset, p) for p in args["parts"]]
                label = ", ".join(args["parts"])
                variants = [None]
            else:
                variants = expand(ctx, m, args.get("variants", args.get("over")), [q]) if \
                    ("variants" in args or "over" in args) else [None]
                cells = [lookup(ctx, m, v, q, c) for v in variants]
                label = ", ".join(v for v in variants if v)
            here = (c.device, c.batch_size, c.dataset)
            per_layer = [x for v in variants for x in ctx.ev.cells(m, q) if x.variant == v and x.part
                         and x.epoch is None and (x.device, x.batch_size, x.dataset) == here] \
                if args.get("per") == "layer" else []
            if per_layer:
                cells = per_layer
            agg = args.get("agg") or ("sum" if "parts" in args else None)
            item = " ".join(x for x in (tag, f"{m}" if tag else "", f"{agg or ''} {label}".strip()) if x)
            if any(x is None for x in cells) or not cells:
                checks.append(_missing_check(ctx, c, f"{q} of {label or m}", item))
                continue
            stop = gate(cells, absolute=q in TRAINED)
            if stop:
                checks.append(Check(c.label(item), stop, "", tuple(cells)))
                continue
            if agg == "sum":
                value, sigma = sum(x.value for x in cells), math.sqrt(sum(x.spread ** 2 for x in cells))
                use = cells
            elif agg in ("max", "min") or len(cells) > 1:
                pick = (max if agg != "min" else min)(cells, key=lambda x: x.value)
                value, sigma, use = pick.value, pick.spread, [pick]
            else:
                value, sigma, use = cells[0].value, cells[0].spread, cells
            kind = decide(value - t, sigma, OPS[op])
            inferred = " (threshold inferred)" if args.get("threshold_source") == "lost_inferred" else ""
            shown = f"{fmt(q, value)} {op} {ttext}{inferred}"
            v = verdict_of(kind, sigma, [Stat(value, tuple(use), sigma)], shown) if kind != V.INCONCLUSIVE else \
                V.inconclusive(f"{fmt(q, value)} within 2 std of {ttext}")
            checks.append(Check(c.label(item), v, shown, tuple(use)))
    for q2, want in dict(args.get("also", {})).items():
        for c in contexts(ctx, None, [q2]):
            prow = printed_rows(ctx, q2)
            cell = lookup(ctx, None, None, q2, c)
            if cell is None or not len(prow):
                checks.append(_missing_check(ctx, c, q2, q2))
                continue
            gated = gate([cell])
            if gated is not None:
                checks.append(Check(c.label(q2), gated, f"{q2} {cell.value:g}", (cell,)))
                continue
            ok = precision_verdict(str(prow["value_text"].iloc[0]), cell.value) == "exact"
            shown = f"{q2} {cell.value:g} vs printed {prow['value_text'].iloc[0]}"
            checks.append(Check(c.label(q2), V.holds() if ok else V.does_not_hold(shown), shown, (cell,)))
    return checks


def ev_untestable(ctx: Ctx) -> list[Check]:
    return [Check(("", "", "", "", ""), V.not_testable(str(ctx.args["reason"])))]


EVALUATORS: dict[str, Callable[[Ctx], list[Check]]] = {
    "value_match": ev_value_match, "compare": ev_compare, "ratio": ev_ratio, "reduction_pct": ev_reduction_pct,
    "gain_pct": ev_gain_pct, "difference": ev_difference, "extremum": ev_extremum, "trend": ev_trend,
    "slope_compare": ev_slope_compare, "between": ev_between, "range_match": ev_range_match,
    "rank_correlation": ev_rank_correlation, "bound": ev_bound, "untestable": ev_untestable,
}


def evaluate(claim: Claim, evidence: Evidence, side: str = "ours") -> tuple[Verdict, list[Check]]:
    """Run the claim's evaluator on the evidence: (verdict, checks)."""
    ctx = Ctx(claim, evidence, side)
    checks = EVALUATORS[claim.evaluate](ctx)
    absent = "not printed" if side == "paper" else "missing"
    return V.combine(checks, claim.missing_text, absent), checks
