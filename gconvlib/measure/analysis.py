"""Judging the papers' energy and latency claims on measured numbers: pure functions on frames.

Nothing here measures or imports torch. Inputs are pandas frames: the published values of
``data/paper/values.csv`` (:func:`gconvlib.paper.load_values`), rows of an EPF sweep or of
:func:`~gconvlib.measure.protocol.measure_epf` (``model, scheme, k, batch_size`` + a value
column such as ``epf_total_mj`` or ``ms_per_step``), and rows of
:func:`~gconvlib.measure.latency.measure_latency` (``variant, batch_size, ms_per_image_median``).

Every judging function returns a tidy frame with a ``verdict`` column holding one of

* ``"holds"`` / ``"does not hold"``: computed from the numbers at hand;
* ``"not yet reproduced (<reason>)"``: the numbers needed are missing (no GPU reference
  results, energy unavailable, variants not measured). Missing values are never filled in.

Measured frames hold **one source** (one device, one mode, one protocol); callers split a
reference file by device (:func:`latest_per_config` also drops older repeats of a
configuration) and call each function once per source. The paper's own numbers are judged
beside ours (``holds_P100``/``holds_P4000``) so a reader sees whether a claim is even true of
the paper's tables.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

HOLDS, FAILS = "holds", "does not hold"
NOT_YET = "not yet reproduced"
NO_GPU = "no GPU reference results"

EPF_KEYS = ["model", "scheme", "k", "batch_size"]
PAPER_DEVICES = ("P100", "P4000")
VGG_ORDER = ("baseline", "A", "B", "C", "D", "E")

#: Spearman's rho at or above which our ranking of variants "agrees" with a paper column
RHO_AGREES = 0.7
#: "costs little": the coarse structure adds less than this much time/energy to GC (in %)
GC2L_THRESHOLD_PCT = 25.0
#: the VGG paper's scheme-E reduction (Sec. 5.1) and how far from it still "holds" (points)
VGG_CLAIMED_PCT = 54.73
VGG_TOLERANCE_PTS = 10.0

#: the E2GC paper's baselines (Sec. IV, "Energy comparison with baseline models")
E2GC_BASELINES = {"mobilenet_v1": ("e2gc", 1), "resnext50": ("fggc", 32)}

#: (where, model, a, b, relation per batch size ("lower" = EPF(a) < EPF(b)), note)
E2GC_OBSERVATIONS = [
    ("Obs. 1", "mobilenet_v1", ("e2gc", 32), ("fggc", 8), {}, "comparable MACs"),
    ("Obs. 1", "mobilenet_v1", ("e2gc", 32), ("fggc", 16), {}, "comparable Params"),
    ("Obs. 1", "resnext50", ("e2gc", 8), ("fggc", 32), {},
     "comparable MACs; the text prints G = 6, which has no row: G = 8 assumed"),
    ("Obs. 1", "resnext50", ("e2gc", 16), ("fggc", 32), {}, "comparable Params"),
    ("Obs. 3", "resnext50", ("e2gc", 16), ("fggc", 16), {1: "higher", 4: "higher", 16: "lower"},
     "E2GC less efficient at small B, more efficient at B = 16"),
    ("Obs. 4", "mobilenet_v1", ("fggc", 2), ("e2gc", 1), {}, "~5x the MACs but lower EPF"),
]


def not_yet(reason: str) -> str:
    """The verdict for a claim whose numbers are missing, with the reason."""
    return f"{NOT_YET} ({reason})"


def variant_label(scheme: str, k: Any) -> str:
    """``E2GC G=32``, ``FgGC g=8``, ``GC g=4``, ``GC-2L g=4`` (fused), ``GC-2L unfused g=4``."""
    k = "" if k is None or (isinstance(k, float) and math.isnan(k)) or k is pd.NA else int(k)
    names = {"e2gc": ("E2GC", "G"), "fggc": ("FgGC", "g"), "gc": ("GC", "g"), "gc2l": ("GC-2L", "g"),
             "gc2l_unfused": ("GC-2L unfused", "g"), "shuffle": ("Shuffle", "g"), "flgc": ("FLGC", "g")}
    if scheme in names:
        name, letter = names[scheme]
        return f"{name} {letter}={k}" if k != "" else name
    return str(scheme)


def _int64(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("Int64")


def _normalize_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    frame = frame.copy()
    for col in keys:
        if col in ("k", "batch_size"):
            frame[col] = _int64(frame[col])
        else:
            frame[col] = frame[col].astype(str)
    return frame


# -- sources ----------------------------------------------------------------------------------

def latest_per_config(frame: pd.DataFrame, keys: Sequence[str] = EPF_KEYS,
                      time_column: str = "measured_at") -> pd.DataFrame:
    """One row per configuration: the most recent when a configuration was measured repeatedly."""
    if frame.empty:
        return frame.copy()
    out = _normalize_keys(frame, keys)
    if time_column in out.columns:
        out = out.sort_values(time_column, kind="stable")
    return out.drop_duplicates(list(keys), keep="last").reset_index(drop=True)


def split_by_device(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{device name: rows}`` in order of first appearance (empty dict for an empty frame)."""
    if frame.empty or "device" not in frame.columns:
        return {}
    return {str(d): frame[frame["device"] == d].reset_index(drop=True)
            for d in dict.fromkeys(frame["device"])}


