"""Code fingerprints (hashes of module source) and the static import closure of a module."""
import hashlib
import json
import re
import sys
import uuid
from pathlib import Path

import pytest

from gconvlib.fingerprint import ClosureMap, code_fingerprint, dependency_closure, import_closure, module_source_hash


def _sha16(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """Two throwaway top-level modules on sys.path: (folder, name_a, name_b)."""
    folder = tmp_path / "code"
    folder.mkdir()
    a, b = (f"gconv_fp_{tag}_{uuid.uuid4().hex[:8]}" for tag in "ab")
    (folder / f"{a}.py").write_text("A = 1\n")
    (folder / f"{b}.py").write_text("B = 1\n")
    monkeypatch.syspath_prepend(str(folder))
    return folder, a, b


def test_module_source_hash_is_the_sha256_of_the_file_and_follows_edits(probe):
    folder, a, _ = probe
    assert module_source_hash(a) == _sha16(folder / f"{a}.py")
    assert module_source_hash(a) == module_source_hash(a)
    (folder / f"{a}.py").write_text("A = 2  # edited\n")
    assert module_source_hash(a) == hashlib.sha256(b"A = 2  # edited\n").hexdigest()[:16]


def test_package_hash_is_its_init():
    import gconvlib

    assert module_source_hash("gconvlib") == _sha16(Path(gconvlib.__file__))
    assert gconvlib.__file__.endswith("__init__.py")


def test_code_fingerprint_lists_modules_and_ignores_order_and_duplicates(probe):
    folder, a, b = probe
    fp = code_fingerprint([a, b])
    assert fp["modules"] == {a: _sha16(folder / f"{a}.py"), b: _sha16(folder / f"{b}.py")}
    assert list(fp["modules"]) == sorted([a, b])
    assert re.fullmatch("[0-9a-f]{16}", fp["fingerprint"])
    assert code_fingerprint([b, a, b]) == fp
    assert code_fingerprint([sys.modules["json"]])["modules"] == {"json": module_source_hash("json")}
    assert code_fingerprint([json]) == code_fingerprint(["json"])
    assert code_fingerprint([a])["fingerprint"] != fp["fingerprint"]


def test_empty_code_has_a_fixed_fingerprint():
    fp = code_fingerprint([])
    assert fp == code_fingerprint(()) == code_fingerprint(iter([]))
    assert fp["modules"] == {}
    assert fp["fingerprint"] == hashlib.sha256(b"[]").hexdigest()[:16]


def test_fingerprint_changes_with_the_module_and_only_with_it(probe):
    folder, a, b = probe
    before_a, before_b = code_fingerprint([a]), code_fingerprint([b])
    (folder / f"{a}.py").write_text("A = 1\nA += 1\n")
    assert code_fingerprint([a])["fingerprint"] != before_a["fingerprint"]
    assert code_fingerprint([b]) == before_b
    (folder / f"{a}.py").write_text("A = 1\n")
    assert code_fingerprint([a]) == before_a


def test_unknown_module_is_named():
    with pytest.raises(ValueError, match="gconvlib_no_such_module_xyz"):
        code_fingerprint(["gconvlib_no_such_module_xyz"])
    with pytest.raises(ValueError, match="gconvlib.no_such_module"):
        module_source_hash("gconvlib.no_such_module")


# -- static import closure ----------------------------------------------------------------

FAKE = {
    "__init__.py": '"""fake package"""\n',
    "core.py": ("import os\n"
                "import numpy as np\n"
                "from collections import OrderedDict\n"
                "from . import helpers\n"            # a sibling module via `from . import`
                "from .sub import leaf, THING\n"     # a submodule and an attribute of sub/__init__
                "\n"
                "def lazy():\n"
                "    from .lazy_mod import f\n"       # imported only when called: still used
                "    return f()\n"),
    "helpers.py": "import json\nfrom os import path\n",
    "lazy_mod.py": "import {pkg}.absolute_target\n\ndef f():\n    return 1\n",
    "absolute_target.py": "",
    "tools.py": "def fmt():\n    return ''\n",
    "unused.py": "from {pkg} import core\n",
    "sub/__init__.py": "THING = 1\n",
    "sub/leaf.py": "from .. import tools\nfrom ..tools import fmt\n",
    "sub/other.py": "from ..core import lazy\n",
    "sub/deep/__init__.py": "",
    "sub/deep/bottom.py": "from ... import helpers\nfrom . import missing_attribute\n",
}


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    pkg = f"fakepkg_{uuid.uuid4().hex[:8]}"
    for name, text in FAKE.items():
        path = tmp_path / pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(pkg=pkg))
    monkeypatch.syspath_prepend(str(tmp_path))
    return pkg


