"""What the registry and the book cite must be open to a reader: no document outside the
repository, no machine path, and every code name a claim's note cites exists in the code."""
from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from gconvlib.chapters import CHAPTERS as CHAPTER_REGISTRY
from gconvlib.claims import load_claims
from gconvlib.claims.registry import claims_path
from gconvlib.claims.schema import allowed_args

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"REFERENCE(\.md|\s*§)|/work/|/home/\w|\.\./shared|shared/papers|/tmp/")


def tracked(*folders: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in out.stdout.split() if not p.startswith("data/cache/")]


def test_no_document_outside_the_repository_and_no_machine_path_is_cited():
    hits = []
    for path in tracked("data", "gconvlib", "notebooks", "book"):
        if path.suffix in (".png", ".jpg", ".npz", ".gz", ".zip", ".pt") or not path.is_file():
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{i}")
    assert not hits, f"{len(hits)} citation(s) a reader cannot open: " + ", ".join(hits[:12])


def note_names(note: str):
    """The code names a note cites: gconvlib.* paths, CONSTANT_NAMES, claim ids, args.<name>,
    and '<name> chapter'."""
    for m in re.finditer(r"\bgconvlib(?:\.\w+)+", note):
        yield "path", m.group(0).rstrip(".")
    for m in re.finditer(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", note):
        yield "constant", m.group(0)
    for m in re.finditer(r"\b(?:e2gc|gc2l|vgg)\.[a-z0-9_]+\.[a-z0-9_]+\b", note):
        yield "claim", m.group(0)
    for m in re.finditer(r"\bargs\.(\w+)", note):
        yield "arg", m.group(1)
    for m in re.finditer(r"\b([a-z0-9]+_[a-z0-9_]+) chapter", note):
        yield "chapter", m.group(1)


def _resolves(path: str) -> bool:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.fixture(scope="module")
def defined_constants() -> set[str]:
    names = set()
    for path in (ROOT / "gconvlib").rglob("*.py"):
        names |= set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=", path.read_text(encoding="utf-8"), re.M))
    return names


def test_every_name_a_note_cites_exists(defined_constants):
    ids = {c.id for c in load_claims()}
    raw = {e["id"]: e for e in yaml.safe_load(claims_path().read_text(encoding="utf-8"))}
    missing = []
    for c in load_claims():
        for kind, name in note_names(c.note):
            ok = {"path": lambda: _resolves(name), "constant": lambda: name in defined_constants,
                  "claim": lambda: name in ids, "arg": lambda: name in allowed_args(raw[c.id]["evaluate"]),
                  "chapter": lambda: name in {ch.name for ch in CHAPTER_REGISTRY}}[kind]()
            if not ok:
                missing.append(f"{c.id}: {kind} {name}")
    assert not missing, "notes cite names the code does not have: " + "; ".join(missing)


def test_the_name_check_catches_a_made_up_name(defined_constants):
    names = dict(note_names("read as 10 % (gconvlib.tables.COMPARABLE_WITHIN; GC2L_THRESHOLD_PCT)"))
    assert not _resolves(names["path"]) and names["constant"] not in defined_constants