def _protocol_text(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if not isinstance(value, dict):
        return ""
    parts = []
    if "window_s" in value:
        parts.append(f">= {value['window_s']:g} s windows")
    if "min_trials" in value and "max_trials" in value:
        cv = value.get("target_cv")
        parts.append(f"{value['min_trials']}-{value['max_trials']} trials"
                     + (f" to CV <= {100 * cv:g} %" if cv is not None else ""))
    if value.get("idle_s"):
        parts.append(f"idle {value['idle_s']:g} s")
    return ", ".join(parts)


def provenance_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per device: rows, dates, commits, modes, protocol and a ``label`` sentence,
    "measured on <device>, <date>, commit <c>, protocol <...>", from the frame's own columns."""
    columns = ["device", "rows", "dates", "commits", "protocol", "label"]
    if frame.empty or "device" not in frame.columns:
        return pd.DataFrame(columns=columns)
    rows = []
    for device, part in split_by_device(frame).items():
        dates = sorted({str(v)[:10] for v in part.get("measured_at", pd.Series(dtype=object)).dropna()})
        date = (dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}") if dates else "date unknown"
        commits = []
        if "commit" in part.columns:
            for c, d in zip(part["commit"], part.get("dirty", pd.Series([None] * len(part)))):
                if isinstance(c, str) and c:
                    text = c[:10] + (" (dirty)" if str(d).lower() == "true" else "")
                    if text not in commits:
                        commits.append(text)
        commit = ", ".join(commits) if commits else "unknown"
        bits = []
        if "mode" in part.columns:
            modes = sorted({str(m) for m in part["mode"].dropna()})
            if modes:
                bits.append(f"{'/'.join(modes)} mode")
        if "protocol" in part.columns and part["protocol"].notna().any():
            bits.append(_protocol_text(part["protocol"].dropna().iloc[0]))
        if "protocol_key" in part.columns and part["protocol_key"].notna().any():
            keys = sorted({str(k) for k in part["protocol_key"].dropna()})
            bits.append(f"key {', '.join(keys)}")
        if "repeats" in part.columns and part["repeats"].notna().any():
            bits.append(f"median of {int(part['repeats'].dropna().iloc[0])} timed calls"
                        + (f" after {int(part['warmup'].dropna().iloc[0])} warm-up"
                           if "warmup" in part.columns and part["warmup"].notna().any() else ""))
        if "meter" in part.columns and part["meter"].notna().any():
            bits.append(f"meter {part['meter'].dropna().iloc[0]}")
        protocol = "; ".join(b for b in bits if b) or "unknown"
        rows.append(dict(device=device, rows=len(part), dates=date, commits=commit, protocol=protocol,
                         label=f"measured on {device}, {date}, commit {commit}, protocol {protocol}"))
    return pd.DataFrame(rows, columns=columns)


def fastest_trial(frame: pd.DataFrame, column: str = "trial_ms_per_step",
                  fallback: str = "ms_per_step") -> pd.Series:
    """Per row, the fastest of its trials (``column`` holds a list, or its JSON text in a CSV).

    On a shared machine other processes only ever slow a trial down, so the fastest trial is
    the least disturbed estimate of a step's time. Rows without trial values fall back to
    ``fallback`` (the mean over trials), or NaN."""
    def one(row):
        trials = row.get(column)
        if isinstance(trials, str):
            try:
                trials = json.loads(trials)
            except ValueError:
                trials = None
        if isinstance(trials, (list, tuple)) and trials:
            return float(min(trials))
        value = row.get(fallback)
        return float(value) if value is not None and pd.notna(value) else math.nan
    if frame.empty:
        return pd.Series(dtype=float)
    return frame.apply(one, axis=1).astype(float)


# -- E2GC: Tables III/IV ----------------------------------------------------------------------

def paper_epf_table(values: pd.DataFrame) -> pd.DataFrame:
    """The paper's EPF cells, one row per (model, scheme, k, batch_size) with ``paper_P100`` and
    ``paper_P4000`` (mJ) and the table they are printed in. ``values`` = published values rows
    (other quantities are ignored)."""
    epf = values[values["quantity"] == "epf"]
    if epf.empty:
        return pd.DataFrame(columns=["table", *EPF_KEYS, *(f"paper_{d}" for d in PAPER_DEVICES)])
    epf = _normalize_keys(epf, EPF_KEYS)
    wide = epf.pivot_table(index=["ref", *EPF_KEYS], columns="device", values="value", aggfunc="first")
    wide = wide.reindex(columns=list(PAPER_DEVICES))
    wide.columns = [f"paper_{d}" for d in wide.columns]
    wide = wide.reset_index().rename(columns={"ref": "table"})
    return _order_e2gc(wide)


def _order_e2gc(frame: pd.DataFrame) -> pd.DataFrame:
    order = {"e2gc": 0, "fggc": 1}
    frame = frame.assign(_s=frame["scheme"].map(order).fillna(2))
    return (frame.sort_values(["model", "batch_size", "_s", "k"], kind="stable")
            .drop(columns="_s").reset_index(drop=True))


def join_epf(paper: pd.DataFrame, measured: pd.DataFrame, value: str = "epf_total_mj",
             name: str = "ours") -> pd.DataFrame:
    """The paper's EPF table (:func:`paper_epf_table`) with one measured column ``name`` added.

    ``measured``: rows of one source with ``model, scheme, k, batch_size`` and ``value``. Its
    configurations missing from the paper are ignored; the paper's cells we have not measured
    get NaN (never a filled-in value). Two rows of the same configuration raise ValueError
    (split the source by device/mode and use :func:`latest_per_config` first).
    """
    out = paper.copy()
    out = _normalize_keys(out, EPF_KEYS) if not out.empty else out
    if measured is None or measured.empty or value not in measured.columns:
        out[name] = np.nan
        return out
    m = _normalize_keys(measured, EPF_KEYS)
    dup = m.duplicated(EPF_KEYS, keep=False)
    if dup.any():
        first = m.loc[dup, EPF_KEYS].iloc[0].to_dict()
        raise ValueError(f"measured rows repeat configuration {first}; one source per call "
                         "(split by device and mode, then latest_per_config)")
    m = m[EPF_KEYS + [value]].rename(columns={value: name})
    m[name] = pd.to_numeric(m[name], errors="coerce")
    return out.merge(m, on=EPF_KEYS, how="left")


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


def _measured_count(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].notna().sum()) if column in frame.columns else 0


