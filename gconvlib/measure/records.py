"""Every measured cell is one results-store record, and one cache rule decides what to measure.

A record (:class:`~gconvlib.store.ResultsStore`) holds the cell's spec (model variant text, batch
size, device, mode, protocol knobs; the CPU thread count where it matters), its metrics and the
provenance; its key is the spec plus the fingerprint of the modules that define the computation
(the model's modules and the measuring ones). :func:`run_cells` measures what is missing, group
by group, writes each cell's record as soon as it is finished (a failed cell is stored as a value,
``"failed: ..."``), and stops between groups when a :class:`Budget` is spent; calling it again
continues where it stopped. GPU reference results are the same records in the store rooted at
``data/results/reference/``, with a CSV per experiment and device (:func:`export_csv`) for diffs.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..fingerprint import ClosureMap
from ..store import REFERENCE_DIR, ResultsStore, atomic_write_text

EPF, LATENCY, TRAIN_BENCH, CONV_SHARE, ENVIRONMENT = "epf", "latency", "train_bench", "conv_share", "environment"
#: where each kind's measurement starts; the measuring modules its results depend on are those
#: these import, transitively (:data:`MEASURE_MODULES`, with the model's own modules added per cell)
MEASURE_ROOTS = {
    EPF: ("gconvlib.measure.protocol",),
    LATENCY: ("gconvlib.measure.latency",),
    CONV_SHARE: ("gconvlib.measure.profile",),
    TRAIN_BENCH: ("gconvlib.train.bench", "gconvlib.measure.protocol"),
    ENVIRONMENT: ("gconvlib.measure.protocol",),
}
#: left out of every kind's closure: the model's modules come from ModelSpec.code_modules (those
#: it instantiates), and the store and fingerprint keep and key results without computing them
NOT_IN_MEASURE_KEY = ("gconvlib.models", "gconvlib.layers", "gconvlib.store", "gconvlib.fingerprint")
#: ``{kind: modules}``: the import closure of the kind's roots, computed when read
MEASURE_MODULES = ClosureMap(MEASURE_ROOTS, exclude=NOT_IN_MEASURE_KEY)


def failed(result: dict | None) -> bool:
    return not isinstance(result, dict) or str(result.get("status", "")).startswith(("failed", "unavailable"))


_IMPORTED = time.monotonic()


def process_age_s() -> float:
    """Seconds since this process started (Linux: ``/proc/self/stat`` against ``/proc/uptime``);
    elsewhere, since this module was imported (the interpreter's and torch's start-up not counted)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()   # the name in parentheses may hold spaces
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED


