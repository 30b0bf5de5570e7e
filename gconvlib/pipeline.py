"""profile -> parameters -> papermill-executed notebooks -> book.

Each notebook in ``notebooks/`` is executed with papermill with the parameters of the chosen
profile (``notebooks/profiles/<profile>.yaml``) plus command-line overrides. papermill's own
record of the run (every output, warnings and progress included) is kept in
``book/_generated/_papermill/``; the book reads a post-processed copy of it,
``book/_generated/<name>.ipynb`` (see :func:`postprocess`).

A notebook is skipped while its stamp is unchanged: a hash of the notebook, its parameters, the
source of the ``gconvlib`` modules its code imports (transitively) and the committed data
(``data/paper``, ``data/results/reference``); see :func:`stamp_inputs`. The landing page
(``index``) runs last and again whenever another notebook ran. Re-running ``make reproduce``
redoes nothing that is finished. A failing notebook stops the run with its name; its partial
output is moved to ``book/_failed/`` so the book never contains error outputs.

While a notebook runs, what its code prints (progress bars of ``tqdm`` included) is relayed to
the terminal as it comes, and a summary table ends the run.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from .chapters import CHAPTERS
from .store import ROOT

PROFILES = ("smoke", "quick", "paper")
PACKAGE = "gconvlib"   # a notebook's stamp covers the modules of this package it uses

# Execution order (book order); notebooks not written yet are skipped. The landing page runs
# last because it summarizes the others.
# Summary pages run after the chapters, whose judged claims they read: they re-run whenever a
# chapter ran, and the landing page is last.
SUMMARIES = {"claims": "every claim of the three papers with its verdict",
             "index": "the landing page: reproduction status"}
NOTEBOOKS = [c.name for c in CHAPTERS] + list(SUMMARIES)
WHAT = {c.name: c.reproduces for c in CHAPTERS} | SUMMARIES

# The book shows a stdout block of at most this many lines (longer ones: the last lines).
MAX_STREAM_LINES = 6
PARAMETER_CELL_ID = "gconv-parameters"


class PipelineError(RuntimeError):
    pass


def book_dir() -> Path:
    return Path(os.environ.get("GCONV_BOOK_DIR", ROOT / "book"))


def notebook_dir() -> Path:
    """Source notebooks and their profiles/ (``GCONV_NOTEBOOK_DIR`` overrides, for tests)."""
    return Path(os.environ.get("GCONV_NOTEBOOK_DIR", ROOT / "notebooks"))


def available_notebooks() -> list[str]:
    return [name for name in NOTEBOOKS if (notebook_dir() / f"{name}.ipynb").exists()]


def load_profile(name: str) -> dict:
    path = notebook_dir() / "profiles" / f"{name}.yaml"
    if not path.exists():
        raise PipelineError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)} "
                            f"(files in {path.parent})")
    profile = yaml.safe_load(path.read_text()) or {}
    profile.setdefault("notebooks", {})
    return profile


def parse_overrides(items: list[str] | None) -> dict[str, dict]:
    """``["nb.key=value", ...]`` -> ``{nb: {key: value}}``; values are read as YAML (numbers, lists)."""
    out: dict[str, dict] = {}
    for item in items or []:
        target, sep, raw = item.partition("=")
        notebook, dot, key = target.partition(".")
        if not sep or not dot or not notebook or not key:
            raise PipelineError(f"override {item!r} is not of the form NOTEBOOK.PARAMETER=VALUE")
        out.setdefault(notebook, {})[key] = yaml.safe_load(raw)
    return out


def declared_parameters(notebook: str) -> dict:
    import papermill

    return papermill.inspect_notebook(str(notebook_dir() / f"{notebook}.ipynb"))


def _parameter_sources(notebook: str, profile_name: str, profile: dict,
                       overrides: dict) -> tuple[dict, dict]:
    """(parameters to inject, where each came from)."""
    declared = declared_parameters(notebook)
    params, source = {}, {}
    if "profile" in declared:
        params["profile"], source["profile"] = profile_name, "the run"
    for key, value in (profile.get("defaults") or {}).items():
        if key in declared:
            params[key], source[key] = value, f"profile {profile_name}"
    for origin, values in ((f"profile {profile_name}", profile["notebooks"].get(notebook) or {}),
                           ("override", overrides.get(notebook, {}))):
        for key, value in values.items():
            if key not in declared:
                what = "profile " + profile_name if origin.startswith("profile") else origin
                raise PipelineError(f"{what}: notebook {notebook!r} has no parameter {key!r}; "
                                    f"its parameters are {', '.join(sorted(declared))}")
            params[key], source[key] = value, origin
    return params, source


def notebook_parameters(notebook: str, profile_name: str, profile: dict, overrides: dict) -> dict:
    """The profile's values for this notebook, then the overrides; every name must be declared."""
    return _parameter_sources(notebook, profile_name, profile, overrides)[0]


