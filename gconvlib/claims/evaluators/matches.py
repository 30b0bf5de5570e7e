"""Evaluators that match our values against printed ones or a bound: ``value_match``,
``range_match``, ``rank_correlation``, ``bound``; and ``untestable``."""
from __future__ import annotations

import math

import pandas as pd

from ...tables import verdict as precision_verdict
from .. import verdicts as V
from ..cells import (Context, Ctx, as_list, blocked, expand, grid, lookup, missing_check, models, printed_rows,
                     quantities, row_variant, vlist)
from ..evidence import TRAINED, UNIT_SCALE
from ..rules import EPS, Region, Stat, band, decide, fmt, gate, verdict_of
from ..schema import evaluator
from ..verdicts import Check

_PARTS = ("train", "val", "test", "total", "min", "max")


@evaluator("value_match", takes={"variants", "tolerance", "tolerance_pts"})
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
        want = set(as_list(args["variants"]))
        p = p[[row_variant(s, k) in want if s else False for s, k in zip(p["scheme"], p["k"])]]
    checks = []
    for r in p.itertuples():
        variant = row_variant(r.scheme, r.k)
        head = str(r.note).split(";", 1)[0].split(" ", 1)[0]
        part = head if head in _PARTS else None
        c = Context(r.model or None, r.device or None, None if pd.isna(r.batch_size) else int(r.batch_size),
                    r.dataset or None)
        item = " ".join(x for x in (variant or "", r.quantity, part or "") if x)
        cell = ctx.ev.cell(c.model, variant, r.quantity, c.device, c.batch_size, c.dataset, part)
        if cell is None:
            checks.append(missing_check(ctx, c, f"{r.quantity} of {variant or c.model or c.dataset}", item))
            continue
        scale = UNIT_SCALE.get(r.unit, 1.0)
        ours = cell.value / scale
        unit = "" if r.unit == "count" else f" {r.unit}"
        shown = f"{ours:.6g} vs printed {r.value_text}{unit}"
        stop = blocked(ctx, c, item, [cell], shown, absolute=True)
        if stop:
            checks.append(stop)
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
            ok = abs(ours - float(r.value)) <= max(tol, band(cell.spread) / scale) + EPS * max(1, abs(ours))
            v = V.holds() if ok else V.does_not_hold(shown)
        checks.append(Check(c.label(item), v, shown, (cell,)))
    return checks


