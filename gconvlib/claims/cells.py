"""Where a claim is judged and which values it reads: the context of an evaluation, the claim's
grid (models x datasets x devices x batch sizes) walked by one cell iterator, variant families and
pairs, and the sides of a comparison.

* :class:`Ctx`        the claim, the evidence, which side is judged (ours / the paper's numbers);
* :func:`grid`        the one cell iterator: every (model, :class:`Context`) of a claim;
* :func:`family`, :func:`pairs`   ``gc:*`` families, ``per: k`` pairing, ``matched`` pairs;
* :func:`side_stat`   one side of a comparison: a cell, a family's min/max, a drop from a baseline
  (a :class:`~gconvlib.claims.rules.Missing` where the evidence lacks it);
* :func:`blocked`     the check a missing or gated value makes instead of a decision.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd

from .. import paper as paper_values
from . import verdicts as V
from ..layers.factory import STANDARD, ConvScheme
from .evidence import Cell, Evidence, layer_model
from .rules import EPS, Missing, Stat, cell_stat, cells_of, fmt, gate
from .verdicts import Check, Verdict


@dataclass
class Ctx:
    """What an evaluator works on."""

    claim: Any  # a registry.Claim
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


def as_list(value: Any) -> list:
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

    @property
    def at(self) -> tuple:
        """(device, batch size, dataset): what a cell must share with this context."""
        return (self.device, self.batch_size, self.dataset)


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


def parts_at(ctx: Ctx, model: str | None, qs: Sequence[str], c: Context,
             variants: Sequence[str | None] | None = None) -> list[str]:
    """The parts (layers) of the final values of ``model`` in context ``c`` (of these variants)."""
    return sorted({x.part for q in qs for x in ctx.ev.cells(model, q) if x.part and x.epoch is None
                   and (variants is None or x.variant in variants)
                   and (x.device, x.batch_size, x.dataset) == c.at})


def per_part(ctx: Ctx, cs: Sequence[Context], qs: Sequence[str]) -> list[Context]:
    """``per: layer``: each context once per part (layer) the evidence has for it."""
    if ctx.args.get("per") != "layer":
        return list(cs)
    out = []
    for c in cs:
        parts = parts_at(ctx, c.model, qs, c)
        out.extend(Context(c.model, c.device, c.batch_size, c.dataset, p) for p in parts)
        if not parts:
            out.append(c)
    return out


def grid(ctx: Ctx, qs: Sequence[str], ms: Sequence[str | None] | None = None,
         layers: bool = False) -> Iterator[tuple[str | None, Context]]:
    """The one cell iterator: every (model, context) of the claim for these quantities, models in
    the claim's order (``ms`` when given), each context once per layer with ``layers`` and
    ``per: layer``."""
    for m in (models(ctx.args) if ms is None else ms):
        cs = contexts(ctx, m, qs)
        yield from ((m, c) for c in (per_part(ctx, cs, qs) if layers else cs))


# ---------------------------------------------------------------------------------------------
# variants, families, pairs

def scheme_of(variant: Any) -> ConvScheme | None:
    """A variant text read by :meth:`ConvScheme.parse` (the one parser of scheme text); None for a
    text that is no conv scheme: a VGG preset (``A`` .. ``E``, ``baseline``), a layer stack
    (``conv3x3*3``), a family (``gc:*``) or a side mapping."""
    return _parsed(variant) if isinstance(variant, str) else None


@lru_cache(maxsize=None)  # the evaluators ask for the same few dozen texts thousands of times
def _parsed(text: str) -> ConvScheme | None:
    try:
        return ConvScheme.parse(text)
    except ValueError:
        return None


def kind_of(variant: Any) -> str | None:
    """The scheme kind of a variant text (``gc2l:8:unfused`` -> ``gc2l``); None for no conv scheme."""
    s = scheme_of(variant)
    return None if s is None else s.kind


def k_of(variant: Any) -> int | None:
    """The group parameter of a variant text: ``gc:8`` -> 8, ``e2gc:4`` -> 4, ``standard`` -> 1,
    VGG or a family -> None.

    Unlike :attr:`ConvScheme.k` (None for standard, which takes no number), a standard conv reads
    as k = 1 here: it is one group, so a trend over ``x: log2 k`` places it at log2 1 = 0, and
    ``per: k`` pairing and the ``g = k`` groups of a shape claim put it beside ``gc:1``."""
    s = scheme_of(variant)
    if s is None:
        return None
    return 1 if s == STANDARD else s.k


# A family text is a scheme text whose number is left open: ``*`` (every k the paper prints) or
# ``m`` (g = the layer's m, depthwise); the rest (kind, ``:unfused``) is read by ConvScheme.
_FAMILY = re.compile(r"^(?P<kind>[^:]+):(?P<open>[*m])(?P<rest>(:[^:]+)*)$")


def _family(text: Any) -> tuple[ConvScheme, str] | None:
    """(the family's scheme at k = 1, its open marker ``*`` or ``m``), or None for no family."""
    m = _FAMILY.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    s = scheme_of(f"{m['kind']}:1{m['rest']}")
    return None if s is None or s == STANDARD else (s, m["open"])


def member(text: str, k: int | None) -> str:
    """The member of family ``text`` at ``k``, in ConvScheme's text form (``gc2l:*:unfused``, 8 ->
    ``gc2l:8:unfused``); the family text itself where there is no k (it then reads as missing)."""
    fam = _family(text)
    if fam is None or k is None:
        return text
    return fam[0].with_k(int(k)).text


def row_variant(scheme: str, k: Any) -> str | None:
    """The variant text of a values.csv row (None: a grouped scheme whose k the paper does not give)."""
    from ..models.spec import scheme_text
    from ..models.vgg import GROUPINGS

    # standard and the VGG presets take no number; every other scheme needs the row's k
    if not scheme or (pd.isna(k) and scheme not in GROUPINGS and scheme_of(scheme) != STANDARD):
        return None
    return scheme_text(scheme, None if pd.isna(k) else int(k))


@lru_cache(maxsize=64)
def _paper_variants(model: str) -> tuple[str, ...]:
    out = []
    for r in paper_values.load_values(model=model).itertuples():
        text = row_variant(r.scheme, r.k)
        if text is not None and text not in out:
            out.append(text)
    return tuple(out)


def family(ctx: Ctx, model: str | None, text: str, qs: Sequence[str] = ()) -> list[str]:
    """Variants of a family text: ``gc:*`` -> every k the paper prints for the model (``args.ks`` when
    given; else the evidence's), ``gc2l:*:unfused`` -> ``gc2l:k:unfused``; ``gc:m`` -> the layer's
    depthwise g; anything else is itself."""
    text = str(text)
    fam = _family(text)
    if fam is None:
        return [text]
    scheme = fam[0].kind
    if fam[1] == "m":
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
    return [member(text, k) for k in sorted(set(ks))]


def expand(ctx: Ctx, model: str | None, texts: Any, qs: Sequence[str] = ()) -> list[str]:
    out = []
    for t in as_list(texts):
        for v in family(ctx, model, t, qs):
            if v not in out:
                out.append(v)
    return out


def is_family(text: Any) -> bool:
    """An every-k family (``gc:*``, ``gc2l:*:unfused``), the kind that pairs on k."""
    fam = _family(text)
    return fam is not None and fam[1] == "*"


def with_(side: Any, **changes) -> dict:
    out = dict(side) if isinstance(side, Mapping) else {"variant": side}
    out.update(changes)
    return out


def pair_up(ctx: Ctx, model: str | None, a: Any, b: Any, qs: Sequence[str]) -> list[tuple[Any, Any]]:
    """Pairs of one [a, b]: two families pair on equal k (``per: k``), a family against a variant
    pairs every member with it; side mappings ({min: ...}, {quantity: ...}) are kept as they are."""
    if isinstance(a, str) and isinstance(b, str):
        fa, fb = family(ctx, model, a, qs), family(ctx, model, b, qs)
        if is_family(a) and is_family(b):
            bk = {k_of(v): v for v in fb}
            return [(va, bk.get(k_of(va), member(b, k_of(va)))) for va in fa]
        return [(va, vb) for va in fa for vb in fb]
    if isinstance(a, str):
        return [(va, b) for va in family(ctx, model, a, qs)]
    if isinstance(b, str):
        return [(a, vb) for vb in family(ctx, model, b, qs)]
    if "over" in ctx.args:
        return [(with_(a, variant=v), with_(b, variant=v)) for v in expand(ctx, model, ctx.args["over"], qs)]
    va, vb = (a or {}).get("variant"), (b or {}).get("variant")
    if is_family(va):  # {model: x, variant: "gc2l:*"} vs {model: y, variant: "gc2l:*"}: pair on k
        ma = as_list(a.get("model", model))[0]
        out = []
        for v in family(ctx, ma, va, qs):
            other = member(vb, k_of(v)) if is_family(vb) else vb
            out.append((with_(a, variant=v), with_(b, variant=other)))
        return out
    return [(a, b)]


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
            for q in as_list(args.get("match_on")):
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
        # a run is of one grouped kind; standard and texts that are no scheme stand alone
        if run and (scheme_of(v) in (None, STANDARD) or kind_of(v) != kind_of(run[-1])):
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
# values

def lookup(ctx: Ctx, model: str | None, variant: str | None, quantity: str, c: Context,
           part: str | None = None) -> Cell | None:
    return ctx.ev.cell(model, variant, quantity, c.device, c.batch_size, c.dataset, part or c.part)


def what(quantity: str | None, variant: str | None, model: str | None) -> Missing:
    """What is missing: "epf of e2gc:32 (mobilenet_v1)"."""
    return Missing(f"{quantity}" + (f" of {variant}" if variant else "") + (f" ({model})" if model else ""))


def side_stat(ctx: Ctx, side: Any, quantity: str | None, c: Context, model: str | None = None) -> Stat | Missing:
    """The value of one side in context ``c``, or what is missing."""
    model = c.model if model is None else model
    if isinstance(side, str) or side is None:
        cell = lookup(ctx, model, side, quantity, c)
        return cell_stat(cell) if cell else what(quantity, side, model)
    side = dict(side)
    q = str(side.get("quantity", quantity))
    m = side.get("model", model)
    if "min" in side or "max" in side:
        op = "min" if "min" in side else "max"
        members = family(ctx, m, side[op], [q])
        cells = [x for x in (lookup(ctx, m, v, q, c) for v in members) if x is not None]
        if not cells:
            return Missing(f"{q} of {side[op]}" + (f" ({m})" if m else ""))
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
            return Missing(f"{q} of {side['drop_from'] if base is None else variant}" + (f" ({m})" if m else ""))
        value = base.value - this.value
        return Stat(value, (base, this), math.hypot(base.spread, this.spread), fmt(q, value, None))
    cell = lookup(ctx, m, variant, q, c)
    return cell_stat(cell) if cell else what(q, variant, m)


def missing_check(ctx: Ctx, c: Context, what_: str, item: str = "") -> Check:
    return Check(c.label(item), ctx.missing(what_))


def blocked(ctx: Ctx, c: Context, item: str, stats: Sequence[Stat | Missing | Cell], shown: str | Callable = "",
            absolute: bool = False) -> Check | None:
    """The check of values that cannot decide: the first one missing ("not yet reproduced (no ...)"),
    else the gate's verdict on them (failed sanity, too few seeds); None when they may decide."""
    for s in stats:
        if isinstance(s, Missing):
            return missing_check(ctx, c, s.what, item)
    stop = gate(stats, absolute)
    if stop is None:
        return None
    return Check(c.label(item), stop, shown() if callable(shown) else shown, cells_of(stats))


# ---------------------------------------------------------------------------------------------
# printed numbers

def printed_rows(ctx: Ctx, quantity: str | Sequence[str] | None = None, model: str | None = None) -> pd.DataFrame:
    p = ctx.printed
    if quantity is not None:
        p = p[p["quantity"].isin(as_list(quantity))]
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
