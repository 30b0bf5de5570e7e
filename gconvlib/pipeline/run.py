"""The run: every selected notebook executed (or skipped while up to date), then a summary table.

A notebook that fails is recorded as failed and the others still run: its executed copy with the
error goes to ``book/_failed/<name>.ipynb``, the last good papermill record is kept, and its book
page says that it failed, why and where that copy is (:func:`.book.failure_page`), and the landing
and claims pages mark its verdicts as its last good run's (:func:`.stamps.record_failure`); its
stamp is dropped, so the next run executes it again. Each run writes its notebook under a name of its own
and moves it into place only when it succeeded, so two runs at once never swap half-written
notebooks. Ctrl-C stops the run with one line; what finished is kept.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..faults import INTERRUPTED_EXIT
from ..runtime import absolute_env_paths
from ..store import FILE_MODE, ROOT, atomic_write_text
from . import book, stamps
from .relay import Relay, kernel_options, progress_columns
from .settings import (WHAT, SUMMARIES, PipelineError, available_notebooks, book_dir, load_profile,
                       notebook_dir, parameter_sources, parse_overrides)

FAILED = "FAILED"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class Summary:
    rows: list[tuple[str, str, float | None]] = field(default_factory=list)
    before_s: float | None = None   # the time ``run_notebooks(before=...)`` took (training the missing runs)

    def add(self, name: str, status: str, seconds: float | None = None) -> None:
        self.rows.append((name, status, seconds))

    def table(self, claims: dict[str, str] | None = None) -> str:
        """One line per notebook: status, time and (``claims``: name -> text) where its claims stand."""
        claims = claims or {}
        width = max([len("notebook")] + [len(r[0]) for r in self.rows])
        swidth = max([len("status")] + [len(r[1]) for r in self.rows])
        tail = "  claims" if claims else ""
        lines = [f"{'notebook':<{width}}  {'status':<{swidth}}  {'time':<9}{tail}".rstrip(),
                 f"{'-' * width}  {'-' * swidth}  {'-' * 9}" + ("  " + "-" * 6 if claims else "")]
        # a chapter that failed keeps its last good record: its claims are said to be from that run
        lines += [f"{n:<{width}}  {s:<{swidth}}  {_duration(t):<9}"
                  + (f"  {'as of its last good run: ' if s != 'executed' and s != 'up to date' else ''}"
                     f"{claims[n]}" if n in claims else "") for n, s, t in self.rows]
        lines = [line.rstrip() for line in lines]
        executed = [t for _n, s, t in self.rows if s == "executed" and t is not None]
        failed = sum(s == FAILED for _n, s, _t in self.rows)
        before = f" after {_duration(self.before_s)} of training before them" if self.before_s else ""
        lines.append(f"{len(executed)} executed in {_duration(sum(executed))}{before}, "
                     f"{sum(s == 'up to date' for _n, s, _t in self.rows)} up to date"
                     + (f", {failed} failed" if failed else ""))
        return "\n".join(lines)


def claims_by_chapter(profile: str) -> dict[str, str]:
    """Per chapter, its claims' verdicts as the store holds them for ``profile`` ("3 holds, 2 not
    testable here"); chapters without claims are left out."""
    from ..chapters.summary import chapter_status, judged_claims

    out = {}
    for row in chapter_status(judged_claims(profile)).to_dict("records"):
        counts = [(row[k], label) for k, label in (
            ("holds", "holds"), ("holds_only", "holds only"), ("does_not_hold", "does not hold"),
            ("inconclusive", "inconclusive"), ("not_yet", "not yet reproduced"), ("not_testable", "not testable here"))]
        if row["claims"]:
            out[row["chapter"]] = ", ".join(f"{n} {label}" for n, label in counts if n)
    return out


def _say(message: str) -> None:
    print(f"[gconv] {message}", flush=True)


