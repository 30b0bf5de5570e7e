"""When a notebook is up to date: its stamp, and the records it produced.

A notebook's stamp is a hash of the notebook, its parameters, the source of the ``gconvlib``
modules its code imports (transitively) and the committed data (``data/paper``,
``data/results/reference``); see :func:`stamp_inputs`. The stamp file also lists the store
records the notebook produced (a chapter's judged claims, which the summary pages read): a
notebook whose record is missing or damaged is not up to date, however its stamp reads, so a
record set aside as damaged is recomputed by the next plain run.
"""
from __future__ import annotations

import ast
import enum
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..chapters import CHAPTER_FAILURE_KIND, CHAPTER_KIND, CHAPTERS
from ..store import ROOT, DamagedRecordWarning, ResultsStore, atomic_write_text
from .settings import PipelineError, notebook_dir

PACKAGE = "gconvlib"   # a notebook's stamp covers the modules of this package it uses
CHAPTER_NAMES = frozenset(c.name for c in CHAPTERS)


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
    from ..fingerprint import code_fingerprint, import_closure

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


def has_error_output(path: Path) -> bool:
    nb = json.loads(Path(path).read_text())
    return any(out.get("output_type") == "error"
               for cell in nb.get("cells", []) for out in cell.get("outputs", []))


# -- the records a notebook produced ----------------------------------------------------------

def chapter_record_spec(notebook: str, params: dict) -> dict | None:
    """The store spec of the record a chapter notebook writes (its judged claims), or None."""
    if notebook not in CHAPTER_NAMES or "profile" not in params:
        return None
    return {"chapter": notebook, "profile": params["profile"]}


def produced_records(notebook: str, params: dict, store: ResultsStore | None = None) -> list[str]:
    """After a run: the records the notebook produced, as paths relative to the store."""
    spec = chapter_record_spec(notebook, params)
    if spec is None:
        return []
    store = store or ResultsStore()
    return [str(store.path(CHAPTER_KIND, spec).relative_to(store.root))] \
        if store.get(CHAPTER_KIND, spec) is not None else []


def record_failure(notebook: str, profile: str, reason: str, copy: str, when: str,
                   store: ResultsStore | None = None) -> None:
    """A chapter notebook failed: say so in the store beside its (last good) record, so that the
    landing and claims pages mark its verdicts as that run's, whichever command builds them."""
    spec = chapter_record_spec(notebook, {"profile": profile})
    if spec is not None:
        (store or ResultsStore()).put(CHAPTER_FAILURE_KIND, spec, {"reason": reason, "copy": copy, "when": when})


def clear_failure(notebook: str, profile: str, store: ResultsStore | None = None) -> None:
    """The notebook succeeded: its record is this run's again."""
    spec = chapter_record_spec(notebook, {"profile": profile})
    if spec is not None:
        (store or ResultsStore()).path(CHAPTER_FAILURE_KIND, spec).unlink(missing_ok=True)


def write_stamp(path: Path, stamp: str, records: list[str]) -> None:
    atomic_write_text(path, json.dumps({"stamp": stamp, "records": records}, indent=1) + "\n")


class Stale(enum.Enum):
    """What makes a notebook out of date; the caller decides on this, never on a reason's wording."""

    NEVER_EXECUTED = "no stamp file"
    INPUTS_CHANGED = "the stamp differs"
    RECORD_LOST = "a record it produced is missing or damaged"   # its run is repeated ("again")


@dataclass(frozen=True)
class StaleReason:
    """Why a notebook must run: its kind, and the text the run's line shows."""

    kind: Stale
    text: str

    def __str__(self) -> str:
        return self.text


def stale_reason(path: Path, stamp: str, notebook: str, params: dict,
                 store: ResultsStore | None = None) -> StaleReason | None:
    """Why ``notebook`` (stamp file ``path``) must run again; None: it is up to date.

    Reading a record checks it (a damaged one is set aside with a warning), so a record that
    the store could no longer serve makes its notebook run again. A stamp file of an older
    version holds the stamp alone: its records are the ones a chapter is known to write.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return StaleReason(Stale.NEVER_EXECUTED, "never executed")
    try:
        saved = json.loads(text)
    except ValueError:
        saved = None
    store = store or ResultsStore()
    if not isinstance(saved, dict) or not isinstance(saved.get("records"), list):
        spec = chapter_record_spec(notebook, params)
        saved = {"stamp": text.strip(), "records": [] if spec is None else
                 [str(store.path(CHAPTER_KIND, spec).relative_to(store.root))]}
    if saved.get("stamp") != stamp:
        return StaleReason(Stale.INPUTS_CHANGED, "its inputs changed")
    for relative in saved["records"]:
        record_path = store.root / relative
        # the store's warning about a damaged record becomes the reason, on the run's own line
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DamagedRecordWarning)
            record = store.read(Path(relative).parts[0], record_path)
        if record is None:
            damaged = [str(w.message) for w in caught if issubclass(w.category, DamagedRecordWarning)]
            return StaleReason(Stale.RECORD_LOST, damaged[0] if damaged else f"its record {record_path} is missing")
    return None