# -- stamps ------------------------------------------------------------------------------------

def _tree_hash(paths: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def data_hash(root: Path | None = None) -> str:
    """The committed data every notebook may read: ``data/paper/*``, ``data/results/reference/**``."""
    root = Path(root or ROOT)
    files = [p for p in (root / "data" / "paper").glob("*") if p.is_file()]
    reference = root / "data" / "results" / "reference"
    if reference.exists():
        files += [p for p in reference.rglob("*") if p.is_file()]
    return _tree_hash(files, root)


def _code_cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def _python_source(cell: str) -> str:
    """A code cell as plain Python (IPython magics and shell escapes turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(cell)
    except Exception:  # no IPython: drop the magic lines
        return "\n".join(line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def notebook_imports(path: Path, package: str | None = None) -> list[str]:
    """The ``package`` modules a notebook's code cells import, read with ``ast`` (not run).

    ``import gconvlib.a.b`` -> ``gconvlib.a.b``; ``from gconvlib.a import x`` -> ``gconvlib.a`` and,
    when ``x`` is a submodule, ``gconvlib.a.x``. A cell that does not parse is an error: its
    imports could not be known, and a stamp that misses them would keep stale results.
    """
    import importlib.util

    package = package or PACKAGE
    spec = importlib.util.find_spec(package)
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    nb = json.loads(Path(path).read_text())
    found: set[str] = set()
    for i, cell in enumerate(_code_cells(nb)):
        try:
            tree = ast.parse(_python_source(cell))
        except SyntaxError as e:
            raise PipelineError(f"{Path(path).name}: code cell {i + 1} does not parse ({e.msg}, "
                                f"line {e.lineno}); cannot tell which modules it imports") from e
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == package)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level \
                    and node.module.split(".")[0] == package:
                found.add(node.module)
                for alias in node.names:
                    for root in roots:
                        folder = root.joinpath(*node.module.split(".")[1:])
                        if (folder / f"{alias.name}.py").is_file() or (folder / alias.name / "__init__.py").is_file():
                            found.add(f"{node.module}.{alias.name}")
    return sorted(found)


def code_hash(modules: list[str]) -> tuple[str, list[str]]:
    """(fingerprint, modules): the source of ``modules`` and of every module of the package they
    import, transitively (``gconvlib.fingerprint``: static, parents' ``__init__`` included)."""
    from .fingerprint import code_fingerprint, import_closure

    closure = import_closure(modules, package=PACKAGE)
    result = code_fingerprint(closure)
    return result["fingerprint"], sorted(result["modules"])


def notebook_hash(path: Path) -> str:
    """The notebook's cells (type, source, tags) and kernel: not its outputs, execution counts or
    other metadata, so a notebook run and saved in JupyterLab is not "changed"."""
    nb = json.loads(Path(path).read_text())
    cells = [[c.get("cell_type"), "".join(c["source"]) if isinstance(c["source"], list) else c["source"],
              c.get("metadata", {}).get("tags", [])] for c in nb.get("cells", [])]
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    return hashlib.sha256(json.dumps([kernel, cells]).encode()).hexdigest()


def stamp_inputs(notebook: str, params: dict, data: str | None = None) -> dict:
    """What a notebook's outputs depend on; its stamp is the hash of this."""
    path = notebook_dir() / f"{notebook}.ipynb"
    fingerprint, modules = code_hash(notebook_imports(path))
    return {"notebook": notebook_hash(path),
            "parameters": json.loads(json.dumps(params, sort_keys=True, default=str)),
            "code": fingerprint, "modules": modules,
            "data": data if data is not None else data_hash()}


def stamp_for(notebook: str, params: dict, data: str | None = None) -> str:
    inputs = stamp_inputs(notebook, params, data)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def has_error_output(path: Path) -> bool:
    nb = json.loads(Path(path).read_text())
    return any(out.get("output_type") == "error"
               for cell in nb.get("cells", []) for out in cell.get("outputs", []))


# -- progress on the terminal ----------------------------------------------------------------

_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")    # ANSI escapes (tqdm: cursor up)
_NOT_STARTED = re.compile(r"\|[^|]*\|.*<\?[,\]]")     # a tqdm bar with no rate yet


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
        self.stdout, self.stderr = _RelayStream(self, "stdout"), _RelayStream(self, "stderr")

    def write(self, stream: str, text: str) -> None:
        for piece in re.split(r"(\r\n|\r|\n)", text):
            if piece:
                (self._tty if self.tty else self._log)(stream, piece)
        self.out.flush()

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
        if piece in ("\n", "\r\n"):
            self._log_line(stream, self.line[stream])
            self.line[stream], self.shown[stream] = "", None
        elif piece == "\r":
            now, last = self.clock(), self.shown[stream]
            if last is None:
                self.shown[stream] = now
            elif now - last >= self.every_s and self.line[stream].strip():
                self._log_line(stream, self.line[stream])
                self.shown[stream] = now
            self.line[stream] = ""
        else:
            self.line[stream] += _CURSOR_MOVES.sub("", piece)   # nested bars move the cursor up

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
# not be shown at all). So a bar gets the width the relay leaves (dynamic_ncols=True included).
KERNEL_SETUP = """\
import warnings as _gconv_warnings
with _gconv_warnings.catch_warnings():
    _gconv_warnings.simplefilter("ignore")
    import tqdm.asyncio as _gconv_tqdm, tqdm.auto as _gconv_auto, tqdm.autonotebook as _gconv_autonb
    import tqdm.std as _gconv_std
_gconv_auto.tqdm, _gconv_auto.trange = _gconv_tqdm.tqdm, _gconv_tqdm.trange
_gconv_autonb.tqdm, _gconv_autonb.trange = _gconv_std.tqdm, _gconv_std.trange
if {ncols}:
    _gconv_std._screen_shape_wrapper = lambda: (lambda fp: ({ncols}, 50))
del _gconv_warnings, _gconv_tqdm, _gconv_auto, _gconv_autonb, _gconv_std
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
    return {"config": config, "extra_arguments": [f"--IPKernelApp.exec_lines={setup}"],
            "coalesce_streams": True}


def progress_columns(relay: Relay) -> int:
    """How wide a kernel's progress bar may be: the terminal's width less the relay's indent
    (at most 120), or 100 in a log."""
    if relay.tty:
        return max(40, min(shutil.get_terminal_size().columns, 120) - len(relay.prefix) - 1)
    return 100


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
        lines += [f"{n:<{width}}  {s:<{swidth}}  {_duration(t):<9}"
                  + (f"  {claims[n]}" if n in claims else "") for n, s, t in self.rows]
        lines = [line.rstrip() for line in lines]
        executed = [t for _n, s, t in self.rows if s == "executed" and t is not None]
        lines.append(f"{len(executed)} executed in {_duration(sum(executed))}, "
                     f"{sum(s == 'up to date' for _n, s, _t in self.rows)} up to date"
                     + (f", {sum(s == 'FAILED' for _n, s, _t in self.rows)} failed"
                        if any(s == "FAILED" for _n, s, _t in self.rows) else ""))
        return "\n".join(lines)


def claims_by_chapter(profile: str) -> dict[str, str]:
    """Per chapter, its claims' verdicts as the store holds them for ``profile`` ("3 holds, 2 not
    testable here"); chapters without claims are left out."""
    from .chapters.summary import chapter_status, judged_claims

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


def _value_text(value) -> str:
    return repr(value)


# -- what the book shows ---------------------------------------------------------------------

def _tags(cell: dict) -> list[str]:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def _text(output: dict) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def _final_lines(text: str) -> list[str]:
    """Lines as a terminal would show them at the end: each ``\\r`` redraw replaces its line."""
    lines = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        lines.append(raw.split("\r")[-1] if "\r" in raw.rstrip("\r") else raw.rstrip("\r"))
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parameter_table(rows: list[tuple[str, str, str, str]], profile: str, overrides: list[str]) -> str:
    """The markdown table "Parameters of this run": (name, value, set by, note) rows."""
    def cell(text: str, code: bool = False) -> str:
        text = str(text).replace("|", "\\|").replace("\n", " ")
        if code:
            fence = "``" if "`" in text else "`"
            pad = " " if "`" in text else ""
            return f"{fence}{pad}{text}{pad}{fence}"
        return text

    over = ", ".join(f"`{o}`" for o in overrides) if overrides else "none"
    # {table} for the class (the CSS and the tests find it by it); no title: a titled table
    # would be numbered among the chapter's tables
    lines = [f"**Parameters of this run**: profile `{profile}`, overrides: {over}",
             "",
             ":::{table}",
             ":class: gconv-parameters",
             "",
             "| parameter | value | set by | note |",
             "|:--|:--|:--|:--|"]
    lines += [f"| {cell(n, True)} | {cell(v, True)} | {cell(s)} | {cell(h)} |" for n, v, s, h in rows]
    lines.append(":::")
    return "\n".join(lines)


def parameter_rows(notebook: str, params: dict, sources: dict) -> list[tuple[str, str, str, str]]:
    """Every declared parameter with the value this run used and where it came from."""
    rows = []
    for name, info in declared_parameters(notebook).items():
        if name in params:
            value, source = _value_text(params[name]), sources.get(name, "")
        else:
            default = info.get("default", "")
            try:
                value = _value_text(ast.literal_eval(default))
            except (ValueError, SyntaxError):
                value = default
            source = "default"
        rows.append((name, value, source, (info.get("help") or "").strip()))
    return rows


def postprocess(nb: dict, table_markdown: str | None = None, record: str = "papermill's record",
                max_lines: int = MAX_STREAM_LINES) -> dict:
    """The book's copy of an executed notebook (``nb`` itself is not changed).

    * code inputs folded behind a toggle (``hide-input``) unless the cell already says
      ``remove-input``, ``remove-cell``, ``hide-input`` or ``hide-cell``;
    * the ``parameters`` and ``injected-parameters`` cells removed (``remove-cell``) and one
      markdown table of this run's parameters put after the first markdown cell;
    * stderr outputs (progress bars, warnings, download messages) removed; stdout kept when it is
      at most ``max_lines`` lines, else its last lines under a note that says how many are left out
      (all of them are in papermill's record).
    """
    nb = copy.deepcopy(nb)
    cells = [c for c in nb["cells"] if c.get("id") != PARAMETER_CELL_ID]
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        tags = _tags(cell)
        if {"parameters", "injected-parameters"} & set(tags):
            if "remove-cell" not in tags:
                tags.append("remove-cell")
        elif not {"remove-input", "remove-cell", "hide-input", "hide-cell"} & set(tags):
            tags.append("hide-input")
        outputs, stdout = [], None
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                outputs.append(out)
                stdout = None
            elif out.get("name") == "stdout":
                if stdout is None:
                    stdout = {"output_type": "stream", "name": "stdout", "text": ""}
                    outputs.append(stdout)
                stdout["text"] += _text(out)
            # stderr: dropped
        for out in outputs:
            if out.get("output_type") == "stream":
                lines = _final_lines(out["text"])
                if len(lines) > max_lines:
                    left_out = len(lines) - (max_lines - 1)
                    lines = [f"[... {left_out} earlier lines not shown; all are in {record}]"] \
                        + lines[-(max_lines - 1):]
                out["text"] = "\n".join(lines) + "\n"
        cell["outputs"] = [o for o in outputs if o.get("output_type") != "stream" or o["text"].strip()]
    if table_markdown:
        table = {"cell_type": "markdown", "id": PARAMETER_CELL_ID,
                 "metadata": {"tags": ["gconv-parameters"]}, "source": table_markdown}
        first_md = next((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown"), -1)
        cells.insert(first_md + 1, table)
    nb["cells"] = cells
    return nb


def write_book_copy(raw: Path, output: Path, table_markdown: str | None, record: str) -> bool:
    """Write the post-processed copy of ``raw`` to ``output`` if it differs; True if written."""
    nb = postprocess(json.loads(raw.read_text()), table_markdown, record)
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if output.exists() and output.read_text() == text:
        return False
    _write_text(output, text)
    return True


# -- the run -----------------------------------------------------------------------------------

def run_notebooks(profile: str = "quick", overrides: list[str] | None = None,
                  only: list[str] | None = None, force: bool = False) -> int:
    import papermill

    prof = load_profile(profile)
    extra = parse_overrides(overrides)
    names = available_notebooks()
    unknown = [n for n in list(extra) + list(only or []) if n not in names]
    if unknown:
        raise PipelineError(f"unknown notebook(s) {', '.join(unknown)}; notebooks are {', '.join(names)}")
    out_dir, failed_dir = book_dir() / "_generated", book_dir() / "_failed"
    raw_dir = out_dir / "_papermill"
    raw_dir.mkdir(parents=True, exist_ok=True)
    data = data_hash()
    selected = [n for n in names if not only or n in only]
    summary = Summary()
    executed_any = False
    for number, name in enumerate(selected, 1):
        params, sources = _parameter_sources(name, profile, prof, extra)
        output, raw, stamp_file = out_dir / f"{name}.ipynb", raw_dir / f"{name}.ipynb", out_dir / f"{name}.stamp"
        record = f"book/_generated/_papermill/{name}.ipynb"
        overrides_here = [f"{name}.{k}={v}" for k, v in extra.get(name, {}).items()]
        table = parameter_table(parameter_rows(name, params, sources), profile, overrides_here)
        stamp = stamp_for(name, params, data)
        up_to_date = (raw.exists() and stamp_file.exists() and stamp_file.read_text() == stamp
                      and not has_error_output(raw))
        again = name in SUMMARIES and executed_any
        if up_to_date and not force and not again:
            write_book_copy(raw, output, table, record)   # the book's copy follows the rules of today
            _say(f"({number}/{len(selected)}) {name}: up to date, skipped")
            summary.add(name, "up to date")
            continue
        set_here = {k: v for k, v in params.items() if k != "profile"}
        why = " (again: it summarizes the notebooks that ran)" if up_to_date and again else ""
        _say(f"({number}/{len(selected)}) {name}: {WHAT.get(name, name)}{why}")
        _say(f"    executing with the {profile} profile"
             + (": " + ", ".join(f"{k}={_value_text(v)}" for k, v in set_here.items()) if set_here
                else " (the notebook's own defaults)"))
        started = time.time()
        tmp = raw_dir / f".{name}.running.ipynb"
        relay = Relay(sys.stdout)
        try:
            papermill.execute_notebook(str(notebook_dir() / f"{name}.ipynb"), str(tmp), parameters=params,
                                       cwd=str(notebook_dir()), progress_bar=False, kernel_name="python3",
                                       stdout_file=relay.stdout, stderr_file=relay.stderr,
                                       **kernel_options(progress_columns(relay)))
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's traceback
            relay.finish()
            failed_dir.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.move(str(tmp), failed_dir / f"{name}.ipynb")
            for stale in (output, raw, stamp_file):
                stale.unlink(missing_ok=True)
            summary.add(name, "FAILED", time.time() - started)
            print(f"[gconv] FAILED: notebook {name!r} raised an error ({type(e).__name__}).\n"
                  f"        The executed copy with the error is {failed_dir / (name + '.ipynb')}.\n"
                  f"        {str(e).strip().splitlines()[-1] if str(e).strip() else ''}",
                  file=sys.stderr, flush=True)
            print("\n" + summary.table(), flush=True)
            return 1
        finally:
            relay.finish()
        if has_error_output(tmp):
            raise PipelineError(f"notebook {name!r} finished but holds an error output")
        os.replace(tmp, raw)
        write_book_copy(raw, output, table, record)
        _write_text(stamp_file, stamp)
        executed_any = True
        seconds = time.time() - started
        summary.add(name, "executed", seconds)
        _say(f"    {name}: done in {_duration(seconds)}")
    print("\n" + summary.table(claims_by_chapter(profile)), flush=True)
    return 0


def check_book_sources() -> int:
    """Refuse to build a book from missing or failed notebooks."""
    out_dir = book_dir() / "_generated"
    missing = [n for n in available_notebooks() if not (out_dir / f"{n}.ipynb").exists()]
    if missing:
        print(f"[gconv] not executed yet: {', '.join(missing)} (run `make reproduce`)", file=sys.stderr)
        return 1
    broken = [n for n in available_notebooks() if has_error_output(out_dir / f"{n}.ipynb")]
    if broken:
        print(f"[gconv] error outputs in: {', '.join(broken)}; not building the book", file=sys.stderr)
        return 1
    return 0