def epf_rank_correlation(joined: pd.DataFrame, ours: str = "ours", missing: str = NO_GPU,
                         threshold: float = RHO_AGREES) -> pd.DataFrame:
    """Per model, batch size and paper GPU: Spearman's rho of our values with the paper's over
    the variants (E2GC and FgGC together). Verdict "holds" when rho >= ``threshold``: the
    variants rank as in the paper. ``rho_P100_P4000`` is the paper's own agreement between its
    two GPUs, the scale against which ours should be read."""
    rows = []
    for (model, b), part in joined.groupby(["model", "batch_size"], sort=False):
        n = _measured_count(part, ours)
        between = rank_correlation(part["paper_P100"], part["paper_P4000"])
        for dev in PAPER_DEVICES:
            col = f"paper_{dev}"
            rho = rank_correlation(part[col], part[ours]) if n else math.nan
            if n == 0:
                verdict = not_yet(missing)
            elif n < 3 or math.isnan(rho):
                verdict = not_yet(f"{n} of {len(part)} variants measured")
            else:
                verdict = HOLDS if rho >= threshold else FAILS
            rows.append(dict(model=model, batch_size=b, paper_device=dev, variants=len(part), measured=n,
                             rho=rho, rho_P100_P4000=between,
                             claim=f"variants rank by EPF as on the {dev} (Spearman rho >= {threshold:g})",
                             verdict=verdict))
    return pd.DataFrame(rows)


