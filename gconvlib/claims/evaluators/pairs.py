"""Evaluators that compare two sides: ``compare`` (a relation), ``ratio`` (a factor), and the
printed sizes ``reduction_pct``, ``gain_pct`` and ``difference``."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping

from .. import verdicts as V
from ..cells import (Context, Ctx, as_list, blocked, contexts, expand, factor_value, grid, k_of, layer_of,
                     lookup, missing_check, models, pairs, printed_factor, printed_rows, quantities, side_stat,
                     side_text, with_)
from ..rules import Missing, Region, Stat, cell_stat, cells_of, decide, gate, pooled, rel_pooled, relation_check, \
    size_rule, verdict_of, EPS
from ..schema import evaluator
from ..verdicts import Check


def _side_quantities(args: Mapping, q: str | None) -> list[str]:
    """The quantities a pair reads: the claim's, else those its sides name."""
    qs = [q] if q else [s.get("quantity") for s in (args.get("a"), args.get("b")) if isinstance(s, Mapping)]
    return [x for x in qs if x]


@evaluator("compare", takes={"a", "b", "pairs", "family_a", "family_b", "match_on", "match_within", "relation",
                             "tolerance", "tolerance_pts", "over"}, needs=("relation", ("a", "pairs")))
def ev_compare(ctx: Ctx) -> list[Check]:
    args = ctx.args
    relation = str(args["relation"])
    qs = quantities(args) or [None]
    checks = []
    ms = models(args)
    if ms == [None]:  # the sides name their models: contexts from the first side's model
        named = [m for s in (args.get("a"), args.get("b")) if isinstance(s, Mapping) for m in as_list(s.get("model"))]
        ms = named[:1] or ms
    for q in qs:
        side_qs = _side_quantities(args, q)
        for m, c in grid(ctx, side_qs, ms):
            for a, b in pairs(ctx, m, side_qs):
                checks.extend(_compare_pair(ctx, c, a, b, q, relation, prefix=q if len(qs) > 1 else ""))
    return checks


def _side_models(side: Any) -> list:
    if isinstance(side, Mapping) and "model" in side and isinstance(side["model"], (list, tuple)):
        return [with_(side, model=m) for m in side["model"]]
    return [side]


def _compare_pair(ctx: Ctx, c: Context, a: Any, b: Any, q: str | None, relation: str, prefix: str = "") -> list[Check]:
    out = []
    for a1 in _side_models(a):
        for b1 in _side_models(b):
            item = " ".join(x for x in (prefix, f"{side_text(a1)} vs {side_text(b1)}") if x)
            sa, sb = side_stat(ctx, a1, q, c), side_stat(ctx, b1, q, c)
            stop = blocked(ctx, c, item, [sa, sb], lambda: f"{sa.text} vs {sb.text}")
            if stop:
                out.append(stop)
                continue
            kind, sigma, shown = relation_check(sa, sb, relation, ctx.args)
            out.append(Check(c.label(item), verdict_of(kind, sigma, [sa, sb], shown), shown, sa.cells + sb.cells))
    return out


@evaluator("ratio", takes={"a", "b", "pairs", "factor", "relation", "tolerance", "parts"},
           needs=("relation", ("a", "pairs", "parts")))
