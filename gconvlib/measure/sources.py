"""Where the measurement chapters' numbers come from, and the texts that say so (written once).

* **measured**: GPU reference records committed under ``data/results/reference/`` (a results
  store; :func:`reference_rows` reads the newest record of each cell, whatever code made it);
* **measured here / scaled-down**: cells measured while the page runs, on this machine, cached in
  this machine's results store (:func:`measure_here`); on a CPU that is time, never energy.

:func:`reference_note` and :func:`here_note` are the blocks the three chapters show ("No GPU
reference results yet ... the command that makes them"; "Measured here ... scaled-down: ...").
:func:`e2gc_epf_reference` is the committed GPU EPF in the shape
:func:`gconvlib.chapters.e2gc_group_size.run` takes as ``reference``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import pandas as pd

from ..store import REFERENCE_DIR, ResultsStore
from ..value_kinds import MEASURED, MEASURED_HERE, SCALED
from . import analysis as A
from .records import EPF, latest_records
from .reference import COMMAND


def reference_store(root=None) -> ResultsStore:
    return ResultsStore(root if root is not None else REFERENCE_DIR)


def reference_rows(kind: str, where: Callable[[dict], bool] = lambda spec: True,
                   store: ResultsStore | None = None, mode: str | None = None) -> pd.DataFrame:
    """The committed GPU reference records of ``kind`` whose spec ``where`` accepts, as a frame
    (:func:`gconvlib.measure.analysis.frame`; one row per cell, its newest record); ``mode``: only
    cells measured in that mode. Records measured on a CPU are never reference results."""
    store = store if store is not None else reference_store()

    def accept(record: dict) -> bool:
        result = record["result"]
        return (result.get("device_type") == "cuda" and where(record["spec"])
                and (mode is None or record["spec"].get("mode") == mode))

    return A.frame(latest_records(store, kind, accept))


def per_device(rows: pd.DataFrame, kind: str = MEASURED) -> list[tuple[str, pd.DataFrame]]:
    """``[("<device> (<kind>)", its rows), ...]`` in order of appearance (empty for no rows)."""
    if rows is None or not len(rows):
        return []
    return [(f"{device} ({kind})", part) for device, part in rows.groupby("device", sort=False)]


def e2gc_reference_rows(mode: str | None = "graph", store: ResultsStore | None = None,
                        paper_size_only: bool = True) -> pd.DataFrame:
    """The committed GPU EPF records of E2GC Tables III-IV (:func:`reference_rows`): the paper's
    models with E2GC or GC (the paper's FgGC) convs; ``paper_size_only``: at the paper's 224 px and
    1000 classes. Models and schemes are read by ModelSpec (``scheme`` is its kind)."""
    from ..models import ModelSpec
    from .experiments import E2GC_MODELS

    rows = reference_rows(EPF, lambda s: ModelSpec.parse(s["model"]).model in E2GC_MODELS, store, mode)
    if not len(rows):
        return rows
    return rows[rows["scheme"].isin(["e2gc", "gc"]) & (rows["reduced"].isna() if paper_size_only else True)]


def e2gc_epf_reference(mode: str = "graph", value: str = "epf_total_mj", store: ResultsStore | None = None,
                       paper_size_only: bool = True) -> pd.DataFrame:
    """The committed GPU EPF of E2GC Tables III-IV: columns model, scheme (e2gc | gc), k, batch_size,
    device, epf (mJ), cv, trials, source; empty (with these columns) until results are committed.
    ``paper_size_only``: only cells at the paper's 224 px and 1000 classes."""
    columns = ["model", "scheme", "k", "batch_size", "device", "epf", "cv", "trials", "source"]
    rows = e2gc_reference_rows(mode, store, paper_size_only)
    if not len(rows):
        return pd.DataFrame(columns=columns)
    rows = rows[rows["ok"] & rows[value].notna()]
    sources = A.source_text(rows)
    return pd.DataFrame(dict(model=rows["model"], scheme=rows["scheme"], k=rows["k"].astype(int),
                             batch_size=rows["batch_size"].astype(int), device=rows["device"],
                             epf=rows[value].astype(float), cv=rows["cv"].astype(float), trials=rows["trials"],
                             source=[sources[str(d)] for d in rows["device"]]), columns=columns).reset_index(drop=True)


def measure_here(kind: str, cells: list, device: str = "cpu", *, epf_protocol=None, latency_protocol=None,
                 threads: int | None = None, store: ResultsStore | None = None, profile: str | None = None,
                 group_of: Callable[[Any], Any] | None = None,
                 log: Callable[[str], Any] | None = None) -> tuple[pd.DataFrame, dict]:
    """Measure ``cells`` on this machine (cached in the results store: unchanged settings and code
    read the stored records) and return (frame, counts); counts: measured, cached, failed. EPF cells
    are measured interleaved in groups (``group_of``; default: the variants of one model, batch size
    and number of groups)."""
    from .protocol import device_name, resolve_device
    from .reference import PAPER_SIZES, Context, by_groups, epf_task, latency_task
    from .records import LATENCY, run_cells

    device = resolve_device(device)
    sizes = replace(PAPER_SIZES, threads=threads, **({"latency": latency_protocol} if latency_protocol else {}))
    store = store or ResultsStore()   # the tasks keep their journal of unfinished cells beside its records
    ctx = Context(device, device_name(device), False, sizes, log=log or (lambda msg: None), store=store)
    if kind == EPF:
        task = epf_task(ctx, "here", cells, epf_protocol, group_of or by_groups)
    elif kind == LATENCY:
        task = latency_task(ctx, cells)
    else:
        raise ValueError(f"measure_here measures {EPF} and {LATENCY} cells, not {kind!r}")
    run = run_cells(store, task.kind, cells, spec_of=task.spec_of, code_of=task.code_of,
                    measure=task.measure, group_of=task.group_of, profile=profile, log=log)
    counts = {"measured": run.measured, "cached": run.cached, "failed": run.failed}
    return A.frame([r for r in run.records if r is not None]), counts


# -- the shared texts ----------------------------------------------------------------------------------

def _pct(values) -> str:
    values = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if not len(values):
        return "n/a"
    return f"median {100 * values.median():.2f} %, max {100 * values.max():.2f} %"


NOT_YET_TEXT = ("every claim below that needs a GPU is marked *not yet reproduced (no GPU reference results)*; "
                "nothing is filled in.")


def reference_note(rows: pd.DataFrame, what: str, meanwhile: str = NOT_YET_TEXT) -> str:
    """Markdown: which GPU reference results this page shows (device, mode, dates, commits, CV), or
    that there are none yet, what that means meanwhile (a sentence), and the command that makes them."""
    if rows is not None and len(rows):
        ok = rows[rows["ok"]]
        lines = [f"**GPU reference results** ({what}; committed to `data/results/reference/`):"]
        for device, text in A.source_text(rows).items():
            part = rows[rows["device"] == device]
            good = part[part["ok"]]
            cv = f"; CV across trials {_pct(good['cv'])}" if "cv" in good.columns and good["cv"].notna().any() else ""
            bad = len(part) - len(good)
            lines.append(f"* measured on {text}: {len(good)} cells{cv}"
                         + (f"; {bad} cells failed ({part[~part['ok']]['status'].iloc[0]})" if bad else "") + ".")
        if not len(ok):
            lines.append("No cell succeeded; the claims stay not yet reproduced.")
        return "\n".join(lines)
    return (f"**No GPU reference results yet** for {what}: `data/results/reference/` is the folder where GPU "
            f"results will be committed, and none is yet (the folder does not exist until the first is), so "
            f"{meanwhile} They are made in one "
            "resumable command on a machine with an NVIDIA GPU (Volta or newer, for the energy counter), from the "
            "repository, with torch, numpy, pandas, pyyaml, tqdm and nvidia-ml-py:\n\n"
            f"```bash\n{COMMAND}\n```\n\nIt prints its plan, writes each result as it finishes and continues where "
            "it stopped when run again; commit `data/results/reference/` afterwards.")


def scaled_reasons(rows: pd.DataFrame, paper: dict[str, Any]) -> list[str]:
    """What makes a measurement made here smaller than the paper's: sizes read off the specs that ran
    (``rows['reduced']``) and the settings given in ``paper`` ({what: (ours, the paper's)})."""
    reasons = sorted({r for r in rows.get("reduced", pd.Series(dtype=object)).dropna()}) if rows is not None else []
    for what, (ours, theirs) in paper.items():
        if ours != theirs:
            reasons.append(f"{what} {ours} instead of {theirs}")
    return reasons


def here_kind(reasons: Sequence[str]) -> str:
    return SCALED if reasons else MEASURED_HERE


def here_note(rows: pd.DataFrame, counts: dict, reasons: Sequence[str], quantity: str = "time per step") -> str:
    """Markdown: what was measured on this machine (device, threads, mode, cached or not), by how
    much it is scaled down, and whether it is energy or only time."""
    if rows is None or not len(rows):
        return "**Measured here**: nothing (no cells requested)."
    first = rows.iloc[0]
    source = "; ".join(A.source_text(rows).values())
    failed = rows[~rows["ok"]]
    threads = f", {int(first['threads'])} thread(s)" if pd.notna(first.get("threads")) else ""
    note = f" ({first['mode_note']})" if isinstance(first.get("mode_note"), str) else ""
    cached = ("read from this machine's results store (measured before with the same settings and code)"
              if counts.get("cached") and not counts.get("measured") else
              f"{counts.get('measured', 0)} measured now, {counts.get('cached', 0)} read from the results store")
    text = (f"**Measured here** ({len(rows)} cells, {cached}): {source}{threads}{note}."
            + (f" {len(failed)} cells failed: {failed['status'].iloc[0]}." if len(failed) else ""))
    if reasons:
        text += f"\n\n**Scaled-down**: {'; '.join(reasons)}."
    energy = rows.get("energy", pd.Series(dtype=object)).dropna()
    if len(energy) and all(str(e) == "measured" for e in energy):
        text += "\n\nEnergy: measured by this machine's counter."
    elif len(energy):
        reason = str(next(e for e in energy if str(e) != "measured")).removeprefix("unavailable: ")
        text += (f"\n\n**Energy: unavailable here** ({reason}): the numbers measured here are {quantity}, "
                 "not energy, and they never stand in for a GPU's energy.")
    return text


def spread(rows: pd.DataFrame, column: str = "cv_time") -> str:
    """'median 1.2 %, max 3.4 %' of a CV column (for the notes)."""
    return _pct(rows[column]) if rows is not None and column in rows.columns else "n/a"


__all__ = ["COMMAND", "MEASURED", "MEASURED_HERE", "NOT_YET_TEXT", "SCALED", "e2gc_epf_reference", "here_kind",
           "here_note", "measure_here", "per_device", "reference_note", "reference_rows", "reference_store",
           "scaled_reasons", "spread"]