def _argmin_label(part: pd.DataFrame, column: str) -> tuple[str | None, Any]:
    values = pd.to_numeric(part[column], errors="coerce")
    if values.isna().all():
        return None, None
    i = values.idxmin()
    return variant_label(part.at[i, "scheme"], part.at[i, "k"]), (part.at[i, "scheme"], int(part.at[i, "k"]))


_MINIMUM_CLAIMS = [
    # family, expected (scheme, k) set, claim, where
    ("fggc", {("fggc", 8), ("fggc", 16)}, "FgGC: EPF is lowest at g = 8 or g = 16",
     "Sec. I (Fig. 1), Sec. IV 'Optimal value of g'"),
    ("e2gc", {("e2gc", 32)}, "E2GC: EPF is lowest at G = 32", "Sec. IV 'Energy comparison with baseline models'"),
    ("all", {("e2gc", 32)}, "EPF is lowest with E2GC G = 32 (of all 11 variants)",
     "Sec. IV 'Energy comparison with baseline models'"),
]


def minimum_locations(joined: pd.DataFrame, ours: str = "ours", missing: str = NO_GPU) -> pd.DataFrame:
    """Where EPF is minimal, over g (FgGC), over G (E2GC) and over all variants, per model and
    batch size: in the paper's P100 and P4000 columns and in ours, each judged against the
    paper's statement. Ours is judged only when every variant of the family was measured."""
    rows = []
    for (model, b), part in joined.groupby(["model", "batch_size"], sort=False):
        for family, expected, claim, where in _MINIMUM_CLAIMS:
            fam = part if family == "all" else part[part["scheme"] == family]
            if fam.empty:
                continue
            row = dict(ref=where, model=model, batch_size=b, family=family, claim=claim)
            for dev in PAPER_DEVICES:
                label, key = _argmin_label(fam, f"paper_{dev}")
                row[f"min_{dev}"] = label
                row[f"holds_{dev}"] = None if key is None else key in expected
            n = _measured_count(fam, ours)
            label, key = _argmin_label(fam, ours) if n == len(fam) else (None, None)
            row["min_ours"] = label
            row["measured"] = n
            if n == 0:
                row["verdict"] = not_yet(missing)
            elif n < len(fam):
                row["verdict"] = not_yet(f"{n} of {len(fam)} variants measured")
            else:
                row["verdict"] = HOLDS if key in expected else FAILS
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(part: pd.DataFrame, variant: tuple[str, int], column: str) -> float:
    hit = part[(part["scheme"] == variant[0]) & (part["k"] == variant[1])]
    if hit.empty or column not in hit.columns:
        return math.nan
    value = pd.to_numeric(hit[column], errors="coerce").iloc[0]
    return float(value) if pd.notna(value) else math.nan


def _relation_holds(a: float, b: float, relation: str) -> bool | None:
    if math.isnan(a) or math.isnan(b):
        return None
    return a < b if relation == "lower" else a > b


def observation_checks(joined: pd.DataFrame, ours: str = "ours", missing: str = NO_GPU,
                       observations: Sequence = E2GC_OBSERVATIONS) -> pd.DataFrame:
    """The EPF comparisons of Observations 1, 3 and 4 at every batch size: is EPF(a) lower
    (or higher) than EPF(b)? On the paper's P100 and P4000 numbers and on ours."""
    rows = []
    for where, model, a, b, per_batch, note in observations:
        part = joined[joined["model"] == model]
        for bs in sorted(part["batch_size"].dropna().unique()):
            bpart = part[part["batch_size"] == bs]
            relation = per_batch.get(int(bs), "lower")
            row = dict(ref=where, model=model, batch_size=int(bs), a=variant_label(*a), b=variant_label(*b),
                       claim=f"EPF of {variant_label(*a)} is {relation} than {variant_label(*b)}", note=note)
            for dev in PAPER_DEVICES:
                va, vb = _cell(bpart, a, f"paper_{dev}"), _cell(bpart, b, f"paper_{dev}")
                row[f"a_{dev}"], row[f"b_{dev}"] = va, vb
                row[f"holds_{dev}"] = _relation_holds(va, vb, relation)
            oa, ob = _cell(bpart, a, ours), _cell(bpart, b, ours)
            row["a_ours"], row["b_ours"] = oa, ob
            row["ours_diff_pct"] = 100.0 * (oa / ob - 1.0) if not (math.isnan(oa) or math.isnan(ob)) else math.nan
            held = _relation_holds(oa, ob, relation)
            if held is None:
                row["verdict"] = not_yet(missing if math.isnan(oa) and math.isnan(ob)
                                         else f"{variant_label(*(a if math.isnan(oa) else b))} not measured")
            else:
                row["verdict"] = HOLDS if held else FAILS
            rows.append(row)
    return pd.DataFrame(rows)