def ev_ratio(ctx: Ctx) -> list[Check]:
    args = ctx.args
    if "parts" in args:
        return _ratio_parts(ctx)
    relation = str(args["relation"])
    checks = []
    for q in quantities(args) or [None]:
        side_qs = _side_quantities(args, q)
        for m, c in grid(ctx, side_qs, layers=True):
            printed = printed_factor(ctx, m)
            for a, b in pairs(ctx, m, side_qs):
                item = f"{side_text(a)} / {side_text(b)}"
                sa, sb = side_stat(ctx, a, q, c), side_stat(ctx, b, q, c)
                stop = blocked(ctx, c, item, [sa, sb])
                if stop:
                    checks.append(stop)
                    continue
                if printed is not None:
                    f, ftext = printed
                else:
                    k = k_of(a)  # a side mapping has no k
                    if k in (None, 1):
                        k = k_of(b)
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
    want = {str(r.note).split(";", 1)[0].strip(): float(r.value) for r in printed_rows(ctx, "split_ratio").itertuples()}
    total_want = sum(want.get(p, math.nan) for p in parts)
    checks = []
    for m, c in grid(ctx, [q]):
        cells = {p: ctx.ev.cell(m, None, q, c.device, c.batch_size, c.dataset, p) for p in parts}
        if any(v is None for v in cells.values()) or any(p not in want for p in parts):
            miss = [p for p, v in cells.items() if v is None] or [p for p in parts if p not in want]
            checks.append(missing_check(ctx, c, f"{q} of the {', '.join(miss)} split"))
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


def _printed(ctx: Ctx, keep: Callable[[str], bool] | None = None) -> Iterator[tuple[Any, Any]]:
    """(model, its printed rows) for each model of the claim that the paper prints a size for:
    the rows whose quantity ``keep`` accepts (all when None); a model with none is skipped."""
    for m in models(ctx.args):
        prows = printed_rows(ctx, model=m)
        if keep is not None and len(prows):
            prows = prows[prows["quantity"].map(keep).astype(bool)]
        if len(prows):
            yield m, prows


def _reduction(a: Stat, base: Stat) -> tuple[float, float]:
    """100 (base - a) / base and its spread (from the pooled relative std)."""
    r = a.value / base.value
    return 100 * (1 - r), 100 * abs(r) * rel_pooled(a, base)


@evaluator("reduction_pct", takes={"a", "over", "agg", "baseline", "readings", "tolerance", "tolerance_pts"},
           needs=("baseline", ("a", "over")))
