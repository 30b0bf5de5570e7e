"""Evaluators of a shape over variants: ``extremum`` (where the min / max is), ``trend`` (a
direction over k or B), ``slope_compare`` (which family falls fastest) and ``between``."""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np

from .. import verdicts as V
from ..cells import (Context, Ctx, as_list, batch_sizes, blocked, contexts, expand, family, grid, is_family, k_of,
                     lookup, member, missing_check, models, parts_at, quantities, vlist)
from ..evidence import Cell
from ..rules import BAND_SIGMAS, EPS, Region, Stat, band, cell_stat, decide, gate, pooled, verdict_of
from ..schema import evaluator
from ..verdicts import Check


def _best(values: Sequence[tuple[str, Stat]], op: str) -> tuple[str, Stat]:
    return (min if op == "min" else max)(values, key=lambda t: t[1].value)


@evaluator("extremum", takes={"op", "over", "expect", "expect_not", "tolerance_factor"},
           needs=("op", "over", ("expect", "expect_not")))
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
            for _, c in grid(ctx, [q], [m]):
                for tag, members in groups:
                    k = k_of(members[0]) if tag else None
                    item = " ".join(x for x in (q if len(quantities(args)) > 1 else "", tag) if x)
                    got = [(v, cell_stat(x)) for v in members if (x := lookup(ctx, m, v, q, c)) is not None]
                    if len(got) < len(members):
                        miss = [v for v in members if lookup(ctx, m, v, q, c) is None]
                        checks.append(missing_check(ctx, c, f"{q} of {vlist(miss)}", item))
                        continue
                    stop = blocked(ctx, c, item, [s for _, s in got])
                    if stop:
                        checks.append(stop)
                        continue
                    if expect is not None:
                        wanted = [e.replace(":*", f":{k}") if k else e for e in as_list(expect)]
                        allowed = set(expand(ctx, m, wanted, [q]))
                    else:
                        forbid = args["expect_not"]
                        forbid = forbid.get(m, ()) if hasattr(forbid, "get") else forbid
                        allowed = set(members) - set(expand(ctx, m, forbid, [q]))
                    good = [(v, s) for v, s in got if v in allowed]
                    bad = [(v, s) for v, s in got if v not in allowed]
                    winner, wstat = _best(got, op)
                    used = tuple(x for _, s in got for x in s.cells)
                    if not good or not bad:
                        v = V.holds() if good else V.does_not_hold(f"none of {sorted(allowed)} measured")
                        checks.append(Check(c.label(item), v, f"{op} at {winner}", used))
                        continue
                    gv, gs = _best(good, op)
                    bv, bs = _best(bad, op)
                    d = (gs.value - bs.value) if op == "min" else (bs.value - gs.value)  # < 0: expected wins
                    sigma = pooled(gs, bs)
                    kind = decide(d, sigma, Region(hi=0, hi_closed=False))
                    shown = f"{op} at {winner} ({wstat.text}); best expected {gv} {gs.text} vs {bv} {bs.text}"
                    checks.append(Check(c.label(item), verdict_of(kind, sigma, [gs, bs], shown), shown, used))
    return checks


def _extremum_layers(ctx: Ctx) -> list[Check]:
    """per: layer — the optimum of each layer (evidence ``part``), then: does it vary across layers
    (``varies_across_layers``) / is it the same within ``tolerance_factor`` (``same_G_across_layers``)."""
    args = ctx.args
    op, q, expect = str(args["op"]), quantities(args)[0], args["expect"]
    checks = []
    for m in models(args):
        members = expand(ctx, m, args["over"], [q])
        for _, c in grid(ctx, [q], [m]):
            parts = parts_at(ctx, m, [q], c)
            if not parts:
                checks.append(missing_check(ctx, c, f"per-layer {q} of {m}"))
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
                    if spread > 0 and abs(order[0][1].value - order[1][1].value) <= band(spread):
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
                v = V.inconclusive(f"the optimum of {len(undecided)} layer(s) is within {BAND_SIGMAS} pooled std "
                                   "of the runner-up")
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
            ref_v = family(ctx, m, gap_to)[0] if not is_family(gap_to) else member(gap_to, k_of(v))
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


def _log2_k(v: str) -> float:
    return math.log2(k_of(v) or 1)


@evaluator("trend", takes={"over", "direction", "directions", "monotone", "x", "gap_to"},
           needs=("over", ("direction", "directions")))