@evaluator("range_match", takes={"over", "tolerance", "tolerance_pts"}, needs=("over",))
def ev_range_match(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    for m in models(args):
        prows = printed_rows(ctx, q, m)
        want = {str(n).split(" ", 1)[0]: (float(v), str(t))
                for n, v, t in zip(prows["note"], prows["value"], prows["value_text"])}
        for _, c in grid(ctx, [q], [m]):
            members = expand(ctx, m, args["over"], [q])
            got = [(v, x) for v in members if (x := lookup(ctx, m, v, q, c)) is not None]
            if len(got) < len(members):
                miss = [v for v in members if lookup(ctx, m, v, q, c) is None]
                checks.append(missing_check(ctx, c, f"{q} of {vlist(miss)}"))
                continue
            stop = blocked(ctx, c, "", [x for _, x in got], absolute=True)
            if stop:
                checks.append(stop)
                continue
            lo = min(got, key=lambda t: t[1].value)
            hi = max(got, key=lambda t: t[1].value)
            for name, (v, x) in (("min", lo), ("max", hi)):
                if name not in want:
                    continue
                p, ptext = want[name]
                tol = float(args["tolerance_pts"]) if args.get("tolerance_pts") is not None else \
                    float(args.get("tolerance", 0)) * abs(p)
                ok = abs(x.value - p) <= max(tol, band(x.spread)) + EPS
                shown = f"{name} {x.value:.4g} ({v}) vs printed {ptext}"
                checks.append(Check(c.label(name), V.holds() if ok else V.does_not_hold(shown), shown, (x,)))
    return checks


@evaluator("rank_correlation", takes={"over", "reference", "min_rho"}, needs=("over", "reference"))
def ev_rank_correlation(ctx: Ctx) -> list[Check]:
    from ...measure.analysis import rank_correlation

    args = ctx.args
    q = quantities(args)[0]
    ref = args["reference"]
    min_rho = float(args.get("min_rho", 0.7))
    checks = []
    for m in models(args):
        members = expand(ctx, m, args["over"], [q])
        for _, c in grid(ctx, [q], [m]):
            ours = {v: x for v in members if (x := lookup(ctx, m, v, q, c)) is not None}
            if len(ours) < 3:
                checks.append(missing_check(ctx, c, f"{q} of at least 3 of {vlist(members)}"))
                continue
            stop = blocked(ctx, c, "", list(ours.values()))
            if stop:
                checks.append(stop)
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
                checks.append(missing_check(ctx, c, f"reference {q} to correlate with"))
                continue
            for name, values in refs:
                common = [v for v in members if v in ours and v in values]
                rho = rank_correlation([ours[v].value for v in common], [values[v] for v in common])
                item = f"vs {name}"
                if math.isnan(rho):
                    checks.append(Check(c.label(item), V.inconclusive(f"rho undefined ({len(common)} common variants)")))
                    continue
                shown = f"rho = {rho:.2f} over {len(common)} variants"
                v = V.holds() if rho >= min_rho else V.does_not_hold(f"{shown} < {min_rho}")
                checks.append(Check(c.label(item), v, shown, tuple(ours[v] for v in common)))
    return checks


OPS = {"<": Region(hi=0, hi_closed=False), "<=": Region(hi=0), ">": Region(lo=0, lo_closed=False),
       ">=": Region(lo=0), "==": Region(0, 0)}
THRESHOLD_UNITS = {"GiB": 2 ** 30, "GB": 1e9, "MiB": 2 ** 20, "M": 1e6, "G": 1e9}


def _threshold(ctx: Ctx, q: str, c: Context) -> tuple[float, str] | str | None:
    """The bound's threshold in context ``c`` as (value, text); text: what is missing; None: no bound here."""
    args = ctx.args
    threshold = args["threshold"]
    scale = THRESHOLD_UNITS.get(str(args.get("threshold_unit", "")), 1.0)
    if threshold == "values":
        prow = printed_rows(ctx, q)
        prow = prow[prow["note"].str.startswith("total")] if "parts" in args and len(prow) else prow
        if not len(prow):
            return f"printed {q}"
        return float(prow["value"].iloc[0]), str(prow["value_text"].iloc[0])
    if hasattr(threshold, "get"):  # per dataset
        if c.dataset not in threshold:
            return None
        return float(threshold[c.dataset]) * scale, f"{threshold[c.dataset]}"
    unit = f" {args['threshold_unit']}" if scale != 1 else ""
    return float(threshold) * scale, f"{threshold}{unit}"


@evaluator("bound", takes={"over", "variants", "agg", "op", "threshold", "threshold_unit",
                           "control", "parts", "also"}, needs=("op", "threshold"))
def ev_bound(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    checks = []
    runs = [(m, str(args["op"]), "") for m in models(args)]
    control = args.get("control")
    if control:
        runs.append((str(control["model"]), str(control["op"]), "control"))
    for m, op, tag in runs:
        for _, c in grid(ctx, [q], [m]):
            got = _threshold(ctx, q, c)
            if got is None:
                continue
            if isinstance(got, str):
                checks.append(missing_check(ctx, c, got))
                continue
            t, ttext = got
            if "parts" in args:
                cells = [ctx.ev.cell(m, None, q, c.device, c.batch_size, c.dataset, p) for p in args["parts"]]
                label = ", ".join(args["parts"])
                variants = [None]
            else:
                variants = expand(ctx, m, args.get("variants", args.get("over")), [q]) if \
                    ("variants" in args or "over" in args) else [None]
                cells = [lookup(ctx, m, v, q, c) for v in variants]
                label = ", ".join(v for v in variants if v)
            per_layer = [x for v in variants for x in ctx.ev.cells(m, q) if x.variant == v and x.part
                         and x.epoch is None and (x.device, x.batch_size, x.dataset) == c.at] \
                if args.get("per") == "layer" else []
            if per_layer:
                cells = per_layer
            agg = args.get("agg") or ("sum" if "parts" in args else None)
            item = " ".join(x for x in (tag, f"{m}" if tag else "", f"{agg or ''} {label}".strip()) if x)
            if any(x is None for x in cells) or not cells:
                checks.append(missing_check(ctx, c, f"{q} of {label or m}", item))
                continue
            stop = blocked(ctx, c, item, cells, absolute=q in TRAINED)
            if stop:
                checks.append(stop)
                continue
            if agg == "each":  # every cell (layer) is a check of its own: the verdict says which fail
                checks.extend(_bound_check(c, " ".join(x for x in (tag, x.variant, x.part) if x), q, x.value, x.spread,
                                           [x], op, t, ttext) for x in cells)
                continue
            if agg == "sum":
                value, sigma = sum(x.value for x in cells), math.sqrt(sum(x.spread ** 2 for x in cells))
                use = cells
            elif agg in ("max", "min") or len(cells) > 1:
                pick = (max if agg != "min" else min)(cells, key=lambda x: x.value)
                value, sigma, use = pick.value, pick.spread, [pick]
            else:
                value, sigma, use = cells[0].value, cells[0].spread, cells
            checks.append(_bound_check(c, item, q, value, sigma, use, op, t, ttext))
    for q2 in dict(args.get("also", {})):
        for _, c in grid(ctx, [q2], [None]):
            prow = printed_rows(ctx, q2)
            cell = lookup(ctx, None, None, q2, c)
            if cell is None or not len(prow):
                checks.append(missing_check(ctx, c, q2, q2))
                continue
            gated = gate([cell])
            if gated is not None:
                checks.append(Check(c.label(q2), gated, f"{q2} {cell.value:g}", (cell,)))
                continue
            ok = precision_verdict(str(prow["value_text"].iloc[0]), cell.value) == "exact"
            shown = f"{q2} {cell.value:g} vs printed {prow['value_text'].iloc[0]}"
            checks.append(Check(c.label(q2), V.holds() if ok else V.does_not_hold(shown), shown, (cell,)))
    return checks


def _bound_check(c: Context, item: str, q: str, value: float, sigma: float, use, op: str, t: float,
                 ttext: str) -> Check:
    kind = decide(value - t, sigma, OPS[op])
    shown = f"{fmt(q, value)} {op} {ttext}"
    v = verdict_of(kind, sigma, [Stat(value, tuple(use), sigma)], shown) if kind != V.INCONCLUSIVE else \
        V.inconclusive(f"{fmt(q, value)} within 2 std of {ttext}")
    return Check(c.label(item), v, shown, tuple(use))


@evaluator("untestable", takes={"reason"}, needs=("reason",))
def ev_untestable(ctx: Ctx) -> list[Check]:
    return [Check(("", "", "", "", ""), V.not_testable(str(ctx.args["reason"])))]