def _failure_reason(exc: BaseException) -> str:
    """The error a notebook stopped with, in one line (papermill's error names the cell's exception)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}".strip().rstrip(":") if evalue else ename
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__


def _selected(names: list[str], extra: dict, only: list[str] | None) -> list[str]:
    if only is not None and not only:
        raise PipelineError(f"--only needs at least one notebook name; notebooks are {', '.join(names)}")
    unknown = [n for n in list(extra) + list(only or []) if n not in names]
    if unknown:
        raise PipelineError(f"unknown notebook(s) {', '.join(unknown)}; notebooks are {', '.join(names)}")
    return [n for n in names if only is None or n in only]


def run_notebooks(profile: str = "quick", overrides: list[str] | None = None,
                  only: list[str] | None = None, force: bool = False,
                  before: Callable[[list[str]], int] | None = None) -> int:
    """Execute the profile's notebooks; 0: all succeeded, 1: some failed (the rest ran), 130: Ctrl-C.

    ``before(names)`` runs once the request is checked and before the first notebook, with the
    notebooks that will execute (not up to date, or ``force``); it returns how much work it did (0:
    none, and the summary says nothing of it). The CLI trains those notebooks' missing runs there,
    several at a time (:mod:`gconvlib.plan`). When it fails, the notebooks still run."""
    import papermill

    absolute_env_paths()   # the kernels run in notebooks/: they must get no relative path
    prof = load_profile(profile)
    extra = parse_overrides(overrides)
    selected = _selected(available_notebooks(), extra, only)
    # every parameter of every notebook is checked before the first one runs
    parameters = {name: parameter_sources(name, profile, prof, extra) for name in selected}
    out_dir, failed_dir = book_dir() / "_generated", book_dir() / "_failed"
    raw_dir = out_dir / "_papermill"
    raw_dir.mkdir(parents=True, exist_ok=True)
    data = stamps.data_hash()

    def status(name: str):
        """(stamp, why it is stale or None, up to date) of one notebook's last run."""
        params = parameters[name][0]
        stamp = stamps.stamp_for(name, params, data)
        stale = stamps.stale_reason(out_dir / f"{name}.stamp", stamp, name, params)
        raw = raw_dir / f"{name}.ipynb"
        return stamp, stale, stale is None and raw.exists() and not stamps.has_error_output(raw)

    summary = Summary()
    if before is not None:
        started = time.time()
        try:
            if before([name for name in selected if force or not status(name)[2]]):
                summary.before_s = time.time() - started
        except KeyboardInterrupt:
            print("\n[gconv] interrupted while training the runs before the notebooks; a started run "
                  "resumes from its checkpoint: run the same command again", file=sys.stderr, flush=True)
            return INTERRUPTED_EXIT
        except Exception as e:   # the notebooks train their own runs then, and show what fails
            print(f"[gconv] training the runs before the notebooks failed ({_failure_reason(e)}); "
                  "each notebook trains its own runs instead", file=sys.stderr, flush=True)
    changed_any = False   # a notebook executed or failed: the summaries run again
    for number, name in enumerate(selected, 1):
        params, sources = parameters[name]
        output, raw, stamp_file = out_dir / f"{name}.ipynb", raw_dir / f"{name}.ipynb", out_dir / f"{name}.stamp"
        record = f"book/_generated/_papermill/{name}.ipynb"
        overrides_here = [f"{name}.{k}={v}" for k, v in extra.get(name, {}).items()]
        table = book.parameter_table(book.parameter_rows(name, params, sources), profile, overrides_here)
        stamp, stale, up_to_date = status(name)
        again = name in SUMMARIES and changed_any
        head = f"({number}/{len(selected)}) {name}"
        if up_to_date and not force and not again:
            book.write_book_copy(raw, output, table, record)   # the book's copy follows the rules of today
            _say(f"{head}: up to date, skipped")
            summary.add(name, "up to date")
            continue
        set_here = {k: v for k, v in params.items() if k != "profile"}
        why = (" (again: it summarizes the notebooks that ran)" if up_to_date and again
               else f" (again: {stale})" if stale is not None and stale.kind is stamps.Stale.RECORD_LOST else "")
        _say(f"{head}: {WHAT.get(name, name)}{why}")
        _say(f"    executing with the {profile} profile"
             + (": " + ", ".join(f"{k}={v!r}" for k, v in set_here.items()) if set_here
                else " (the notebook's own defaults)"))
        started = time.time()
        # a name of this run's own: two runs of one notebook never move each other's file into place
        fd, tmp_name = tempfile.mkstemp(dir=raw_dir, prefix=f".{name}.", suffix=".running.ipynb")
        os.close(fd)
        tmp = Path(tmp_name)
        os.chmod(tmp, FILE_MODE)
        relay = Relay(sys.stdout)
        try:
            papermill.execute_notebook(str(notebook_dir() / f"{name}.ipynb"), str(tmp), parameters=params,
                                       cwd=str(notebook_dir()), progress_bar=False, kernel_name="python3",
                                       stdout_file=relay.stdout, stderr_file=relay.stderr,
                                       **kernel_options(progress_columns(relay)))
            if stamps.has_error_output(tmp):
                raise PipelineError("the executed notebook holds an error output")
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's traceback
            relay.finish()
            if getattr(e, "ename", None) not in ("KeyboardInterrupt", "TrainingInterrupted"):
                _record_failure(name, profile, e, tmp, failed_dir, output, stamp_file)
                summary.add(name, FAILED, time.time() - started)
                changed_any = True   # the summaries must now mark this chapter's verdicts
                continue
            return _interrupted(name, tmp, summary, started, selected[number:])   # the kernel got Ctrl-C first
        except KeyboardInterrupt:
            relay.finish()
            return _interrupted(name, tmp, summary, started, selected[number:])
        finally:
            relay.finish()
        os.replace(tmp, raw)
        book.write_book_copy(raw, output, table, record)
        stamps.write_stamp(stamp_file, stamp, stamps.produced_records(name, params))
        # the failure it replaces is fixed (its copy, or the log of a kernel that did not start)
        for copy in (failed_dir / f"{name}.ipynb", failed_dir / f"{name}.log"):
            copy.unlink(missing_ok=True)
        stamps.clear_failure(name, profile)
        changed_any = True
        seconds = time.time() - started
        summary.add(name, "executed", seconds)
        _say(f"    {name}: done in {_duration(seconds)}")
    try:
        claims = claims_by_chapter(profile)
    except Exception as e:  # the run's table must still come out: say why its claims column is missing
        claims = None
        print(f"[gconv] the claims column is left out: reading the verdicts failed with "
              f"{_failure_reason(e)}", file=sys.stderr, flush=True)
    print("\n" + summary.table(claims), flush=True)
    return 1 if any(status == FAILED for _n, status, _t in summary.rows) else 0