def gain_pct(baseline: float, value: float) -> float:
    """'X % more energy-efficient than the baseline': 100 * (baseline - value) / baseline."""
    if baseline is None or value is None or math.isnan(baseline) or math.isnan(value) or baseline == 0:
        return math.nan
    return 100.0 * (baseline - value) / baseline


def energy_gains(joined: pd.DataFrame, printed: pd.DataFrame | None = None, ours: str = "ours",
                 missing: str = NO_GPU, target: tuple[str, int] = ("e2gc", 32),
                 baselines: dict = E2GC_BASELINES) -> pd.DataFrame:
    """E2GC G = 32 vs each family's baseline (MobileNet-V1: E2GC G = 1; ResNeXt-50: FgGC g = 32),
    per model and batch size: the gain in % from the paper's table columns, the gain the paper
    prints in Sec. IV (``printed``: rows with ``model, device, value``, e.g. the ``energy_gain``
    rows of values.csv), whether the printed number is this batch size's table gain (to 0.05),
    and our gain. Verdict: E2GC G = 32 is more efficient than the baseline (gain > 0)."""
    printed_map: dict[tuple[str, str], float] = {}
    if printed is not None and not printed.empty:
        for r in printed.itertuples():
            printed_map[(str(r.model), str(r.device))] = float(r.value)
    rows = []
    for (model, b), part in joined.groupby(["model", "batch_size"], sort=False):
        if model not in baselines:
            continue
        base = baselines[model]
        row = dict(model=model, batch_size=b, target=variant_label(*target), baseline=variant_label(*base))
        for dev in PAPER_DEVICES:
            g = gain_pct(_cell(part, base, f"paper_{dev}"), _cell(part, target, f"paper_{dev}"))
            p = printed_map.get((model, dev), math.nan)
            row[f"gain_{dev}"] = g
            row[f"printed_{dev}"] = p
            row[f"printed_is_this_B_{dev}"] = (None if math.isnan(p) or math.isnan(g)
                                               else bool(abs(g - p) <= 0.05))
        bo, to = _cell(part, base, ours), _cell(part, target, ours)
        row["gain_ours"] = gain_pct(bo, to)
        row["claim"] = f"{variant_label(*target)} is more energy-efficient than {variant_label(*base)}"
        if math.isnan(row["gain_ours"]):
            row["verdict"] = not_yet(missing if math.isnan(bo) and math.isnan(to) else "baseline or target not measured")
        else:
            row["verdict"] = HOLDS if row["gain_ours"] > 0 else FAILS
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: Any, spec: str = ".1f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec) + suffix