def ev_reduction_pct(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    # the printed size: an energy_gain or a *_drop row
    for m, prows in _printed(ctx, lambda quantity: quantity == "energy_gain" or quantity.endswith("_drop")):
        ptext, pquantity = str(prows["value_text"].iloc[0]), str(prows["quantity"].iloc[0])
        # a printed reduction vs the VGG baseline (*_drop rows) stands for one not computed
        fallback = pquantity.endswith("_drop") and str(args["baseline"]) == "baseline"
        cs = contexts(ctx, m, [q])
        if fallback and not any(c.found for c in cs):
            cs = contexts(ctx, m, [pquantity])
        for c in cs:
            members = expand(ctx, m, args["over"], [q]) if "over" in args else [str(args["a"])]
            got, missing = [], []
            for v in members:
                sa = side_stat(ctx, v, q, c)
                sb = side_stat(ctx, str(args["baseline"]), q, c)
                if not isinstance(sa, Missing) and not isinstance(sb, Missing):
                    red, sig = _reduction(sa, sb)
                    got.append((v, red, sig, [sa, sb]))
                    continue
                drop = lookup(ctx, m, v, pquantity, c) if fallback else None
                if drop is not None:
                    got.append((v, drop.value, drop.spread, [cell_stat(drop)]))
                else:
                    missing.append((sa if isinstance(sa, Missing) else sb).what)
            item = (f"{args.get('agg', '')} over {', '.join(members)}" if "over" in args
                    else f"{members[0]} vs {args['baseline']}")
            if not got:
                checks.append(missing_check(ctx, c, missing[0] if missing else q, item.strip()))
                continue
            pick = max if args.get("agg", "max") == "max" else min
            v, red, sig, stats = pick(got, key=lambda g: g[1])
            stop = blocked(ctx, c, item, stats)
            if stop:
                checks.append(stop)
                continue
            verdicts = []
            for reading in as_list(args.get("readings")) or ["by"]:
                ours = red if reading == "by" else 100 - red
                verdicts.append((reading, size_rule(args, ctx.paper_side, ours, sig, ptext, stats)))
            first = verdicts[0][1]
            if first.kind != V.HOLDS and any(vv.kind == V.HOLDS for _, vv in verdicts[1:]):
                reading = next(r for r, vv in verdicts[1:] if vv.kind == V.HOLDS)
                first = V.holds_only(f"read as 'reduced {reading} {ptext} %'")
            shown = f"{v}: {red:.2f} % vs printed {ptext} %"
            if "over" in args and len(got) < len(members):
                shown += f" (of {len(got)}/{len(members)} schemes)"
                if first.kind == V.HOLDS:
                    first = V.holds_only(f"over {', '.join(g[0] for g in got)} only")
            checks.append(Check(c.label(item), first, shown, cells_of(stats)))
    return checks


@evaluator("gain_pct", takes={"a", "b", "tolerance", "tolerance_pts"}, needs=("a", "b"))
def ev_gain_pct(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    for m, prows in _printed(ctx):
        ptext = str(prows["value_text"].iloc[0])
        for _, c in grid(ctx, [q], [m]):
            item = f"{args['a']} vs {args['b']}"
            sa, sb = side_stat(ctx, str(args["a"]), q, c), side_stat(ctx, str(args["b"]), q, c)
            stop = blocked(ctx, c, item, [sa, sb])
            if stop:
                checks.append(stop)
                continue
            r = sa.value / sb.value
            gain, sig = 100 * (r - 1), 100 * abs(r) * rel_pooled(sa, sb)
            v = size_rule(args, ctx.paper_side, gain, sig, ptext, [sa, sb])
            shown = f"relative gain {gain:.2f} % vs printed {ptext} % (absolute {sa.value - sb.value:+.2f} percentage points)"
            checks.append(Check(c.label(item), v, shown, sa.cells + sb.cells))
    return checks


@evaluator("difference", takes={"a", "b", "pairs", "reading", "also_relative", "tolerance_pts", "at_most",
                                "at_least"}, needs=(("a", "pairs"),))
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
        for _, c in grid(ctx, [q], [m]):
            for a, b in pairs(ctx, m, [q]):
                item = f"{side_text(a)} - {side_text(b)}"
                sa, sb = side_stat(ctx, a, q, c), side_stat(ctx, b, q, c)
                if isinstance(sa, Missing) or isinstance(sb, Missing):
                    # a printed drop of the same pair (values.csv *_drop rows) stands for a - b
                    drop = lookup(ctx, m, b, f"{q}_drop", c) if isinstance(b, str) else None
                    if drop is None:
                        checks.append(missing_check(ctx, c, (sa if isinstance(sa, Missing) else sb).what, item))
                        continue
                    d, sig, stats, rel = drop.value, drop.spread, [cell_stat(drop)], None
                else:
                    stop = blocked(ctx, c, item, [sa, sb])
                    if stop:
                        checks.append(stop)
                        continue
                    d, sig, stats = sa.value - sb.value, pooled(sa, sb), [sa, sb]
                    rel = 100 * d / sa.value if sa.value else math.nan
                    if reading == "relative":
                        d, rel = rel, d
                # a difference of two values in % is in percentage points; the papers print "%"
                unit = " percentage points" if reading == "points" else " %"
                other = f"; relative reading {rel:.2f} %" if rel is not None and args.get("also_relative") else ""
                if size is not None:
                    v = size_rule(args, ctx.paper_side, d, sig, size[0], stats, unit=unit)
                    shown = f"{d:.2f}{unit} vs printed {size[0]} %{other}"  # as printed: "decreases by <x>%"
                else:
                    region = (Region(hi=float(args["at_most"])) if "at_most" in args
                              else Region(lo=float(args["at_least"])))
                    kind = decide(d, sig, region)
                    bound = f"at most {args['at_most']}" if "at_most" in args else f"at least {args['at_least']}"
                    shown = f"{d:+.2f}{unit} vs {bound}{other}"
                    v = verdict_of(kind, sig, stats, shown)
                checks.append(Check(c.label(item), v, shown, cells_of(stats)))
    return checks