def _interrupted(name: str, tmp: Path, summary: Summary, started: float, rest: list[str]) -> int:
    """Ctrl-C: drop this run of the notebook (its last good one stays), say how to go on."""
    tmp.unlink(missing_ok=True)
    summary.add(name, "interrupted", time.time() - started)
    for later in rest:
        summary.add(later, "not run")
    print(f"[gconv] interrupted while executing {name!r}; nothing of this run of it was kept "
          f"(the notebooks before it are done): run the same command to go on", file=sys.stderr, flush=True)
    print("\n" + summary.table(), flush=True)
    return INTERRUPTED_EXIT


def _shown(path: Path) -> str:
    """A path as the user gave it: relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _record_failure(name: str, profile: str, exc: Exception, tmp: Path, failed_dir: Path, output: Path,
                    stamp_file: Path) -> None:
    """Keep the failed run for reading, mark the book page, keep the last good record."""
    failed_copy = failed_dir / f"{name}.ipynb"
    shown = _shown(failed_copy)
    failed_dir.mkdir(parents=True, exist_ok=True)
    if tmp.exists() and tmp.stat().st_size:
        shutil.move(str(tmp), failed_copy)
    else:   # the kernel did not even start: keep the reason instead of an empty notebook
        tmp.unlink(missing_ok=True)
        failed_copy = failed_copy.with_suffix(".log")
        shown = _shown(failed_copy)
        atomic_write_text(failed_copy, f"{_failure_reason(exc)}\n\n{exc}\n")
    stamp_file.unlink(missing_ok=True)   # the next run executes it again
    reason = _failure_reason(exc)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # the book's page of the last good run (or the failure page that already holds it)
    page = book.failure_page(name, WHAT.get(name, name), reason, shown, output if output.exists() else None, when)
    atomic_write_text(output, json.dumps(page, indent=1, ensure_ascii=False) + "\n")
    stamps.record_failure(name, profile, reason, shown, when)
    print(f"[gconv] FAILED: notebook {name!r} stopped with {reason}; executed copy with the traceback: "
          f"{shown}; the other notebooks still run", file=sys.stderr, flush=True)
