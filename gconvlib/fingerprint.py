"""Fingerprints of the code that defines a computation.

A stored result is only as good as the code that made it, so the results store keys every
record by its spec *and* by a fingerprint of the source of the modules the computation uses
(:func:`code_fingerprint`). Editing one of those modules gives a new key, so the result is
recomputed; editing an unrelated module does not. No hand-bumped version constant is needed.

:func:`import_closure` finds, statically (by parsing source with :mod:`ast`, without importing
anything), which modules of the package a module uses, so that a notebook is redone when
something it uses changed, not when any file of the package changed. :func:`dependency_closure`
is its narrower form for stored results: the modules whose code can run when a computation runs
(the training loop's, a measurement's), so a result's key follows the imports, not a hand-kept list.
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import json
import threading
import tokenize
import types
from pathlib import Path
from collections.abc import Mapping
from typing import Iterable

__all__ = ["ClosureMap", "code_fingerprint", "dependency_closure", "import_closure", "module_source_hash"]

_LOCK = threading.Lock()
_HASHES: dict[tuple, str] = {}     # (path, mtime_ns, size, inode) -> 16 hex
_IMPORTS: dict[tuple, tuple] = {}  # (path, mtime_ns, size, inode) -> parsed import targets


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def _find_spec(name: str):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        spec = None
    if spec is None:  # a module written after the import system cached its folder listing
        importlib.invalidate_caches()
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError, AttributeError):
            spec = None
    return spec


def _source_path(name: str) -> Path:
    """The file that defines module ``name`` (``__init__.py`` for a package)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"not a module name: {name!r}")
    spec = _find_spec(name)
    if spec is None:
        raise ValueError(f"unknown module {name!r}: it cannot be found on sys.path")
    origin = spec.origin
    if not origin or origin in ("built-in", "frozen") or not Path(origin).is_file():
        raise ValueError(f"module {name!r} has no source file to fingerprint (origin: {origin!r})")
    return Path(origin)


def _module_name(module: str | types.ModuleType) -> str:
    if isinstance(module, types.ModuleType):
        return module.__name__
    if isinstance(module, str):
        return module
    raise TypeError(f"expected a module or a module name, got {module!r}")


def _as_list(modules) -> list:
    if modules is None:
        return []
    if isinstance(modules, (str, types.ModuleType)):  # one module, not an iterable of characters
        return [modules]
    return list(modules)


def _file_hash(path: Path) -> str:
    key = _stat_key(path)
    with _LOCK:
        cached = _HASHES.get(key)
    if cached is None:
        cached = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        with _LOCK:
            _HASHES[key] = cached
    return cached


def module_source_hash(name: str) -> str:
    """sha256 (first 16 hex digits) of the source file of importable module ``name``.

    For a package this is its ``__init__.py``. The hash is cached per (path, mtime, size), so
    repeated calls cost a ``stat``. Unknown modules raise :class:`ValueError`.
    """
    return _file_hash(_source_path(_module_name(name)))


def code_fingerprint(modules: Iterable[str | types.ModuleType]) -> dict:
    """``{"fingerprint": 16 hex, "modules": {name: hash}}`` of the source of ``modules``.

    Order and duplicates do not matter; module objects count as their ``__name__``. An empty
    list gives a fixed fingerprint.
    """
    names = sorted({_module_name(m) for m in _as_list(modules)})
    hashes = {name: module_source_hash(name) for name in names}
    canonical = json.dumps(sorted(hashes.items()), separators=(",", ":"))
    return {"fingerprint": hashlib.sha256(canonical.encode()).hexdigest()[:16], "modules": hashes}


# -- static import closure --------------------------------------------------------------