def e2gc_claims(joined: pd.DataFrame, printed: pd.DataFrame | None = None, ours: str = "ours",
                missing: str = NO_GPU, rank: bool = True) -> pd.DataFrame:
    """Every EPF claim of the E2GC paper judged on one source, as one table: ``ref, model,
    batch_size, claim, paper`` (what the paper's own P100/P4000 numbers say), ``ours`` (our
    number behind the verdict) and ``verdict``. Combines :func:`minimum_locations`,
    :func:`observation_checks`, :func:`energy_gains` and (``rank``) :func:`epf_rank_correlation`."""
    rows = []
    for r in minimum_locations(joined, ours, missing).to_dict("records"):
        rows.append(dict(ref=r["ref"], model=r["model"], batch_size=r["batch_size"], claim=r["claim"],
                         paper=f"minimum: P100 {r['min_P100']}, P4000 {r['min_P4000']}",
                         ours=f"minimum: {r['min_ours']}" if r["min_ours"] else "n/a", verdict=r["verdict"]))
    for r in observation_checks(joined, ours, missing).to_dict("records"):
        paper = "; ".join(f"{dev} {_fmt(r[f'a_{dev}'], '.0f')} vs {_fmt(r[f'b_{dev}'], '.0f')} mJ"
                          + ("" if r[f"holds_{dev}"] is None else (" (holds)" if r[f"holds_{dev}"] else " (does not hold)"))
                          for dev in PAPER_DEVICES)
        rows.append(dict(ref=r["ref"], model=r["model"], batch_size=r["batch_size"], claim=r["claim"], paper=paper,
                         ours=_diff_text(r), verdict=r["verdict"]))
    for r in energy_gains(joined, printed, ours, missing).to_dict("records"):
        paper = "; ".join(f"{dev} {_fmt(r[f'gain_{dev}'], '.1f', ' %')} from the table"
                          + ("" if math.isnan(r[f"printed_{dev}"]) else
                             f" (printed {r[f'printed_{dev}']:g} %"
                             + (", = this B)" if r[f"printed_is_this_B_{dev}"] else ")"))
                          for dev in PAPER_DEVICES)
        rows.append(dict(ref="Sec. IV", model=r["model"], batch_size=r["batch_size"], claim=r["claim"], paper=paper,
                         ours=f"gain {_fmt(r['gain_ours'], '.1f', ' %')}", verdict=r["verdict"]))
    if rank:
        for r in epf_rank_correlation(joined, ours, missing).to_dict("records"):
            rows.append(dict(ref=f"Table {'III' if r['model'] == 'mobilenet_v1' else 'IV'}", model=r["model"],
                             batch_size=r["batch_size"], claim=r["claim"],
                             paper=f"P100 vs P4000: rho {_fmt(r['rho_P100_P4000'], '.2f')}",
                             ours=f"rho {_fmt(r['rho'], '.2f')} ({r['measured']} of {r['variants']} variants)",
                             verdict=r["verdict"]))
    return pd.DataFrame(rows, columns=["ref", "model", "batch_size", "claim", "paper", "ours", "verdict"])


def _diff_text(row: dict) -> str:
    """'a vs b: +3.1 %' for an :func:`observation_checks` row ('n/a' when not measured)."""
    if math.isnan(row["ours_diff_pct"]):
        return "n/a"
    return f"{row['a']} vs {row['b']}: {row['ours_diff_pct']:+.1f} %"


# -- GC-2L: cost of the coarse structure ---------------------------------------------------

def gc2l_overhead(frame: pd.DataFrame, threshold_pct: float = GC2L_THRESHOLD_PCT, missing: str = NO_GPU,
                  groups: Sequence[int] = (2, 4, 8, 16),
                  quantities: dict[str, str] | None = None) -> pd.DataFrame:
    """Time (and EPF) of GC-2L fused and unfused in % of GC at the same g.

    ``frame``: rows of one source with ``model, scheme (gc | gc2l | gc2l_unfused), k,
    batch_size`` and the value columns of ``quantities`` (default: time = ``ms_per_step``,
    EPF = ``epf_total_mj``). ``overhead_pct`` = 100 * (value / GC's - 1); verdict "holds" when
    it is below ``threshold_pct`` ("the coarse structure costs little"). A missing value is a
    "not yet reproduced" row with the reason (``unavailable_reason`` column if there is one).
    """
    quantities = quantities or {"time": "ms_per_step", "epf": "epf_total_mj"}
    variants = ("gc2l", "gc2l_unfused")
    rows = []
    if frame is None or frame.empty:
        for g in groups:
            for v in variants:
                for q in quantities:
                    rows.append(dict(model=None, batch_size=None, k=g, variant=v, label=variant_label(v, g),
                                     quantity=q, gc_value=math.nan, value=math.nan, overhead_pct=math.nan,
                                     threshold_pct=threshold_pct, verdict=not_yet(missing)))
        return pd.DataFrame(rows)
    f = _normalize_keys(frame, EPF_KEYS)
    reasons = f["unavailable_reason"].dropna() if "unavailable_reason" in f.columns else pd.Series(dtype=object)
    reason = str(reasons.iloc[0]) if len(reasons) else None
    for (model, b), part in f.groupby(["model", "batch_size"], sort=False):
        for g in sorted(part["k"].dropna().unique()):
            for v in variants:
                if part[(part["scheme"] == v) & (part["k"] == g)].empty:
                    continue
                for q, col in quantities.items():
                    gc, val = _cell(part, ("gc", int(g)), col), _cell(part, (v, int(g)), col)
                    over = 100.0 * (val / gc - 1.0) if not (math.isnan(gc) or math.isnan(val) or gc == 0) else math.nan
                    if not math.isnan(over):
                        verdict = HOLDS if over < threshold_pct else FAILS
                    elif col not in part.columns or (math.isnan(val) and math.isnan(gc)):
                        why = (f"energy unavailable: {reason}" if q == "epf" and reason else
                               "energy unavailable" if q == "epf" else f"{col} not measured")
                        verdict = not_yet(why)
                    else:
                        verdict = not_yet(f"GC g={int(g)} not measured" if math.isnan(gc) else f"{v} not measured")
                    rows.append(dict(model=model, batch_size=b, k=int(g), variant=v, label=variant_label(v, g),
                                     quantity=q, gc_value=gc, value=val, overhead_pct=over,
                                     threshold_pct=threshold_pct, verdict=verdict))
    return pd.DataFrame(rows)


