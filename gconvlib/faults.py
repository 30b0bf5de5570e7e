"""One line per fault on the terminal; the full traceback in a log file that line names.

A user who meets a fault needs what went wrong, which file or setting, and what to do: one
line. Whoever debugs it needs the traceback: it goes to ``<cache>/logs/`` (``GCONV_CACHE``),
and ``GCONV_DEBUG=1`` shows it on the terminal instead.
"""
from __future__ import annotations

import datetime as _dt
import os
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
    for folder in (cache_dir() / "logs", Path.cwd()):   # an unwritable cache may be the fault itself
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
    """An OSError as what failed on which path ("cannot write /x/y: Permission denied")."""
    what = exc.strerror or type(exc).__name__
    path = exc.filename
    return f"{path}: {what}" if path else str(exc)
