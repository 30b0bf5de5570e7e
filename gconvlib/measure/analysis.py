"""Frames for the measurement chapters' tables, figures and claims evidence: data shaping only.

Nothing here measures, judges or prints a paper number: verdicts come from the claims registry
(``data/paper/claims.yaml``, :mod:`gconvlib.claims`), published numbers from ``values.csv``.
Inputs are store records (:mod:`gconvlib.measure.records`); every row names its variant by the
model spec's text, so labels come from :class:`~gconvlib.models.ModelSpec` too.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

#: each paper's devices in values.csv
PAPER_DEVICES = ("P100", "P4000")
EVIDENCE_COLUMNS = ["model", "variant", "quantity", "value", "std", "n", "kind", "device", "batch_size",
                    "source", "spec", "sanity"]


def rank_correlation(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman's rho: Pearson correlation of the average ranks (ties share their mean rank).

    Pairs with a missing value are dropped; NaN for fewer than 3 pairs or a constant side.
    """
    frame = pd.DataFrame({"x": list(x), "y": list(y)}).apply(pd.to_numeric, errors="coerce").dropna()
    if len(frame) < 3:
        return math.nan
    rx, ry = frame["x"].rank(method="average"), frame["y"].rank(method="average")
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


# -- records -> frames --------------------------------------------------------------------------

def _spec_fields(text: str) -> dict:
    from ..models.spec import ModelSpec

    spec = ModelSpec.parse(text)
    paper_default = ModelSpec(spec.model, spec.scheme, width=spec.width)
    reduced = [f"{name} {getattr(spec, f)} instead of {getattr(paper_default, f)}"
               for f, name in (("input_size", "input"), ("num_classes", "classes"), ("width_mult", "width x"))
               if getattr(spec, f) != getattr(paper_default, f)]
    return {"model": spec.name, "variant": spec.scheme, "label": spec.label, "k": spec.k, "scheme": spec.kind,
            "spec": spec.text, "input_size": spec.input_size, "reduced": "; ".join(reduced) or None}


def frame(records: Iterable[dict]) -> pd.DataFrame:
    """One row per record: the spec's fields (model key as the papers name it, variant text, label,
    k, batch size, mode, device), the result's metrics, ``ok`` and the record's provenance."""
    rows = []
    for r in records:
        spec, result = r["spec"], r["result"]
        row = {**_spec_fields(spec["model"]), "batch_size": spec.get("batch_size"),
               "requested_mode": spec.get("mode"), "protocol": spec.get("protocol")}
        row.update({k: v for k, v in result.items() if k not in ("device", "protocol")})
        row["device"] = result.get("device", spec.get("device"))
        trials = result.get("trial_ms_per_step")
        row["ms_fastest"] = min(trials) if trials else result.get("ms_per_step")
        row["status"] = result.get("status", "failed: no status")
        row["ok"] = row["status"] == "ok"
        row["record_key"] = r["key"]
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out) and "measured_at" not in out.columns:
        out["measured_at"] = None
    return out


def source_text(rows: pd.DataFrame) -> dict[str, str]:
    """Per device: "NVIDIA H200, graph mode, 2026-12-01, commit abc1234" (dates and commits of its
    rows; "(dirty)" when the checkout had uncommitted changes; the range of dates if several)."""
    out = {}
    if rows is None or not len(rows):
        return out
    for device, part in rows.groupby("device", sort=False):
        dates = sorted({str(v)[:10] for v in part.get("measured_at", pd.Series(dtype=object)).dropna()})
        date = (dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}") if dates else "date unknown"
        commits = []
        for c, d in zip(part.get("commit", [None] * len(part)), part.get("dirty", [None] * len(part))):
            if isinstance(c, str) and c:
                text = c[:7] + (" (dirty)" if d is True or str(d).lower() == "true" else "")
                if text not in commits:
                    commits.append(text)
        modes = sorted({str(m) for m in part.get("mode", pd.Series(dtype=object)).dropna()})
        bits = [str(device)] + ([f"{'/'.join(modes)} mode"] if modes else []) + [date]
        bits.append(f"commit {', '.join(commits)}" if commits else "commit unknown")
        out[str(device)] = ", ".join(bits)
    return out