def gc2l_fused_vs_unfused(frame: pd.DataFrame, value: str = "ms_per_step", missing: str = NO_GPU,
                          groups: Sequence[int] = (2, 4, 8, 16)) -> pd.DataFrame:
    """Sec. 3.2: "a combined implementation of two convolutions is more efficient than separate
    implementations". Per g: GC-2L fused (one conv for fine + representatives) vs unfused (two
    convs); "holds" when the fused one is faster (lower ``value``)."""
    rows = []
    if frame is None or frame.empty:
        return pd.DataFrame([dict(model=None, batch_size=None, k=g, fused=math.nan, unfused=math.nan,
                                  fused_vs_unfused_pct=math.nan, verdict=not_yet(missing)) for g in groups])
    f = _normalize_keys(frame, EPF_KEYS)
    for (model, b), part in f.groupby(["model", "batch_size"], sort=False):
        for g in sorted(part["k"].dropna().unique()):
            fu, un = _cell(part, ("gc2l", int(g)), value), _cell(part, ("gc2l_unfused", int(g)), value)
            pct = 100.0 * (fu / un - 1.0) if not (math.isnan(fu) or math.isnan(un) or un == 0) else math.nan
            verdict = (not_yet(f"{'GC-2L fused' if math.isnan(fu) else 'GC-2L unfused'} g={int(g)} not measured")
                       if math.isnan(pct) else HOLDS if fu < un else FAILS)
            rows.append(dict(model=model, batch_size=b, k=int(g), fused=fu, unfused=un, fused_vs_unfused_pct=pct,
                             verdict=verdict))
    return pd.DataFrame(rows)