def ev_trend(ctx: Ctx) -> list[Check]:
    args = ctx.args
    directions = dict(args["directions"]) if "directions" in args else {q: args["direction"] for q in quantities(args)}
    monotone = bool(args.get("monotone", False))
    by_batch = args.get("x") == "batch_size"
    checks = []
    for q, direction in directions.items():
        for m in models(args):
            fams = as_list(args["over"])
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
                        got = [(b, cell) for b in batch_sizes(args) or []
                               if (cell := ctx.ev.cell(m, members[0], q, c.device, b, c.dataset)) is not None]
                        missing = [f"B = {b}" for b in batch_sizes(args) or [] if b not in dict(got)]
                        xs, ys = [math.log2(b) for b, _ in got], [cell.value for _, cell in got]
                        sds, cells = [cell.spread for _, cell in got], [cell for _, cell in got]
                    else:
                        xs, ys, sds, cells, missing = _series(ctx, m, q, members, c, _log2_k, gap_to=args.get("gap_to"))
                    if missing and len(xs) < 2:
                        checks.append(missing_check(ctx, c, f"{q} of {vlist(missing)}", item))
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
    shown = f"slope {b:+.3g} per doubling" + (f" ± {BAND_SIGMAS} x {se:.2g}" if se else "")
    if direction == "constant":
        flat = all(abs(y - ys[0]) <= EPS * max(1, abs(ys[0])) for y in ys) if not noisy else abs(b) <= band(se)
        v = V.holds() if flat else (V.does_not_hold(shown) if not noisy or abs(b) > band(se) else V.inconclusive(shown))
        return Check(c.label(item), v, shown, tuple(cells))
    kind = decide(b, se, DIRECTION_REGION[direction])
    if kind == V.INCONCLUSIVE:
        v = V.inconclusive(f"the slope's {BAND_SIGMAS}-SE band includes 0 ({shown})")
    elif kind == V.DOES_NOT_HOLD:
        v = V.does_not_hold(shown)
    else:
        v = V.holds()
        if monotone:
            sign = 1 if direction == "increasing" else -1
            steps = [(ys[i + 1] - ys[i]) * sign for i in range(len(ys) - 1)]
            spread = [band(math.sqrt((sds[i] ** 2 + sds[i + 1] ** 2) / 2)) if noisy else 0 for i in range(len(ys) - 1)]
            wrong = [i for i, s in enumerate(steps) if s <= 0]
            if wrong:
                decisive = [i for i in wrong if -steps[i] > spread[i] or (not noisy)]
                where = ", ".join(f"{xname} = {2 ** xs[i]:g} -> {2 ** xs[i + 1]:g}" for i in wrong)
                v = V.holds_only(f"direction; not monotone at {where}") if decisive else \
                    V.inconclusive(f"steps within {BAND_SIGMAS} pooled std at {where}")
    if missing and v.kind == V.HOLDS:
        v = V.holds_only(f"without {', '.join(missing)}")
    return Check(c.label(item), v, shown, tuple(cells))


@evaluator("slope_compare", takes={"families", "family", "expect", "range", "log_y"},
           needs=("expect", ("families", "family")))
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
        series = [(f, str(f), q) for f in as_list(args["families"])]
    qs = sorted({s[2] for s in series})
    names = [s[0] for s in series]
    for m, c in grid(ctx, qs):
        slopes, cells_all, missing = {}, [], []
        for name, fam, q in series:
            members = [v for v in family(ctx, m, fam, [q]) if kmin is None or (k_of(v) or 0) >= kmin]
            xs, ys, sds, cells, miss = _series(ctx, m, q, members, c, _log2_k, log_y)
            missing.extend(miss)
            cells_all.extend(cells)
            if len(xs) >= 2:
                slopes[name] = slope(xs, ys, sds, _noisy(cells))
        if missing or len(slopes) < len(names):
            checks.append(missing_check(ctx, c, f"{'/'.join(qs)} of {vlist(missing)}" if missing
                                        else f"two points of every family ({'/'.join(qs)})"))
            continue
        stop = gate(cells_all)
        if stop:
            checks.append(Check(c.label(), stop, "", tuple(cells_all)))
            continue
        shown = ", ".join(f"{n} {slopes[n][0]:+.3g}" for n in names)
        if hasattr(expect, "get") and "smallest" in expect:
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
            v = V.inconclusive(f"slopes within their {BAND_SIGMAS}-SE bands ({shown})")
        checks.append(Check(c.label(), v, f"slopes {shown}", tuple(cells_all)))
    return checks


@evaluator("between", takes={"x", "lower", "upper", "over"}, needs=("x", "lower", "upper"))
def ev_between(ctx: Ctx) -> list[Check]:
    args = ctx.args
    q = quantities(args)[0]
    curves = args.get("over") == "epochs"
    checks = []
    for m in models(args):
        xs = family(ctx, m, str(args["x"]), [q])
        for _, c in grid(ctx, [q], [m]):
            for x in xs:
                k = k_of(x)
                lower = family(ctx, m, str(args["lower"]).replace(":*", f":{k}"), [q])[0]
                upper = family(ctx, m, str(args["upper"]).replace(":*", f":{k}"), [q])[0]
                item = f"{lower} <= {x} <= {upper}"
                epochs = [None]
                if curves:
                    got = {cc.epoch for cc in ctx.ev.cells(m, q) if cc.variant == x and cc.epoch is not None
                           and (cc.device, cc.batch_size, cc.dataset) == c.at}
                    if not got:
                        checks.append(missing_check(ctx, c, f"{q} curve of {x}", item))
                        continue
                    ordered = sorted(got)
                    skip = int(math.ceil(0.1 * len(ordered)))  # the first tenth: curves still crossing
                    epochs = ordered[skip:] or ordered[-1:]
                results, cells = [], []
                for e in epochs:
                    trio = [ctx.ev.cell(m, v, q, c.device, c.batch_size, c.dataset, None, e) for v in (lower, x, upper)]
                    if any(t is None for t in trio):
                        continue
                    lo, mid, hi = trio
                    cells.extend(trio)
                    s_lo, s_hi = pooled(cell_stat(lo), cell_stat(mid)), pooled(cell_stat(mid), cell_stat(hi))
                    a = decide(mid.value - lo.value, s_lo, Region(lo=0, lo_closed=False))
                    b = decide(hi.value - mid.value, s_hi, Region(lo=0, lo_closed=False))
                    results.append((e, V.DOES_NOT_HOLD if V.DOES_NOT_HOLD in (a, b) else
                                    V.HOLDS if a == b == V.HOLDS else V.INCONCLUSIVE, lo, mid, hi))
                if not results:
                    checks.append(missing_check(ctx, c, f"{q} of {lower}, {x} and {upper} at the same epochs", item))
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
                    v = V.inconclusive(f"within {BAND_SIGMAS} pooled std at {len(open_)} of {len(results)} epoch(s)")
                else:
                    v = V.holds()
                checks.append(Check(c.label(item), v, shown, tuple(cells)))
    return checks
