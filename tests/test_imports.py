"""Layering: no import cycle between the parts of gconvlib, not even through function-level imports.

A part is a subpackage (``train``, ``measure``, ``parallel``, ``chapters``, ``claims``, ``models``,
``layers``, ``datasets``, ...) or a top-level module (``store``, ``runtime``, ``plan``, ...). Every
``import`` / ``from ... import`` statement of every file counts, wherever it is (module level or
inside a function): an import deferred into a function still runs, and still ties the two parts.
"""
from __future__ import annotations

import ast
import textwrap
from collections import defaultdict
from pathlib import Path

LIB = Path(__file__).resolve().parent.parent / "gconvlib"


def _module_of(path: Path, root: Path) -> tuple[list[str], bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def _targets(node: ast.AST, module: list[str], is_package: bool) -> list[list[str]]:
    """The modules an import statement names (for ``from pkg import name``: ``pkg.name``, which is
    the submodule when there is one and otherwise lies in ``pkg``'s part anyway)."""
    if isinstance(node, ast.Import):
        return [alias.name.split(".") for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module if is_package else module[:-1]
        base = base[:len(base) - (node.level - 1)]
    else:
        base = []
    base = base + (node.module.split(".") if node.module else [])
    return [base + [alias.name] for alias in node.names]


def part_graph(root: Path) -> dict[str, dict[str, list[str]]]:
    """{part: {imported part: ["file:line", ...]}} for every import between two parts of ``root``."""
    package = root.name
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("*.py")):
        module, is_package = _module_of(path, root)
        here = module[1] if len(module) > 1 else package
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for target in _targets(node, module, is_package):
                if target[0] != package or len(target) < 2:
                    continue
                there = target[1]
                if there == here or not ((root / f"{there}.py").is_file() or (root / there).is_dir()):
                    continue   # inside one part, or a name of the package's __init__ (__version__)
                edges[here][there].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def _describe(edges, component) -> str:
    lines = []
    for a in component:
        for b, where in sorted(edges[a].items()):
            if b in component:
                lines.append(f"  {a} -> {b}: {', '.join(where[:4])}{' ...' if len(where) > 4 else ''}")
    return "\n".join(lines)


def test_no_import_cycle_between_the_parts_of_gconvlib():
    edges = part_graph(LIB)
    found = cycles(edges)
    assert found == [], "import cycles between parts of gconvlib:\n" + "\n".join(
        f"{' <-> '.join(c)}\n{_describe(edges, c)}" for c in found)


def test_the_floor_imports_nothing_of_gconvlib():
    edges = part_graph(LIB)
    for floor in ("runtime", "commands", "fingerprint", "kinds"):
        assert dict(edges.get(floor, {})) == {}, f"gconvlib/{floor}.py imports {dict(edges[floor])}"


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    """A fake package whose only cycle runs through an import inside a function (and a relative
    ``from .. import``): the checker must see it, and must not see one where there is none."""
    root = tmp_path / "fakepkg"
    files = {
        "__init__.py": "",
        "store.py": "import os\n",
        "a/__init__.py": "from .x import f\n",
        "a/x.py": "from ..store import os\n\ndef f():\n    from ..b import y\n    return y\n",
        "b/__init__.py": "",
        "b/y.py": "import fakepkg.store\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    assert cycles(part_graph(root)) == []
    (root / "b" / "y.py").write_text("def g():\n    from .. import a\n    return a\n")
    edges = part_graph(root)
    assert cycles(edges) == [["a", "b"]]
    assert edges["a"]["b"] == ["fakepkg/a/x.py:4"] and edges["b"]["a"] == ["fakepkg/b/y.py:2"]
