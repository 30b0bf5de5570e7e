"""profile -> parameters -> papermill-executed notebooks -> book.

Each notebook in ``notebooks/`` is executed with papermill into ``book/_generated/`` with the
parameters of the chosen profile (``notebooks/profiles/<profile>.yaml``) plus command-line
overrides. A notebook is skipped when its stamp (a hash of the notebook, its parameters, the
library's source and the committed data it reads) is unchanged, so re-running ``make reproduce``
redoes nothing that is finished. A failing notebook stops the run with its name; its partial
output is moved to ``book/_failed/`` so the book never contains error outputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

from .report import CHAPTERS
from .store import ROOT, atomic_write_text

PROFILES = ("smoke", "quick", "paper")

# Execution order (book order); notebooks not written yet are skipped. The landing page runs
# last because it summarizes the others.
NOTEBOOKS = [name for name, _paper, _what in CHAPTERS] + ["index"]


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


def notebook_parameters(notebook: str, profile_name: str, profile: dict, overrides: dict) -> dict:
    """The profile's values for this notebook, then the overrides; every name must be declared."""
    declared = declared_parameters(notebook)
    params = {"profile": profile_name} if "profile" in declared else {}
    for key, value in (profile.get("defaults") or {}).items():
        if key in declared:
            params[key] = value
    for source, values in (("profile " + profile_name, profile["notebooks"].get(notebook) or {}),
                           ("override", overrides.get(notebook, {}))):
        for key, value in values.items():
            if key not in declared:
                raise PipelineError(f"{source}: notebook {notebook!r} has no parameter {key!r}; "
                                    f"its parameters are {', '.join(sorted(declared))}")
            params[key] = value
    return params


def _tree_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def inputs_hash() -> str:
    """What every notebook's outputs depend on besides itself: library code and committed data."""
    files = [p for p in (ROOT / "gconvlib").rglob("*.py")]
    files += [p for p in (ROOT / "data" / "paper").glob("*") if p.is_file()]
    reference = ROOT / "data" / "results" / "reference"
    if reference.exists():
        files += [p for p in reference.rglob("*") if p.is_file()]
    return _tree_hash(files)


def stamp_for(notebook: str, params: dict, shared_hash: str) -> str:
    h = hashlib.sha256()
    h.update((notebook_dir() / f"{notebook}.ipynb").read_bytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update(shared_hash.encode())
    return h.hexdigest()


def has_error_output(path: Path) -> bool:
    nb = json.loads(path.read_text())
    return any(out.get("output_type") == "error"
               for cell in nb.get("cells", []) for out in cell.get("outputs", []))


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
    out_dir.mkdir(parents=True, exist_ok=True)
    shared = inputs_hash()
    executed_any = False
    for name in names:
        if only and name not in only:
            continue
        params = notebook_parameters(name, profile, prof, extra)
        output, stamp_file = out_dir / f"{name}.ipynb", out_dir / f"{name}.stamp"
        stamp = stamp_for(name, params, shared)
        up_to_date = (output.exists() and stamp_file.exists() and stamp_file.read_text() == stamp
                      and not has_error_output(output))
        if up_to_date and not force and not (name == "index" and executed_any):
            print(f"[gconv] {name}: up to date, skipped")
            continue
        print(f"[gconv] {name}: executing ({profile} profile, parameters {params})", flush=True)
        started = time.time()
        tmp = out_dir / f".{name}.running.ipynb"
        try:
            papermill.execute_notebook(str(notebook_dir() / f"{name}.ipynb"), str(tmp), parameters=params,
                                       cwd=str(notebook_dir()), progress_bar=False, kernel_name="python3")
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's traceback
            failed_dir.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.move(str(tmp), failed_dir / f"{name}.ipynb")
            output.unlink(missing_ok=True)
            stamp_file.unlink(missing_ok=True)
            print(f"[gconv] FAILED: notebook {name!r} raised an error ({type(e).__name__}).\n"
                  f"        The executed copy with the error is {failed_dir / (name + '.ipynb')}.\n"
                  f"        {str(e).strip().splitlines()[-1] if str(e).strip() else ''}", file=sys.stderr)
            return 1
        if has_error_output(tmp):
            raise PipelineError(f"notebook {name!r} finished but holds an error output")
        os.replace(tmp, output)
        atomic_write_text(stamp_file, stamp)
        executed_any = True
        print(f"[gconv] {name}: done in {time.time() - started:.0f} s", flush=True)
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