def evidence(rows: pd.DataFrame, quantities: dict[str, tuple[str, str | None, float]], kind: str,
             device_label: str | None = None) -> pd.DataFrame:
    """Claims evidence from measured rows (``ok`` rows only): ``quantities`` maps an evidence
    quantity to (value column, std column, factor to the base unit); n = the row's trials (or
    repeats). ``kind``: "measured" (committed GPU reference) / "measured here" / "scaled-down"."""
    out = []
    if rows is None or not len(rows):
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    sources = source_text(rows)
    for r in rows[rows["ok"]].to_dict("records"):
        n = int(r.get("trials") or r.get("repeats") or 1)
        for quantity, (column, std_column, factor) in quantities.items():
            value = r.get(column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            std = r.get(std_column) if std_column else None
            missing = std is None or (isinstance(std, float) and math.isnan(std))
            std = math.nan if missing else float(std) * factor
            out.append(dict(model=r["model"], variant=r["variant"], quantity=quantity, value=float(value) * factor,
                            std=std if n >= 2 else math.nan, n=n if n >= 2 and not math.isnan(std) else 1, kind=kind,
                            device=device_label or r["device"], batch_size=r["batch_size"],
                            source=sources.get(str(r["device"])), spec=r["spec"], sanity=None))
    return pd.DataFrame(out, columns=EVIDENCE_COLUMNS)


# -- E2GC: Tables III/IV and Fig. 1 -----------------------------------------------------------------

def paper_epf_table(values: pd.DataFrame) -> pd.DataFrame:
    """The paper's EPF cells, one row per (model, variant, batch size) with ``paper_P100`` and
    ``paper_P4000`` (mJ) and the table they are printed in; variants as spec text (``gc:8``)."""
    from ..models.spec import scheme_text

    epf = values[values["quantity"] == "epf"]
    columns = ["table", "model", "variant", "k", "batch_size", *(f"paper_{d}" for d in PAPER_DEVICES)]
    if epf.empty:
        return pd.DataFrame(columns=columns)
    epf = epf.assign(variant=[scheme_text(s, k) for s, k in zip(epf["scheme"], epf["k"])],
                     k=pd.to_numeric(epf["k"]).astype(int), batch_size=pd.to_numeric(epf["batch_size"]).astype(int))
    wide = epf.pivot_table(index=["ref", "model", "variant", "k", "batch_size"], columns="device", values="value",
                           aggfunc="first").reindex(columns=list(PAPER_DEVICES))
    wide.columns = [f"paper_{d}" for d in wide.columns]
    wide = wide.reset_index().rename(columns={"ref": "table"})
    return order_variants(wide)[columns]


def order_variants(frame: pd.DataFrame) -> pd.DataFrame:
    """E2GC rows first (by G), then GC (the E2GC paper's FgGC, by g), then the rest, per model and
    batch size; each variant read by ConvScheme."""
    from ..layers import ConvScheme

    schemes = [ConvScheme.parse(v) for v in frame["variant"]]
    family = [{"e2gc": 0, "gc": 1}.get(s.kind, 2) for s in schemes]
    k = [s.k or 0 for s in schemes]
    return (frame.assign(_f=family, _k=k).sort_values(["model", "batch_size", "_f", "_k"], kind="stable")
            .drop(columns=["_f", "_k"]).reset_index(drop=True))


def wide_by_batch(rows: pd.DataFrame, columns: dict[str, str], index: Sequence[str] = ("model", "variant"),
                  batch_sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """``rows`` (one per variant and batch size) as one row per variant with a column per
    (source name, B): ``columns`` maps a column of ``rows`` to the name shown."""
    if rows is None or not len(rows):
        return pd.DataFrame()
    data = rows if batch_sizes is None else rows[rows["batch_size"].isin(list(batch_sizes))]
    wide = data.pivot_table(index=list(index), columns="batch_size", values=list(columns), aggfunc="first",
                            dropna=False, sort=False)
    wide = wide.reindex(columns=list(columns), level=0)
    wide.columns = [f"{columns[c]}, B={b}" for c, b in wide.columns]
    return wide.reset_index()


def merge_measured(paper: pd.DataFrame, rows: pd.DataFrame | None, value: str, name: str,
                   keys: Sequence[str] = ("model", "variant", "batch_size")) -> pd.DataFrame:
    """``paper`` with one more column ``name``: ``value`` of the measured rows of the same cell (NaN
    where not measured: never a filled-in number). ``rows`` must hold one row per cell."""
    out = paper.copy()
    if rows is None or not len(rows) or value not in rows.columns:
        out[name] = np.nan
        return out
    m = rows[rows["ok"]][list(keys) + [value]].rename(columns={value: name})
    if m.duplicated(list(keys)).any():
        raise ValueError(f"measured rows repeat a cell {m[m.duplicated(list(keys))].iloc[0].to_dict()}; "
                         "one row per cell (one device, one mode)")
    m[name] = pd.to_numeric(m[name], errors="coerce")
    m["batch_size"] = m["batch_size"].astype(int)
    return out.merge(m, on=list(keys), how="left")


# -- GC-2L: cost of the coarse structure --------------------------------------------------------------

def overhead_table(rows: pd.DataFrame, value: str = "ms_per_step") -> pd.DataFrame:
    """Per model, batch size and g: ``value`` of GC, GC-2L fused and GC-2L unfused, GC-2L's extra
    over GC in % (fused and unfused) and fused vs unfused in %."""
    columns = ["model", "batch_size", "k", "gc", "gc2l", "gc2l_unfused", "fused_extra_pct", "unfused_extra_pct",
               "fused_vs_unfused_pct"]
    if rows is None or not len(rows) or value not in rows.columns:
        return pd.DataFrame(columns=columns)
    ok = rows[rows["ok"] & rows["variant"].str.match(r"^(gc|gc2l):\d+(:unfused)?$")]
    out = []
    for (model, b, k), part in ok.groupby(["model", "batch_size", "k"], sort=True):
        v = dict(zip(part["variant"], part[value].astype(float)))
        gc, fu, un = (v.get(f"{kind}:{int(k)}{suffix}", math.nan) for kind, suffix in
                      (("gc", ""), ("gc2l", ""), ("gc2l", ":unfused")))
        out.append(dict(model=model, batch_size=int(b), k=int(k), gc=gc, gc2l=fu, gc2l_unfused=un,
                        fused_extra_pct=100 * (fu / gc - 1), unfused_extra_pct=100 * (un / gc - 1),
                        fused_vs_unfused_pct=100 * (fu / un - 1)))
    return pd.DataFrame(out, columns=columns)


# -- VGG: Fig. 10 ------------------------------------------------------------------------------------

def reduction_table(rows: pd.DataFrame, value: str = "ms_per_image_median", baseline: str = "baseline") -> pd.DataFrame:
    """Per device and batch size: each scheme's ``value``, the baseline's and the reduction in % of it."""
    columns = ["device", "batch_size", "variant", "value", "baseline_value", "reduction_pct"]
    if rows is None or not len(rows):
        return pd.DataFrame(columns=columns)
    out = []
    for (device, b), part in rows[rows["ok"]].groupby(["device", "batch_size"], sort=False):
        values = dict(zip(part["variant"], part[value].astype(float)))
        base = values.get(baseline, math.nan)
        for variant, v in values.items():
            out.append(dict(device=device, batch_size=int(b), variant=variant, value=v, baseline_value=base,
                            reduction_pct=100 * (1 - v / base) if base else math.nan))
    return pd.DataFrame(out, columns=columns)


def reduction_pct(a: Any, baseline: Any) -> float:
    """100 * (baseline - a) / baseline; NaN when either is missing."""
    try:
        a, baseline = float(a), float(baseline)
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(a) or math.isnan(baseline) or baseline == 0:
        return math.nan
    return 100.0 * (baseline - a) / baseline


__all__ = ["EVIDENCE_COLUMNS", "PAPER_DEVICES", "evidence", "frame", "merge_measured", "order_variants",
           "overhead_table", "paper_epf_table", "rank_correlation", "reduction_pct", "reduction_table",
           "source_text", "wide_by_batch"]
