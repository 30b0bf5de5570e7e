"""The kernel's output on the terminal while a notebook runs: :class:`Relay` and the kernel set-up.

What a notebook's code prints (``tqdm`` bars included) reaches the terminal as it comes,
indented. A warning is never lost to the progress filter: text that starts a Python warning
(``file.py:12: SomeWarning: ...``) always begins a line of its own, even when it arrives on the
line of a bar that is being redrawn.
"""
from __future__ import annotations

import re
import shutil
import sys
import time
from typing import TextIO

_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")    # ANSI escapes (tqdm: cursor up)
# a tqdm bar with no rate yet, and nothing after it (text glued to a bar is not a bar)
_NOT_STARTED = re.compile(r"\|[^|]*\|.*<\?[^\]]*\]\s*$")
# the first line of a Python warning: "path.py:12: SomeWarning: message"
_WARNING_START = re.compile(r"(?<![\w./\\-])(?=[\w./\\-]+\.py:\d+: \w*(?:Warning|Error)\b)")


class Relay:
    """Shows a kernel's stdout and stderr on a terminal, indented, as they come.

    ``relay.stdout`` and ``relay.stderr`` are the file-like objects papermill writes to. On a
    terminal, text goes through as it comes: a ``tqdm`` bar redraws itself in place with ``\\r``;
    a line from the other stream first ends a half-drawn bar line. In a log (not a terminal),
    each ``\\r`` redraw would add a line, so a bar is shown when it ends and at most once every
    ``every_s`` seconds while it runs.
    """

    def __init__(self, out: TextIO | None = None, prefix: str = "    ", tty: bool | None = None,
                 every_s: float = 15.0, clock=time.monotonic):
        self.out = out or sys.stdout
        self.prefix = prefix
        try:
            self.tty = self.out.isatty() if tty is None else tty
        except (AttributeError, ValueError):
            self.tty = False
        self.every_s, self.clock = every_s, clock
        self.owner = None                       # terminal: the stream whose line is half written
        self.col0 = True                        # terminal: the cursor is at the start of a line
        self.cut = None                         # terminal: the stream whose line was ended for another
        self.line = {"stdout": "", "stderr": ""}   # log: each stream's line (its latest redraw)
        self.shown = {"stdout": None, "stderr": None}  # log: when a redraw was last shown
        # log: a nested bar (tqdm position >= 1) redraws as "\n", "\r", text, cursor-up; its "\n"
        # is a redraw, not a line end. `moved`: the stream's last text moved the cursor back up;
        # `pending`: such a bar's latest state, logged when the bar is cleared (its final state).
        self.moved = {"stdout": False, "stderr": False}
        self.pending = {"stdout": None, "stderr": None}
        self.stdout, self.stderr = _RelayStream(self, "stdout"), _RelayStream(self, "stderr")

    def write(self, stream: str, text: str) -> None:
        handle = self._tty if self.tty else self._log
        for piece in re.split(r"(\r\n|\r|\n)", text):
            for i, part in enumerate(_WARNING_START.split(piece)):
                if not part:
                    continue
                if (i or _WARNING_START.match(part)) and self._mid_line(stream):
                    handle(stream, "\n")    # a warning glued to a bar's line starts its own line
                handle(stream, part)
        self.out.flush()

    def _mid_line(self, stream: str) -> bool:
        """Whether ``stream``'s current line already holds text."""
        if self.tty:
            return self.owner == stream and not self.col0
        return bool(self.line[stream])

    def _tty(self, stream: str, piece: str) -> None:
        if self.owner not in (None, stream):
            self.out.write("\n")          # the other stream's half-drawn line (a bar) stays as it is
            self.cut, self.owner, self.col0 = self.owner, None, True
        if self.cut == stream:
            self.cut = None
            if piece in ("\n", "\r\n"):  # the end of the line that was ended for it above
                return
        if piece in ("\n", "\r\n"):
            self.out.write("\n")
            self.owner, self.col0 = None, True
        elif piece == "\r":
            self.out.write("\r")
            self.owner, self.col0 = stream, True
        else:
            self.out.write((self.prefix if self.col0 else "") + piece)
            self.owner, self.col0 = stream, False

    def _log(self, stream: str, piece: str) -> None:
        if piece in ("\n", "\r\n") and not self.moved[stream]:
            self._flush_pending(stream)
            self._log_line(stream, self.line[stream])
            self.line[stream], self.shown[stream] = "", None
        elif piece in ("\n", "\r\n", "\r"):    # a redraw (of a nested bar, for "\n")
            text = self.line[stream]
            if self.moved[stream]:
                if text.strip():
                    self.pending[stream] = text
                elif text:                          # spaces: tqdm cleared the bar (leave=False)
                    self._flush_pending(stream)
            now, last = self.clock(), self.shown[stream]
            if last is None:
                self.shown[stream] = now
            elif now - last >= self.every_s and text.strip():
                self._log_line(stream, text)
                self.shown[stream] = now
                if self.moved[stream]:
                    self.pending[stream] = None
            self.line[stream] = ""
        else:
            self.moved[stream] = bool(_CURSOR_MOVES.search(piece))
            self.line[stream] += _CURSOR_MOVES.sub("", piece)   # nested bars move the cursor up

    def _flush_pending(self, stream: str) -> None:
        if self.pending[stream] is not None:
            self._log_line(stream, self.pending[stream])
            self.pending[stream] = None

    def _log_line(self, stream: str, line: str) -> None:
        """One line of a log. From stderr, blank lines (a nested bar's moves, a cleared bar) and
        bars that have not started (tqdm shows ``<?`` until the first step) are left out."""
        if stream == "stderr" and (not line.strip() or _NOT_STARTED.search(line)):
            return
        self.out.write((self.prefix + line).rstrip() + "\n")

    def finish(self) -> None:
        """End a line left half written (a bar that never printed its last newline)."""
        if self.tty and self.owner is not None:
            self.out.write("\n")
            self.owner, self.col0 = None, True
        for stream, line in self.line.items():
            if not self.tty:
                self._flush_pending(stream)
            if line.strip():
                if self.tty:
                    self.out.write((self.prefix + line).rstrip() + "\n")
                else:
                    self._log_line(stream, line)
            self.line[stream], self.shown[stream] = "", None
        self.out.flush()