def _package_roots(package: str) -> list[Path]:
    spec = _find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{package!r} is not an importable package")
    return [Path(p) for p in spec.submodule_search_locations]


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _module_file(name: str, package: str, roots: list[Path]) -> tuple[Path, bool] | None:
    """(source file, is_package) of ``name`` inside ``package``, found on disk, or None."""
    parts = [] if name == package else name[len(package) + 1:].split(".")
    for root in roots:
        folder = root.joinpath(*parts)
        if (folder / "__init__.py").is_file():
            return folder / "__init__.py", True
        if parts and (folder.parent / f"{parts[-1]}.py").is_file():
            return folder.parent / f"{parts[-1]}.py", False
    return None


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _import_targets(path: Path, module: str, is_package: bool) -> tuple:
    """Every import of the file as (module, names): names are what ``from module import`` takes."""
    key = (*_stat_key(path), module, is_package)
    with _LOCK:
        cached = _IMPORTS.get(key)
    if cached is not None:
        return cached
    with tokenize.open(path) as f:
        tree = ast.parse(f.read(), filename=str(path))
    base = module.split(".") if is_package else module.split(".")[:-1]
    targets = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 >= len(base):
                    continue  # beyond the top-level package: an ImportError at run time
                parts = base[:len(base) - (node.level - 1)]
                if node.module:
                    parts = parts + node.module.split(".")
                target = ".".join(parts)
            else:
                target = node.module
            if target:
                targets.append((target, tuple(a.name for a in node.names if a.name != "*")))
    result = tuple(targets)
    with _LOCK:
        _IMPORTS[key] = result
    return result


def import_closure(modules: Iterable[str], package: str = "gconvlib") -> list[str]:
    """The sorted ``package.*`` modules that ``modules`` use, transitively, found statically.

    Every ``import``/``from ... import`` anywhere in a file counts (also inside functions),
    relative imports are resolved, ``from pkg import name`` counts ``pkg.name`` when that is a
    submodule, and importing a module counts the packages above it (their ``__init__`` runs).
    The given modules are included, with their parent packages; modules outside ``package``
    are ignored. A module inside ``package`` that has no source file raises ValueError.
    """
    return _closure(modules, package, parents=True, exclude=())


def dependency_closure(modules: Iterable[str], package: str = "gconvlib",
                       exclude: Iterable[str] = ()) -> list[str]:
    """The sorted ``package.*`` modules whose code can run when ``modules`` compute: the inputs of
    a stored result's code fingerprint.

    As :func:`import_closure` (every import statement, also inside functions), with two
    differences. A package's ``__init__`` counts only where it is imported for a name it defines
    (``from ..datasets import TASKS``), not as the parent of a module used: ``train/__init__``
    re-exports the benchmark and the command line, which a training run never calls. And the
    modules of ``exclude`` (names, each with everything below it) are neither counted nor
    followed: parts whose share of a result is keyed more finely elsewhere (the modules a model
    instantiates) or that compute nothing of it (the store, a progress bar).
    """
    return _closure(modules, package, parents=False, exclude=tuple(_as_list(exclude)))


class ClosureMap(Mapping):
    """``{key: dependency_closure(roots[key], package, exclude)}`` as a read-only mapping, computed
    when read, so that a module a root starts to import is counted without a restart of the list."""

    def __init__(self, roots: dict, package: str = "gconvlib", exclude: Iterable[str] = ()):
        self.roots, self.package, self.exclude = dict(roots), package, tuple(_as_list(exclude))

    def __getitem__(self, key) -> tuple[str, ...]:
        return tuple(dependency_closure(self.roots[key], self.package, self.exclude))

    def __iter__(self):
        return iter(self.roots)

    def __len__(self) -> int:
        return len(self.roots)


def _closure(modules, package: str, parents: bool, exclude: tuple) -> list[str]:
    roots = _package_roots(package)
    found: dict[str, tuple[Path, bool]] = {}
    todo: list[str] = []

    def excluded(name: str) -> bool:
        return any(name == e or name.startswith(e + ".") for e in exclude)

    def add(name: str, strict: bool = False) -> None:
        for candidate in _with_parents(name) if parents else [name]:
            if not _in_package(candidate, package) or candidate in found or excluded(candidate):
                continue
            location = _module_file(candidate, package, roots)
            if location is None:
                if strict and candidate == name:
                    raise ValueError(f"unknown module {name!r}: no source file in package {package!r}")
                continue
            found[candidate] = location
            todo.append(candidate)

    for module in _as_list(modules):
        add(_module_name(module), strict=True)
    while todo:
        current = todo.pop()
        path, is_package = found[current]
        for target, names in _import_targets(path, current, is_package):
            if not _in_package(target, package) and not _in_package(package, target):
                continue
            submodules = [f"{target}.{name}" for name in names
                          if _in_package(f"{target}.{name}", package)
                          and _module_file(f"{target}.{name}", package, roots)]
            if parents or not names or len(submodules) < len(names):
                add(target)   # `import target`, or a name `target` itself defines
            for submodule in submodules:
                add(submodule)
    return sorted(found)
