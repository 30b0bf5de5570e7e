"""Results store: every result is one JSON record with the spec, code and provenance that made it.

A record is ``{"kind", "key", "spec_key", "spec", "code", "result", "provenance"}``. Its key is
``<spec_key>-<code fingerprint>``: a hash of the spec and a hash of the source of the modules
that define the computation (:mod:`gconvlib.fingerprint`), so re-running with unchanged
parameters and unchanged code is a cache hit, and changing a parameter or editing a module the
computation uses makes a new record (no hand-bumped version constant). :meth:`ResultsStore.find`
still finds a result by its spec alone (for committed reference measurements, whose fingerprint
is then provenance).

Writes are atomic (temp file + ``os.replace``): an interrupted run never leaves half a record
behind. A record that cannot be read anyway (truncated by a full disk, edited by hand) is moved
aside to ``<kind>/damaged/`` (kept, never deleted) with a :class:`DamagedRecordWarning` naming it,
and is recomputed. Two processes asking for the same result compute it once: a per-key
:class:`filelock.FileLock` (``<kind>/.locks/<key>.lock``) serializes them, and the second one
reads the first one's record.

Locations (one place, like showyourwork's ``paths.py``):
* ``data/paper/``               published values (committed)
* ``data/results/reference/``   reference measurements made on GPUs (committed)
* ``data/results/local/``       what this machine computed (ignored by git); ``GCONV_RESULTS`` overrides
* ``data/cache/``               downloads and checkpoints (ignored); ``GCONV_CACHE`` overrides

A relative path in one of these variables means the working directory when it is first read
(a store created, a folder asked for), not when this module was imported; it is then made
absolute in the environment, so a later ``chdir`` and a notebook kernel (which runs in
``notebooks/``, started after :func:`gconvlib.runtime.absolute_env_paths`) use the same store.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from filelock import FileLock

from .fingerprint import code_fingerprint
from .kinds import RESULT_FIELDS
from .runtime import commit_state, cpu_name, setting_path

ROOT = Path(__file__).resolve().parent.parent
PAPER_DIR = ROOT / "data" / "paper"
REFERENCE_DIR = ROOT / "data" / "results" / "reference"


def results_dir() -> Path:
    return setting_path("GCONV_RESULTS", ROOT / "data" / "results" / "local")


def cache_dir() -> Path:
    return setting_path("GCONV_CACHE", ROOT / "data" / "cache")


# -- provenance ------------------------------------------------------------------------

def git_state() -> dict:
    """Commit and dirty flag of the checkout (dirty = tracked files changed); on a copy without
    ``.git`` the commit ``GCONV_COMMIT`` names (dirty unknown); ``None`` when neither is there.
    One rule for every record: :func:`gconvlib.runtime.commit_state`."""
    return commit_state()


def device_description() -> dict:
    import torch

    info = {"cpu": cpu_name(), "cpu_count": os.cpu_count(),
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()   # read once: os.umask can only be read by setting it
FILE_MODE = 0o666 & ~_UMASK   # what a plain open() gives a new file (mkstemp's files are owner-only)


@contextmanager
def atomic_open(path: Path, mode: str = "w"):
    """Write to a temporary file beside ``path`` and move it into place only when complete.

    The file gets the permissions a plain ``open`` would give it (mkstemp's are owner-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, FILE_MODE)
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


RECORD_FIELDS = ("kind", "key", "spec_key", "spec", "code", "result", "provenance")
DAMAGED_DIR = "damaged"
LOCK_DIR = ".locks"


def result_fields(kind: str) -> tuple[str, ...]:
    """The fields a result of ``kind`` must have (:data:`gconvlib.kinds.RESULT_FIELDS`; none for a
    kind not listed there): a record without one is not of its kind, so it is refused on write and
    set aside like a damaged one on read (instead of failing later with a KeyError that names no file)."""
    return tuple(RESULT_FIELDS.get(kind, ()))


def check_result(kind: str, result: Any) -> str | None:
    """None for a result that has every field of :func:`result_fields`, else what it lacks (one line)."""
    required = result_fields(kind)
    if not required:
        return None
    if not isinstance(result, dict):
        return f"a {kind!r} result must be a JSON object with {', '.join(required)}, not a {type(result).__name__}"
    missing = [field for field in required if field not in result]
    return f"a {kind!r} result must have {', '.join(missing)} (missing)" if missing else None


class DamagedRecordWarning(UserWarning):
    """A stored record could not be read: it was moved aside (kept) and will be recomputed."""


def _parse_record(data: bytes, kind: str, stem: str) -> tuple[dict | None, str | None]:
    """``(record, None)`` for a readable record, ``(None, reason)`` for a damaged one."""
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        return None, f"not valid JSON ({exc})"
    if not isinstance(record, dict):
        return None, f"not a JSON object but a {type(record).__name__}"
    missing = [field for field in RECORD_FIELDS if field not in record]
    if missing:
        return None, f"missing fields {', '.join(missing)}"
    if record["key"] != stem:
        return None, f"its key {record['key']!r} does not match its file name"
    if record["kind"] != kind:
        return None, f"its kind {record['kind']!r} does not match its folder {kind!r}"
    code = record["code"]
    if not isinstance(code, dict) or record["key"] != f"{record['spec_key']}-{code.get('fingerprint')}":
        return None, "its key does not match its spec_key and code fingerprint"
    if not isinstance(record["provenance"], dict):
        return None, "its provenance is not a JSON object"
    wrong = check_result(kind, record["result"])
    return (None, f"not of its kind: {wrong}") if wrong else (record, None)


class StoreLock:
    """The lock of one key of the store: a context manager around its :class:`filelock.FileLock`.

    Reentrant in one thread (``get_or_compute`` inside ``with store.lock(...)`` is fine); another
    thread or process waits. ``filelock`` is the shared lock object itself.
    """

    def __init__(self, lock: FileLock, timeout: float = -1):
        self.filelock, self.timeout = lock, timeout

    @property
    def lock_file(self) -> str:
        return self.filelock.lock_file

    @property
    def is_locked(self) -> bool:
        return self.filelock.is_locked

    def acquire(self, timeout: float | None = None, **kwargs):
        """Acquire, waiting at most ``timeout`` seconds (default: this lock's); raises ``filelock.Timeout``."""
        return self.filelock.acquire(self.timeout if timeout is None else timeout, **kwargs)

    def release(self, force: bool = False) -> None:
        self.filelock.release(force=force)

    def __enter__(self) -> "StoreLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"StoreLock({self.lock_file!r}, locked={self.is_locked})"


class ResultsStore:
    """JSON records under ``root/<kind>/<key>.json``, ``key = <spec_key>-<code fingerprint>``.

    ``code`` (keyword-only everywhere) lists the modules (names or module objects) whose source
    defines the computation; see :func:`gconvlib.fingerprint.code_fingerprint` and
    :func:`gconvlib.fingerprint.import_closure`.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else results_dir()

    # -- keys and paths ---------------------------------------------------------------

    def key(self, kind: str, spec: Any, *, code: Iterable = ()) -> str:
        return f"{spec_key(spec)}-{code_fingerprint(code)['fingerprint']}"

    def path(self, kind: str, spec: Any, *, code: Iterable = ()) -> Path:
        return self._record_path(kind, self.key(kind, spec, code=code))

    def _record_path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def _filelock(self, kind: str, key: str) -> FileLock:
        folder = self.root / kind / LOCK_DIR
        folder.mkdir(parents=True, exist_ok=True)
        # One instance per lock file in this process (reentrant); always the same options.
        return FileLock(folder / f"{key}.lock", is_singleton=True)

    def lock(self, kind: str, spec: Any, *, code: Iterable = (), timeout: float = -1) -> StoreLock:
        """The lock of this result, as a context manager (``timeout`` < 0 waits forever).

        ``get_or_compute`` takes the same lock; hold it while writing anything that belongs to
        the result (e.g. training checkpoints) so two processes never share a half-written file.
        """
        return StoreLock(self._filelock(kind, self.key(kind, spec, code=code)), timeout)

    # -- reading ------------------------------------------------------------------------

    def read(self, kind: str, path: Path) -> dict | None:
        """The record of ``kind`` in file ``path``; None if absent or damaged (then moved aside
        with a :class:`DamagedRecordWarning`)."""
        return self._read(kind, Path(path))

    def _read(self, kind: str, path: Path) -> dict | None:
        """The record in ``path``; None if absent or damaged (then moved aside with a warning)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        record, reason = _parse_record(data, kind, path.stem)
        return record if reason is None else self._set_aside(kind, path)

    def _set_aside(self, kind: str, path: Path) -> dict | None:
        with self._filelock(kind, path.stem):  # nobody writes this key while we look again
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # another process set it aside already
                return None
            record, reason = _parse_record(data, kind, path.stem)
            if reason is None:  # replaced by a good record in the meantime
                return record
            folder = path.parent / DAMAGED_DIR
            folder.mkdir(parents=True, exist_ok=True)
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
            target, n = folder / f"{path.name}.{stamp}", 1
            while target.exists():
                target, n = folder / f"{path.name}.{stamp}-{n}", n + 1
            os.replace(path, target)
        warnings.warn(f"damaged {kind!r} record {path}: {reason}; moved to {target} (kept) "
                      f"and the result will be recomputed", DamagedRecordWarning, stacklevel=3)
        return None

    def get(self, kind: str, spec: Any, *, code: Iterable = ()) -> dict | None:
        """The stored record of ``spec`` computed by this ``code``, or None.

        A damaged record is moved to ``<kind>/damaged/`` with a :class:`DamagedRecordWarning`
        and None is returned, so the caller recomputes it.
        """
        return self._read(kind, self.path(kind, spec, code=code))

    def find(self, kind: str, spec: Any) -> list[dict]:
        """Every record of ``kind`` for ``spec``, whatever code made it, newest first."""
        key = spec_key(spec)
        folder = self.root / kind
        found = []
        for path in (sorted(folder.glob(f"{key}-*.json")) if folder.is_dir() else []):
            try:
                mtime = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            record = self._read(kind, path)
            if record is not None and record["spec_key"] == key:
                found.append((str(record["provenance"].get("created") or ""), mtime, record))
        found.sort(key=lambda item: item[:2], reverse=True)
        return [record for *_, record in found]

    def records(self, kind: str) -> list[dict]:
        """All readable records of ``kind`` (damaged ones are moved aside with a warning)."""
        folder = self.root / kind
        if not folder.is_dir():
            return []
        return [record for path in sorted(folder.glob("*.json"))
                if (record := self._read(kind, path)) is not None]

    # -- writing ------------------------------------------------------------------------

    def _put(self, kind: str, spec: Any, code: dict, result: Any, profile: str | None) -> dict:
        result = _jsonable(result)
        wrong = check_result(kind, result)
        if wrong:   # refused now, not set aside as damaged when it is next read
            raise ValueError(f"not stored: {wrong}")
        skey = spec_key(spec)
        record = {"kind": kind, "key": f"{skey}-{code['fingerprint']}", "spec_key": skey,
                  "spec": _jsonable(spec), "code": {"fingerprint": code["fingerprint"],
                                                    "modules": dict(code["modules"])},
                  "result": result, "provenance": provenance(profile)}
        atomic_write_text(self._record_path(kind, record["key"]), json.dumps(record, indent=1, sort_keys=True))
        return record

    def put(self, kind: str, spec: Any, result: Any, profile: str | None = None, *,
            code: Iterable = ()) -> dict:
        """Store ``result`` for ``spec`` computed by ``code`` (atomically) and return the record."""
        return self._put(kind, spec, code_fingerprint(code), result, profile)

    def get_or_compute(self, kind: str, spec: Any, compute: Callable[[], Any],
                       profile: str | None = None, *, code: Iterable = ()) -> dict:
        """The stored record for ``spec`` and ``code``, computing and storing it first if there is none.

        Under the key's lock, so two processes asking at once compute it once: the second one
        waits and reads the first one's record. ``record["cache_hit"]`` says which happened. If
        ``compute`` raises, nothing is stored and the exception propagates.
        """
        fingerprint = code_fingerprint(code)
        key = f"{spec_key(spec)}-{fingerprint['fingerprint']}"
        path = self._record_path(kind, key)
        record = self._read(kind, path)
        if record is None:
            with self._filelock(kind, key):
                record = self._read(kind, path)
                if record is None:
                    record = self._put(kind, spec, fingerprint, compute(), profile)
                    record["cache_hit"] = False
                    return record
        record["cache_hit"] = True
        return record