def test_import_closure_of_a_fake_package(fake_package):
    p = fake_package
    assert import_closure([f"{p}.core"], package=p) == sorted([
        p, f"{p}.core", f"{p}.helpers", f"{p}.sub", f"{p}.sub.leaf", f"{p}.tools", f"{p}.lazy_mod",
        f"{p}.absolute_target"])
    assert import_closure([f"{p}.sub.leaf"], package=p) == sorted([p, f"{p}.sub", f"{p}.sub.leaf", f"{p}.tools"])
    assert import_closure([f"{p}.sub.deep.bottom"], package=p) == sorted([
        p, f"{p}.sub", f"{p}.sub.deep", f"{p}.sub.deep.bottom", f"{p}.helpers"])
    assert import_closure([f"{p}.helpers", f"{p}.tools"], package=p) == sorted([p, f"{p}.helpers", f"{p}.tools"])
    assert import_closure([f"{p}.unused"], package=p) == sorted([
        p, f"{p}.unused", f"{p}.core", f"{p}.helpers", f"{p}.sub", f"{p}.sub.leaf", f"{p}.tools",
        f"{p}.lazy_mod", f"{p}.absolute_target"])
    assert import_closure([], package=p) == []
    assert p not in sys.modules  # found statically: nothing was imported


def test_import_closure_ignores_outside_modules_and_names_unknown_ones(fake_package):
    p = fake_package
    assert import_closure(["os", f"{p}.tools"], package=p) == [p, f"{p}.tools"]
    with pytest.raises(ValueError, match=f"{p}.nothing"):
        import_closure([f"{p}.nothing"], package=p)


def test_import_closure_of_the_real_package():
    closure = import_closure(["gconvlib.paper"])
    assert "gconvlib.paper" in closure and "gconvlib.train" not in closure
    assert closure == sorted(set(closure))
    assert all(name == "gconvlib" or name.startswith("gconvlib.") for name in closure)
    assert "gconvlib.store" in import_closure(["gconvlib.tables"])


# -- dependency closure: the inputs of a result's fingerprint ------------------------------------

def test_dependency_closure_counts_a_package_init_only_where_a_name_of_it_is_imported(fake_package):
    p = fake_package
    # core takes THING from sub/__init__ (counted) and leaf and helpers as submodules; the package's
    # own __init__ is never imported for a name, so it is not counted (import_closure counts it)
    assert dependency_closure([f"{p}.core"], package=p) == sorted([
        f"{p}.core", f"{p}.helpers", f"{p}.sub", f"{p}.sub.leaf", f"{p}.tools", f"{p}.lazy_mod",
        f"{p}.absolute_target"])
    assert dependency_closure([f"{p}.sub.leaf"], package=p) == [f"{p}.sub.leaf", f"{p}.tools"]
    assert dependency_closure([f"{p}.sub.deep.bottom"], package=p) == [f"{p}.helpers", f"{p}.sub.deep",
                                                                       f"{p}.sub.deep.bottom"]


def test_dependency_closure_neither_counts_nor_follows_what_it_excludes(fake_package):
    p = fake_package
    # tools is reached only through sub.leaf: excluding sub drops both
    assert dependency_closure([f"{p}.core"], package=p, exclude=[f"{p}.sub"]) == sorted([
        f"{p}.core", f"{p}.helpers", f"{p}.lazy_mod", f"{p}.absolute_target"])
    assert dependency_closure([f"{p}.core"], package=p, exclude=f"{p}.lazy_mod") == sorted([
        f"{p}.core", f"{p}.helpers", f"{p}.sub", f"{p}.sub.leaf", f"{p}.tools"])


def test_closure_map_follows_an_import_added_after_it_was_made(fake_package, tmp_path):
    p = fake_package
    closures = ClosureMap({"k": [f"{p}.helpers"]}, package=p)
    assert list(closures) == ["k"] and closures["k"] == (f"{p}.helpers",)
    (tmp_path / p / "helpers.py").write_text("import json\n\ndef later():\n    from . import tools\n")
    assert closures["k"] == (f"{p}.helpers", f"{p}.tools")
