"""What the book shows of an executed notebook (:func:`postprocess`), and the page of a chapter
whose last run failed (:func:`failure_page`).

papermill's own record of a run (every output, warnings and progress included) is kept in
``book/_generated/_papermill/``; the book reads a post-processed copy of it,
``book/_generated/<name>.ipynb``.
"""
from __future__ import annotations

import ast
import copy
import json
import sys
from pathlib import Path

from ..store import atomic_write_text
from .settings import available_notebooks, book_dir, declared_parameters
from .stamps import has_error_output

# The book shows a stdout block of at most this many lines (longer ones: the last lines).
MAX_STREAM_LINES = 6
PARAMETER_CELL_ID = "gconv-parameters"
FAILURE_CELL_ID = "gconv-failed"


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
            value, source = repr(params[name]), sources.get(name, "")
        else:
            default = info.get("default", "")
            try:
                value = repr(ast.literal_eval(default))
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
    atomic_write_text(output, text)
    return True


def failure_page(name: str, what: str, reason: str, failed_copy: str, last_good: Path | None,
                 when: str) -> dict:
    """The book page of a notebook whose last run failed: a note that says so, why and where the
    executed copy with the error is, above the last successful run's page (if there was one)."""
    import nbformat

    if last_good is not None and last_good.exists():
        nb = json.loads(last_good.read_text())
        before = "Below is the page of the last run that succeeded; it may be out of date."
    else:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}\n\n{what}")]
        nb = json.loads(nbformat.writes(nb))
        before = "No earlier run of it succeeded, so there is nothing else to show."
    note = {"cell_type": "markdown", "id": FAILURE_CELL_ID, "metadata": {"tags": [FAILURE_CELL_ID]},
            "source": f":::{{error}}\n**This chapter failed in its last run.** "
                      f"The run of {when} stopped with `{reason}`. The executed notebook with the "
                      f"error and its full traceback is `{failed_copy}`. {before} Fix the cause and "
                      f"run `make reproduce` again.\n:::"}
    cells = [c for c in nb["cells"] if c.get("id") != FAILURE_CELL_ID]
    first_md = next((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown"), -1)
    cells.insert(first_md + 1, note)
    nb["cells"] = cells
    return nb


def is_failure_page(path: Path) -> bool:
    nb = json.loads(Path(path).read_text())
    return any(c.get("id") == FAILURE_CELL_ID for c in nb.get("cells", []))


def check_book_sources() -> int:
    """Refuse to build a book from missing notebooks or error outputs; name the failed chapters
    (their pages say that they failed)."""
    out_dir = book_dir() / "_generated"
    missing = [n for n in available_notebooks() if not (out_dir / f"{n}.ipynb").exists()]
    if missing:
        print(f"[gconv] not executed yet: {', '.join(missing)} (run `make reproduce`)", file=sys.stderr)
        return 1
    broken = [n for n in available_notebooks() if has_error_output(out_dir / f"{n}.ipynb")]
    if broken:
        print(f"[gconv] error outputs in: {', '.join(broken)}; not building the book", file=sys.stderr)
        return 1
    failed = [n for n in available_notebooks() if is_failure_page(out_dir / f"{n}.ipynb")]
    if failed:
        print(f"[gconv] building the book with {len(failed)} failed chapter(s), marked as such on their "
              f"pages: {', '.join(failed)}", file=sys.stderr)
    return 0