class Budget:
    """Seconds left of a budget (``None``: no limit) that started at ``start`` on ``clock``
    (default: now). ``reserve_s`` is kept back at the end for what follows the last cell (CSV
    export, the copy of the results off the machine): :meth:`left` never counts it."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic, *,
                 start: float | None = None, reserve_s: float = 0.0):
        if seconds is not None and seconds < 0:
            raise ValueError(f"a budget must be >= 0 s, got {seconds}")
        if reserve_s < 0:
            raise ValueError(f"a budget's reserve must be >= 0 s, got {reserve_s}")
        self.seconds, self.clock, self.reserve_s = seconds, clock, reserve_s
        self.start = clock() if start is None else start

    @classmethod
    def from_process_start(cls, seconds: float | None, clock: Callable[[], float] = time.monotonic,
                           reserve_s: float = 0.0) -> "Budget":
        """A budget that began when this process did: the interpreter, torch's import and CUDA's
        start-up are inside it, as they are inside the time limit of the call that runs it."""
        return cls(seconds, clock, start=clock() - process_age_s(), reserve_s=reserve_s)

    def spent(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return math.inf if self.seconds is None else self.seconds - self.reserve_s - self.spent()

    def fits(self, seconds: float) -> bool:
        return seconds <= self.left()


class Pace:
    """How long cells take against their estimates, per kind, learned as they are measured and
    shared by the parts of one call: the E2GC MobileNet-V1 cells of part 2 teach the estimate of
    the ResNeXt-50 cells of part 5 (same protocol, another network)."""

    FLOOR = 0.5

    def __init__(self):
        self.observed: dict[str, float] = {}
        self.estimated: dict[str, float] = {}

    def observe(self, kind: str, estimated_s: float, observed_s: float) -> None:
        if estimated_s > 0 and observed_s >= 0:
            self.observed[kind] = self.observed.get(kind, 0.0) + observed_s
            self.estimated[kind] = self.estimated.get(kind, 0.0) + estimated_s

    def factor(self, kind: str) -> float:
        """Observed / estimated seconds so far (1 before any cell of the kind has run), at least
        :attr:`FLOOR`: cells that fail at once must not make the next ones look free."""
        est = self.estimated.get(kind, 0.0)
        return max(self.FLOOR, self.observed[kind] / est) if est > 0 else 1.0


@dataclass
class CellRun:
    """What :func:`run_cells` did: one record per cell (None where not measured), and counts."""

    records: list
    measured: int = 0
    cached: int = 0
    failed: int = 0
    stopped: bool = False
    seconds: float = 0.0
    skipped: list = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return sum(r is None for r in self.records)


def run_cells(store: ResultsStore, kind: str, cells: Sequence, *, spec_of: Callable[[Any], dict],
              code_of: Callable[[Any], Iterable[str]], measure: Callable[[list, Callable], Any],
              group_of: Callable[[Any], Any] = lambda c: None, estimate_s: Callable[[Any], float] = lambda c: 0.0,
              budget: Budget | None = None, profile: str | None = None, retry_failed: bool = False,
              log: Callable[[str], Any] | None = None, pace: Pace | None = None) -> CellRun:
    """Records of every cell: stored ones are read, missing ones measured and stored.

    ``measure(cells, on_result)`` measures a list of cells of one group and calls
    ``on_result(cell, result)`` for each as soon as it is done; what it leaves without a result
    (or an exception it raises) is stored as ``failed: ...``. With a ``budget`` a group (or the
    part of it that fits, by ``estimate_s``) starts only if it fits in what is left; the estimates
    are scaled by the ``pace`` observed so far (shared by the calls of one command). A stored
    failure is kept (a value, not a gap) unless ``retry_failed``.
    """
    from .protocol import failure_text

    say = log or (lambda msg: None)
    t0 = time.monotonic()
    run = CellRun(records=[None] * len(cells))
    specs = [spec_of(c) for c in cells]
    codes = [tuple(code_of(c)) for c in cells]
    pending: dict[Any, list[int]] = {}
    first: dict[str, int] = {}    # a cell listed twice is measured once
    twins: dict[int, int] = {}
    for i, cell in enumerate(cells):
        key = json.dumps(specs[i], sort_keys=True, default=str) + repr(codes[i])
        if key in first:
            twins[i] = first[key]
            continue
        first[key] = i
        record = store.get(kind, specs[i], code=codes[i])
        if record is not None and (not retry_failed or not failed(record["result"])):
            run.records[i] = record
            run.cached += 1
        else:
            pending.setdefault(group_of(cell), []).append(i)
    pace = pace if pace is not None else Pace()
    now = budget.clock if budget is not None else time.monotonic
    for group in pending.values():
        while group:
            take = len(group)
            if budget is not None:
                each = [estimate_s(cells[i]) * pace.factor(kind) for i in group]
                take, total = 0, 0.0
                for e in each:
                    if not budget.fits(total + e):
                        break
                    take, total = take + 1, total + e
                if take == 0:
                    run.stopped = True
                    run.skipped = [cells[i] for g in pending.values() for i in g]
                    say(f"budget: {max(0.0, budget.left()):.0f} s left, the next cell needs ~{each[0]:.0f} s; "
                        f"stopping ({sum(len(g) for g in pending.values())} cells left; run again to continue)")
                    break
            if run.stopped:
                break
            chunk, group[:] = group[:take], group[take:]
            index = {id(cells[i]): i for i in chunk}
            got: set[int] = set()
            started = now()

            def save(cell, result, _index=index, _got=got) -> None:
                i = _index[id(cell)]
                if i in _got:
                    return
                _got.add(i)
                run.records[i] = store.put(kind, specs[i], result, profile, code=codes[i])
                run.measured += 1
                run.failed += failed(result)

            try:
                measure([cells[i] for i in chunk], save)
            except Exception as exc:  # noqa: BLE001 - the rest of the chunk is stored as failed
                text = failure_text(exc)
                say(f"{kind}: {text}")
                for i in chunk:
                    save(cells[i], {"status": text})
            for i in chunk:
                save(cells[i], {"status": "failed: the measurement returned no result for this cell"})
            pace.observe(kind, sum(estimate_s(cells[i]) for i in chunk), now() - started)
        if run.stopped:
            break
    for i, j in twins.items():
        run.records[i] = run.records[j]
    run.seconds = time.monotonic() - t0
    return run


# -- trials of unfinished cells -------------------------------------------------------------------

class Journal:
    """Trials of cells not finished yet, one JSON line each (``{"key": ..., "trial": {...}}``),
    appended and flushed to disk as each trial ends.

    EPF cells are measured round-robin, so the cells of a group finish together at its end: a call
    killed at its time limit would lose every trial of the group. With the journal it loses at most
    the trial in progress: the next call resumes each cell from its journalled trials. A finished
    cell's lines are dropped once its record is stored; a torn last line (a kill mid-write) is skipped.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def _lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "key" in entry and isinstance(entry.get("trial"), dict):
                out.append(entry)
        return out

    def _writing(self):
        """Held while the file changes: a drop rewrites it, and a line another process appended
        between its read and its write would be lost (two measurements share one store)."""
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock")

    def add(self, key: str, trial: dict) -> None:
        with self._writing(), open(self.path, "a") as f:
            f.write(json.dumps({"key": key, "trial": trial}, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def trials(self, key: str) -> list[dict]:
        return [e["trial"] for e in self._lines() if e["key"] == key]

    def drop(self, key: str) -> None:
        """Forget a finished cell's trials (the file goes when nothing is left)."""
        with self._writing():
            keep = [e for e in self._lines() if e["key"] != key]
            if keep:
                atomic_write_text(self.path, "".join(json.dumps(e, default=str) + "\n" for e in keep))
            elif self.path.exists():
                self.path.unlink()


# -- reading records back -------------------------------------------------------------------

def latest_records(store: ResultsStore, kind: str, where: Callable[[dict], bool] = lambda r: True) -> list[dict]:
    """The newest record of every spec of ``kind`` that ``where(record)`` accepts (whatever code
    made it: committed reference results stay readable after the measuring code changes)."""
    newest: dict[str, dict] = {}
    for record in store.records(kind):
        if not where(record):
            continue
        key = record["spec_key"]
        created = str(record["provenance"].get("created"))
        if key not in newest or created > str(newest[key]["provenance"].get("created")):
            newest[key] = record
    return sorted(newest.values(), key=lambda r: json.dumps(r["spec"], sort_keys=True))


def flat_rows(records: Iterable[dict]) -> list[dict]:
    """One flat row per record: the spec's fields, then the result's, then the record key and
    code fingerprint (lists and dicts as JSON in CSV)."""
    rows = []
    for r in records:
        spec = {k: v for k, v in r["spec"].items() if k != "protocol"}
        row = {**spec, **{k: v for k, v in r["result"].items()}}
        if "protocol" in r["spec"]:
            row["protocol"] = r["spec"]["protocol"]
        row.update(record_key=r["key"], code_fingerprint=r["code"]["fingerprint"],
                   created=r["provenance"].get("created"))
        rows.append(row)
    return rows


def device_slug(name: str) -> str:
    """"NVIDIA H100 80GB HBM3" -> "nvidia_h100_80gb_hbm3"."""
    slug = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    return slug or "unknown"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


FIRST_COLUMNS = ("experiment", "model", "batch_size", "mode", "status", "device", "driver", "torch", "commit",
                 "dirty", "measured_at")


def export_csv(records: Iterable[dict], experiment: str, directory: Path | str | None = None) -> list[Path]:
    """Write the records as ``<directory>/<experiment>_<device slug>.csv``, one file per device
    (device, driver, torch, commit and time in every row); returns the files written."""
    directory = Path(directory if directory is not None else REFERENCE_DIR)
    by_device: dict[str, list[dict]] = {}
    for row in flat_rows(records):
        row = {"experiment": experiment, **row}
        by_device.setdefault(str(row.get("device") or "unknown"), []).append(row)
    written = []
    for device, rows in by_device.items():
        columns = list(dict.fromkeys([*FIRST_COLUMNS, *(k for r in rows for k in r)]))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in sorted(rows, key=lambda r: (str(r.get("model")), str(r.get("batch_size")), str(r.get("mode")))):
            writer.writerow({c: _cell(r.get(c)) for c in columns})
        path = directory / f"{experiment}_{device_slug(device)}.csv"
        atomic_write_text(path, buf.getvalue())
        written.append(path)
    return written


def read_csv(path: Path | str):
    """A reference CSV as a DataFrame (JSON cells stay text)."""
    import pandas as pd

    return pd.read_csv(path)


__all__ = ["Budget", "CONV_SHARE", "CellRun", "Journal", "Pace", "process_age_s", "ENVIRONMENT", "EPF", "LATENCY", "MEASURE_MODULES", "TRAIN_BENCH",
           "device_slug", "export_csv", "failed", "flat_rows", "latest_records", "read_csv", "run_cells"]
