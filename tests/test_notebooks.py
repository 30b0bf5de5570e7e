"""The notebooks stay thin: parameters, a call into gconvlib.chapters, display, prose."""
import json
import re
from pathlib import Path

import pytest

from gconvlib.chapters import CHAPTERS
from gconvlib.pipeline import NOTEBOOKS, available_notebooks

ROOT = Path(__file__).resolve().parents[1]
# what a reader cannot open: documents outside the repository
OUTSIDE = re.compile(r"REFERENCE(\.md| ?§)|/work/shared|shared/papers|\.\./shared")


def _cells(name):
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]


def _code(cells):
    return [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
            if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("name", available_notebooks())
def test_notebook_is_thin_and_calls_the_library(name):
    cells = _cells(name)
    code = _code(cells)
    assert len(code) <= 60, f"{name}: {len(code)} lines of code"
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    imports = "\n".join(line for line in code if "import" in line)
    assert "gconvlib.chapters" in imports, f"{name} does not call a chapter module"
    assert not any(re.match(r"\s*(def|class) ", line) for line in code), f"{name} defines functions"


@pytest.mark.parametrize("name", available_notebooks())
def test_notebook_text_cites_nothing_a_reader_cannot_open(name):
    text = "\n".join("".join(c["source"]) for c in _cells(name))
    assert not OUTSIDE.search(text), OUTSIDE.search(text).group(0)


def test_every_chapter_has_its_notebook_and_the_book_lists_it():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for name in NOTEBOOKS:
        assert (ROOT / "notebooks" / f"{name}.ipynb").exists(), name
        assert name == "index" or f"_generated/{name}" in toc, name
    assert [c.name for c in CHAPTERS] == [n for n in NOTEBOOKS if n not in ("claims", "index")]


def test_papermill_reads_every_parameter_of_every_cell():
    # papermill skips a line it cannot parse (an '=' inside the comment is enough) with a warning
    # and no error: its parameter is then unknown to `--set` and to the book's parameter table
    import ast

    import papermill

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cell = next(c for c in json.loads(path.read_text())["cells"]
                    if "parameters" in c.get("metadata", {}).get("tags", []))
        assigned = [t.id for node in ast.parse("".join(cell["source"])).body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
        assert list(papermill.inspect_notebook(str(path))) == assigned, path.name
