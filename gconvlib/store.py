"""Results store: every result is one JSON record with the spec and provenance that made it.

A record is ``{"kind", "key", "spec", "result", "provenance"}``. Its key is a hash of the spec
(which carries the experiment's code ``version``), so re-running with unchanged parameters is a
cache hit and changing any parameter makes a new record. Writes are atomic (temp file +
``os.replace``): an interrupted run never leaves half a record behind.

Locations (one place, like showyourwork's ``paths.py``):
* ``data/paper/``               published values (committed)
* ``data/results/reference/``   reference measurements made on GPUs (committed)
* ``data/results/local/``       what this machine computed (ignored by git); ``GCONV_RESULTS`` overrides
* ``data/cache/``               downloads and checkpoints (ignored); ``GCONV_CACHE`` overrides
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
PAPER_DIR = ROOT / "data" / "paper"
REFERENCE_DIR = ROOT / "data" / "results" / "reference"


def results_dir() -> Path:
    return Path(os.environ.get("GCONV_RESULTS", ROOT / "data" / "results" / "local"))


def cache_dir() -> Path:
    return Path(os.environ.get("GCONV_CACHE", ROOT / "data" / "cache"))


# -- provenance ------------------------------------------------------------------------

def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def git_state() -> dict:
    """Commit and dirty flag of the checkout (``None`` outside git). Dirty = tracked files changed."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def device_description() -> dict:
    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def library_versions() -> dict:
    import importlib.metadata as md
    import sys

    versions = {"python": sys.version.split()[0]}
    for name in ("gconvlib", "torch", "torchvision", "numpy", "pandas"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(profile: str | None = None) -> dict:
    """Everything needed to say where a number came from."""
    return {**git_state(), "profile": profile, "versions": library_versions(),
            "device": device_description(), "host": platform.node(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


# -- keys and records ------------------------------------------------------------------

def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def spec_key(spec: Any) -> str:
    """Stable 16-hex-digit key of a spec (dataclass or dict)."""
    canonical = json.dumps(_jsonable(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@contextmanager
def atomic_open(path: Path, mode: str = "w"):
    """Write to a temporary file beside ``path`` and move it into place only when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


class ResultsStore:
    """JSON records under ``root/<kind>/<key>.json``."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else results_dir()

    def path(self, kind: str, spec: Any) -> Path:
        return self.root / kind / f"{spec_key(spec)}.json"

    def get(self, kind: str, spec: Any) -> dict | None:
        path = self.path(kind, spec)
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def put(self, kind: str, spec: Any, result: Any, profile: str | None = None) -> dict:
        record = {"kind": kind, "key": spec_key(spec), "spec": _jsonable(spec),
                  "result": _jsonable(result), "provenance": provenance(profile)}
        atomic_write_text(self.path(kind, spec), json.dumps(record, indent=1, sort_keys=True))
        return record

    def get_or_compute(self, kind: str, spec: Any, compute: Callable[[], Any],
                       profile: str | None = None) -> dict:
        """The stored record for ``spec``, computing and storing it first if there is none."""
        record = self.get(kind, spec)
        if record is None:
            record = self.put(kind, spec, compute(), profile)
            record["cache_hit"] = False
        else:
            record["cache_hit"] = True
        return record

    def records(self, kind: str) -> list[dict]:
        folder = self.root / kind
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []
