"""One line per fault on the terminal; the full traceback in a log file that line names.

A user who meets a fault needs what went wrong, which file or setting, and what to do: one
line. Whoever debugs it needs the traceback: it goes to ``<cache>/logs/`` (``GCONV_CACHE``),
and ``GCONV_DEBUG=1`` shows it on the terminal instead.
"""
from __future__ import annotations

import datetime as _dt
import os
import tempfile
import traceback
from pathlib import Path

INTERRUPTED_EXIT = 130   # the shell's code for a process ended by Ctrl-C (128 + SIGINT)


def debug() -> bool:
    from .runtime import setting_flag

    return setting_flag("GCONV_DEBUG")


def log_traceback(exc: BaseException, command: str = "gconv") -> Path | None:
    """Write ``exc``'s traceback to a new log file and return its path (None: nowhere writable)."""
    from .store import cache_dir

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # an unwritable cache may be the fault itself: then the system's temporary folder
    for folder in (cache_dir() / "logs", Path(tempfile.gettempdir())):
        path = folder / f"{command.replace(' ', '-')}-{stamp}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


def where_logged(exc: BaseException, command: str = "gconv") -> str:
    """The tail of a one-line message: where the traceback is (or that it was shown)."""
    if debug():
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        return "traceback above (GCONV_DEBUG=1)"
    path = log_traceback(exc, command)
    return f"traceback in {path}" if path else "traceback: run again with GCONV_DEBUG=1"


def os_error_line(exc: OSError) -> str:
    """An OSError as the path, what failed, and the setting that chose the folder (if one did):
    ``/x/results/train: Permission denied (the results store, GCONV_RESULTS)``."""
    from .store import cache_dir, results_dir

    what = exc.strerror or type(exc).__name__
    if not exc.filename:
        return f"{type(exc).__name__}: {exc}"
    path = Path(exc.filename).absolute()
    line = f"{path}: {what}"
    for folder, role, name in ((results_dir(), "the results store", "GCONV_RESULTS"),
                               (cache_dir(), "downloads and checkpoints", "GCONV_CACHE")):
        if path == folder.absolute() or folder.absolute() in path.parents:
            return f"{line} ({role}, {name}={folder}; point {name} to a writable folder)"
    return line
