"""One module per book chapter: ``run(**parameters) -> ChapterResult``; the notebooks display it.

:data:`CHAPTERS` is the one list of chapters (book order), kept in :mod:`gconvlib.book`: the
notebook pipeline, the landing page, the claims page and the claims registry all read it.
"""
from __future__ import annotations

import inspect
import json
from typing import Mapping

from ..book import CHAPTERS, PAPER_TITLES, Chapter, chapter
from ..kinds import CHAPTER, CHAPTER_FAILURE
from ..runtime import notebook_dir

#: store kinds of a chapter's judged claims and of a chapter whose notebook failed, with the fields
#: their records must have, named in gconvlib.kinds (the store checks them there); re-exported here
#: for the pipeline and the pages that read them
CHAPTER_KIND, CHAPTER_FAILURE_KIND = CHAPTER, CHAPTER_FAILURE

__all__ = ["CHAPTERS", "CHAPTER_FAILURE_KIND", "CHAPTER_KIND", "PAPER_TITLES", "Chapter", "chapter",
           "declared_parameters", "run_chapter"]


def declared_parameters(name: str) -> dict[str, dict] | None:
    """``{parameter: {name, inferred_type_name, default, help}}`` of the parameters cell (the cell
    tagged ``parameters``) of notebook ``name`` in :func:`gconvlib.runtime.notebook_dir`, read by
    papermill's Python parser (what ``papermill.inspect_notebook`` runs, without its need of a kernel
    name in the notebook's metadata): the one reading of the cell, for the pipeline, the book's
    parameter tables and :func:`run_chapter`. None where the notebook is not there (gconvlib used
    without its ``notebooks/`` folder)."""
    path = notebook_dir() / f"{name}.ipynb"
    if not path.is_file():
        return None
    from papermill.translators import PythonTranslator

    tagged = [c for c in json.loads(path.read_text()).get("cells", [])
              if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:   # papermill would read the first and inject after it
        raise ValueError(f"{path}: {len(tagged)} cells tagged 'parameters'; a chapter notebook has one")
    source = tagged[0].get("source", "")
    cell = {"source": "".join(source) if isinstance(source, list) else source}
    return {p.name: p._asdict() for p in PythonTranslator.inspect(cell)}


def run_chapter(module, namespace: Mapping):
    """Call ``module.run`` with each of its parameters that the notebook's parameters cell sets, with
    the value ``namespace`` has: a notebook passes ``globals()``, i.e. that cell after papermill's
    injection, so each parameter is spelled once, in that cell. Only the cell's names are taken: a
    helper variable of the notebook that happens to share a name with a parameter of ``run`` (say
    ``store``) is not passed, and ``run`` uses its default. Where the notebook cannot be read (no
    ``notebooks/`` folder), every name ``run`` takes is passed. A name the cell sets but ``run``
    does not take would be dropped here; tests/test_parameters.py fails on one, for every notebook
    and profile."""
    signature = inspect.signature(module.run)
    cell = declared_parameters(module.__name__.rpartition(".")[2])
    arguments = {name: namespace[name] for name in signature.parameters
                 if name in namespace and (cell is None or name in cell)}
    missing = [name for name, p in signature.parameters.items()
               if p.default is inspect.Parameter.empty and name not in arguments]
    if missing:
        raise TypeError(f"{module.__name__}.run needs {', '.join(missing)}: set it in the notebook's parameters cell")
    return module.run(**arguments)
