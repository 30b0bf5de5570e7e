"""Which printed cells a headline number comes from: a printed reduction (E2GC's abstract and Sec. IV
percentages) recomputed from the paper's own tables at every device and batch size, and which of those
cells reproduce it at its printed precision. The paper rarely says which batch size (or pair) a
headline number is; this says it, and flags a number that matches no cell of the device it is
printed for (a column slip)."""
from __future__ import annotations

import pandas as pd

from .. import paper as paper_values
from ..tables import verdict as precision_verdict
from .evidence import Evidence
from .registry import Claim

COLUMNS = ("device", "batch_size", "a", "baseline", "reduction_pct", "matches")


def reduction_cells(claim: Claim) -> pd.DataFrame:
    """Every (device, batch size) of the paper's tables: 100 (baseline - a) / baseline of the claim's
    pair, and whether it reproduces the printed size (exact or truncated at its precision)."""
    if claim.evaluate != "reduction_pct" or "a" not in claim.args:
        return pd.DataFrame(columns=list(COLUMNS))
    printed = claim.printed()
    printed = printed[printed["quantity"] == "energy_gain"]
    if not len(printed):
        return pd.DataFrame(columns=list(COLUMNS))
    text = str(printed["value_text"].iloc[0])
    model, q = str(claim.args["model"]), str(claim.args["quantity"])
    ev = Evidence.from_values(paper_values.load_values(claim.paper, model=model, quantity=q))
    rows = []
    for device, batch, dataset in sorted(ev.contexts(model, q), key=lambda c: (str(c[0]), c[1] or 0, str(c[2]))):
        a = ev.cell(model, str(claim.args["a"]), q, device, batch, dataset)
        b = ev.cell(model, str(claim.args["baseline"]), q, device, batch, dataset)
        if a is None or b is None:
            continue
        red = 100 * (b.value - a.value) / b.value
        rows.append(dict(device=device, batch_size=batch, a=a.value, baseline=b.value, reduction_pct=red,
                         matches=precision_verdict(text, red) in ("exact", "truncated")))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def headline_text(claim: Claim) -> str:
    """'<printed> % = P100, B = 1 (P100 B = 4: <other> %, ...)'; a number matching no cell of its printed
    device says so: 'matches no P4000 cell (...); equals P100, B = 16: a column slip?'."""
    cells = reduction_cells(claim)
    if not len(cells):
        return ""
    printed = claim.printed()
    printed = printed[printed["quantity"] == "energy_gain"]
    text, device = str(printed["value_text"].iloc[0]), str(printed["device"].iloc[0])

    def at(r) -> str:
        return f"{r.device}, B = {r.batch_size}"

    hits = [at(r) for r in cells.itertuples() if r.matches]
    # a cell where the pair is the other way round, on any device: the printed gain reverses there
    flipped = "".join(f"; reversed at {at(r)} ({r.a:.0f} vs {r.baseline:.0f} mJ)"
                      for r in cells.itertuples() if r.reduction_pct * float(text) < 0)
    own = [r for r in cells.itertuples() if r.device == device] if device else list(cells.itertuples())
    others = ", ".join(f"{at(r)}: {r.reduction_pct:.1f} %" for r in own if not r.matches)
    if any(r.matches for r in own):
        mine = [at(r) for r in own if r.matches]
        return f"{text} % = {' or '.join(mine)}" + (f" ({others})" if others else "") + flipped
    where = f"no {device} cell" if device else "no cell"
    return (f"{text} % matches {where} ({others})" +
            (f"; equals {' or '.join(hits)}: a column slip?" if hits else "") + flipped)