class _RelayStream:
    def __init__(self, relay: Relay, name: str):
        self.relay, self.name = relay, name

    def write(self, text: str) -> int:
        self.relay.write(self.name, text)
        return len(text)

    def flush(self) -> None:
        self.relay.out.flush()


# Run in each papermill kernel before the notebook. tqdm.auto would show a widget there once
# ipywidgets is installed (`make lab`), which papermill cannot relay to a terminal, or warn
# "IProgress not found" without it: the pipeline's kernels use tqdm's text bars instead
# (JupyterLab's kernels are untouched). And tqdm measures the screen through the kernel's own
# stderr, which is the terminal itself: a bar would be as wide as the terminal and, indented by
# the relay, wrap at every redraw (or, on a pseudo-terminal of size 0x0 as some CI runners have,
# not be shown at all). So tqdm.auto's bar is a text bar of the width the relay leaves, given as
# its public ncols/nrows arguments (dynamic_ncols=True included, which would measure again).
KERNEL_SETUP = """\
import warnings as _gconv_warnings
with _gconv_warnings.catch_warnings():
    _gconv_warnings.simplefilter("ignore")
    import tqdm.asyncio as _gconv_tqdm, tqdm.auto as _gconv_auto, tqdm.autonotebook as _gconv_autonb
class _GconvTextBar(_gconv_tqdm.tqdm):
    def __init__(self, *args, **kwargs):
        if {ncols}:
            kwargs.update(ncols={ncols}, nrows=50, dynamic_ncols=False)
        super().__init__(*args, **kwargs)
def _gconv_trange(*args, **kwargs):
    return _GconvTextBar(range(*args), **kwargs)
_gconv_auto.tqdm = _gconv_autonb.tqdm = _GconvTextBar
_gconv_auto.trange = _gconv_autonb.trange = _gconv_trange
del _gconv_warnings, _gconv_tqdm, _gconv_auto, _gconv_autonb
"""


def kernel_options(ncols: int | None = None) -> dict:
    """papermill/nbclient options for the pipeline's kernels (``ncols``: width of tqdm bars).

    Without CurveZMQ keys, ipykernel warns "Kernel is running over TCP without encryption" at
    every start; asking the kernel manager to provision keys (the kernelspec of ipykernel >= 7
    declares support) encrypts the connection, and the warning goes with it.
    """
    from traitlets.config import Config

    config = Config()
    try:
        import zmq

        if zmq.has("curve"):
            config.KernelManager.transport_encryption = "auto"
    except ImportError:
        pass
    setup = KERNEL_SETUP.format(ncols=int(ncols or 0))
    # The kernel's own log goes straight to the terminal: after Ctrl-C (the kernel is in the
    # terminal's process group) it would print a traceback about the closed connection.
    return {"config": config, "extra_arguments": [f"--IPKernelApp.exec_lines={setup}",
                                                  "--IPKernelApp.log_level=CRITICAL"],
            "coalesce_streams": True}


def progress_columns(relay: Relay) -> int:
    """How wide a kernel's progress bar may be: the terminal's width less the relay's indent
    (at most 120), or 100 in a log."""
    if relay.tty:
        return max(40, min(shutil.get_terminal_size().columns, 120) - len(relay.prefix) - 1)
    return 100