def summarize_verdicts(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One verdict per group: "holds" if every row holds, "does not hold" if any row does not
    (naming how many), else the first "not yet reproduced" reason."""
    rows = []
    for key, part in frame.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        verdicts = part["verdict"].astype(str)
        fails = int((verdicts == FAILS).sum())
        holds = int((verdicts == HOLDS).sum())
        if fails:
            verdict = FAILS
        elif holds == len(part):
            verdict = HOLDS
        else:
            verdict = next(v for v in verdicts if v.startswith(NOT_YET))
        rows.append({**dict(zip(by, key)), "rows": len(part), "holding": holds, "failing": fails,
                     "verdict": verdict})
    return pd.DataFrame(rows)


# -- VGG: inference time of Fig. 10 --------------------------------------------------------

def vgg_latency_reduction(frame: pd.DataFrame, claimed_pct: float = VGG_CLAIMED_PCT,
                          tolerance_pts: float = VGG_TOLERANCE_PTS, value: str = "ms_per_image_median",
                          missing: str = NO_GPU, variants: Sequence[str] = VGG_ORDER,
                          claim_variant: str = "E") -> pd.DataFrame:
    """Per batch size and scheme: latency, the baseline's, and the reduction in % of it.

    Scheme E (``claim_variant``) is judged against the paper's -54.73 %: "holds" when our
    reduction is within ``tolerance_pts`` percentage points of it. Every other grouped scheme
    is judged on "faster than the baseline" (reduction > 0), the direction Fig. 10 and Sec. 6
    state for all schemes. ``frame``: one source's rows with ``variant, batch_size, value``.
    """
    rows = []
    f = frame if frame is not None else pd.DataFrame()
    batch_sizes = sorted(_int64(f["batch_size"]).dropna().unique()) if not f.empty else [None]
    for b in batch_sizes:
        part = f[_int64(f["batch_size"]) == b] if b is not None else f
        if not part.empty and part["variant"].duplicated().any():
            raise ValueError(f"latency rows repeat a variant at batch size {b}; one source per call")
        ms = ({str(r["variant"]): float(r[value]) for _, r in part.iterrows()} if not part.empty else {})
        base = ms.get("baseline", math.nan)
        for v in variants:
            this = ms.get(v, math.nan)
            red = 100.0 * (1.0 - this / base) if not (math.isnan(this) or math.isnan(base) or base == 0) else math.nan
            if v == "baseline":
                claim, paper_pct, verdict = "reference", math.nan, ""
            else:
                if v == claim_variant:
                    claim, paper_pct = (f"inference time -{claimed_pct:g} % vs baseline "
                                        f"(holds within +-{tolerance_pts:g} points)"), claimed_pct
                else:
                    claim, paper_pct = "faster than the baseline", math.nan
                if math.isnan(red):
                    verdict = not_yet(missing if not ms else
                                      ("baseline not measured" if math.isnan(base) else f"{v} not measured"))
                elif v == claim_variant:
                    verdict = HOLDS if abs(red - claimed_pct) <= tolerance_pts else FAILS
                else:
                    verdict = HOLDS if red > 0 else FAILS
            rows.append(dict(batch_size=b, variant=v, ms=this, baseline_ms=base, reduction_pct=red,
                             paper_pct=paper_pct, claim=claim, verdict=verdict))
    return pd.DataFrame(rows)


#: (faster scheme, slower scheme, why): grouping more blocks should make inference faster
VGG_NESTING = [("C", "A", "C groups conv-4/5 on top of A's conv-3"),
               ("C", "B", "C groups conv-3 on top of B's conv-4/5"),
               ("D", "C", "D groups conv-2 on top of C's conv-3/4/5")]


def vgg_nesting_checks(frame: pd.DataFrame, value: str = "ms_per_image_median",
                       missing: str = NO_GPU) -> pd.DataFrame:
    """"The more layers convolved with groups, the faster" (Sec. 5.2, Sec. 6), on the pairs of
    schemes where one groups a superset of the other's blocks at the same group count."""
    rows = []
    f = frame if frame is not None else pd.DataFrame()
    batch_sizes = sorted(_int64(f["batch_size"]).dropna().unique()) if not f.empty else [None]
    for b in batch_sizes:
        part = f[_int64(f["batch_size"]) == b] if b is not None else f
        ms = ({str(r["variant"]): float(r[value]) for _, r in part.iterrows()} if not part.empty else {})
        for fast, slow, why in VGG_NESTING:
            a, s = ms.get(fast, math.nan), ms.get(slow, math.nan)
            if math.isnan(a) or math.isnan(s):
                verdict = not_yet(missing if not ms else f"scheme {fast if math.isnan(a) else slow} not measured")
            else:
                verdict = HOLDS if a < s else FAILS
            rows.append(dict(batch_size=b, claim=f"{fast} is faster than {slow}", why=why, ms_fast=a, ms_slow=s,
                             verdict=verdict))
    return pd.DataFrame(rows)


__all__ = [
    "E2GC_BASELINES", "E2GC_OBSERVATIONS", "EPF_KEYS", "FAILS", "GC2L_THRESHOLD_PCT", "HOLDS", "NOT_YET",
    "NO_GPU", "PAPER_DEVICES", "RHO_AGREES", "VGG_CLAIMED_PCT", "VGG_NESTING", "VGG_ORDER", "VGG_TOLERANCE_PTS",
    "e2gc_claims", "energy_gains", "epf_rank_correlation", "fastest_trial", "gc2l_fused_vs_unfused", "gain_pct", "gc2l_overhead", "join_epf", "latest_per_config",
    "minimum_locations", "not_yet", "observation_checks", "paper_epf_table", "provenance_labels",
    "rank_correlation", "split_by_device", "summarize_verdicts", "variant_label", "vgg_latency_reduction",
    "vgg_nesting_checks",
]
