"""The key of a training run follows the code that defines it, and only that code.

The source of a module is changed by monkeypatching its fingerprint (never by editing the file).
"""
from __future__ import annotations

import pytest

from gconvlib import fingerprint
from gconvlib.fingerprint import code_fingerprint
from gconvlib.store import ResultsStore, spec_key
from gconvlib.train import KIND, TrainSpec

COMMON = dict(task="cifar10", data_mode="standin", image_size=16, limit=64, epochs=2)


@pytest.fixture
def edit(monkeypatch):
    """``edit(module)``: from now on ``module``'s source hashes differently, as after an edit."""
    real = fingerprint.module_source_hash
    edited = set()

    def fake(name):
        return ("edited-" if fingerprint._module_name(name) in edited else "") + real(name)

    monkeypatch.setattr(fingerprint, "module_source_hash", fake)
    return edited.add


def keys(*specs):
    return [s.key for s in specs]


def test_editing_the_gc2l_layer_changes_gc2l_runs_only(edit):
    gc, gc2l, unfused = (TrainSpec(model=f"wrn28_1/{s}", **COMMON) for s in ("gc:2", "gc2l:2", "gc2l:2:unfused"))
    before = keys(gc, gc2l, unfused)
    edit("gconvlib.layers.two_level")
    after = keys(gc, gc2l, unfused)
    assert after[0] == before[0]                          # GC does not use the GC-2L layer
    assert after[1] != before[1] and after[2] != before[2]
    # only the code half of the key changed: the spec half is the spec's hash
    assert all(a.split("-")[0] == b.split("-")[0] for a, b in zip(after, before))


def test_editing_the_weights_initialisation_makes_every_run_stale(edit):
    # layers.init draws every weight (models._blocks and the layers import it); the model's key once
    # held only the modules it instantiates, so an edit there left every stored run "current"
    specs = [TrainSpec(model=m, **COMMON) for m in ("wrn28_1/gc:2", "wrn28_1/gc2l:2", "mobilenet_v1/e2gc:4")]
    assert all("gconvlib.layers.init" in s.code_modules() for s in specs)
    before = keys(*specs)
    edit("gconvlib.layers.two_level")     # still: a GC or E2GC run does not depend on the GC-2L layer
    after_two_level = keys(*specs)
    assert after_two_level[0] == before[0] and after_two_level[2] == before[2] and after_two_level[1] != before[1]
    edit("gconvlib.layers.init")
    assert all(a != b for a, b in zip(keys(*specs), after_two_level))


def test_editing_the_loop_or_the_recipes_changes_every_run_but_the_cli_does_not(edit):
    specs = [TrainSpec(model=m, **COMMON) for m in ("wrn28_1/gc:2", "mobilenet_v1/e2gc:4")]
    before = keys(*specs)
    for module in ("gconvlib.train.cli", "gconvlib.train.bench", "gconvlib.train.progress",
                   "gconvlib.train.checkpoint", "gconvlib.layers.shuffle"):
        edit(module)
    assert keys(*specs) == before
    edit("gconvlib.train.loop")
    changed = keys(*specs)
    assert all(a != b for a, b in zip(changed, before))
    edit("gconvlib.recipes")
    assert all(a != b for a, b in zip(keys(*specs), changed))


def test_the_data_modules_follow_the_source(edit):
    standin, real = (TrainSpec(model="wrn28_1/gc:2", **{**COMMON, "data_mode": m}) for m in ("standin", "real"))
    assert "gconvlib.datasets.standin" in standin.code_modules()
    assert "gconvlib.datasets.vision" in real.code_modules() and "gconvlib.datasets.standin" not in real.code_modules()
    before = keys(standin, real)
    edit("gconvlib.datasets.standin")
    assert keys(standin, real)[1] == before[1] and keys(standin, real)[0] != before[0]
    edit("gconvlib.datasets.vision")
    assert keys(standin, real)[1] != before[1]


def test_the_key_is_the_stores_key_of_spec_and_code():
    spec = TrainSpec(model="wrn28_1/gc2l:4", **COMMON)
    expected = f"{spec_key(spec.store_spec())}-{code_fingerprint(spec.code_modules())['fingerprint']}"
    assert spec.key == expected == ResultsStore().key(KIND, spec.store_spec(), code=spec.code_modules())
    assert {"gconvlib.train.spec", "gconvlib.train.loop", "gconvlib.recipes", "gconvlib.models.wide_resnet",
            "gconvlib.layers.two_level"} <= set(spec.code_modules())
    assert not {"gconvlib.train.cli", "gconvlib.train.bench"} & set(spec.code_modules())
    assert "TRAIN_VERSION" not in spec.store_spec() and "version" not in spec.store_spec()


# -- the key's code inputs are derived from the imports, on a copy of the package -----------------

@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of gconvlib under another name, importable (found, never imported), to edit freely."""
    import shutil
    import uuid
    from pathlib import Path

    import gconvlib

    name = f"gconvcopy_{uuid.uuid4().hex[:8]}"
    shutil.copytree(Path(gconvlib.__file__).parent, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name, tmp_path / name


def _append(path, text="\n# edited\n"):
    path.write_text(path.read_text() + text)


def test_editing_what_a_stored_result_imports_makes_it_stale_and_nothing_else_does(package_copy, tmp_path):
    from gconvlib.measure.records import EPF, LATENCY, MEASURE_ROOTS, NOT_IN_MEASURE_KEY
    from gconvlib.train.spec import train_code_modules

    name, root = package_copy
    measure = fingerprint.ClosureMap({k: [m.replace("gconvlib", name, 1) for m in v] for k, v in MEASURE_ROOTS.items()},
                                     package=name, exclude=[m.replace("gconvlib", name, 1) for m in NOT_IN_MEASURE_KEY])
    codes = {"train": lambda: train_code_modules(package=name), EPF: lambda: measure[EPF],
             LATENCY: lambda: measure[LATENCY]}
    store = ResultsStore(tmp_path / "store")
    spec = {"what": "a result"}
    for kind, code in codes.items():   # kinds under a test folder: the store checks real kinds' results
        store.put(f"test_{kind}", spec, {"value": kind}, code=code())

    def fresh():
        """The kinds whose stored record is still served for the current code."""
        return {kind for kind, code in codes.items() if store.get(f"test_{kind}", spec, code=code()) is not None}

    assert fresh() == set(codes)
    # unrelated to all three: the command lines, the benchmark, the book, the claims, the progress bar
    for unrelated in ("train/cli.py", "train/bench.py", "train/progress.py", "measure/cli.py", "measure/reference.py",
                      "plan.py", "claims/__init__.py", "tables.py"):
        _append(root / unrelated)
    assert fresh() == set(codes)
    _append(root / "measure" / "latency.py")          # the latency measurement only
    assert fresh() == {"train", EPF}
    _append(root / "measure" / "window.py")           # imported by protocol, which latency imports
    assert fresh() == {"train"}
    _append(root / "train" / "loop.py")
    assert fresh() == set()


def test_a_module_the_loop_starts_to_use_enters_the_key(package_copy, tmp_path):
    """What a hand-kept list could not do: a new module imported (inside a function) by the loop
    is an input of every run's key from then on."""
    from gconvlib.train.spec import train_code_modules

    name, root = package_copy
    assert f"{name}.train.schedule_helper" not in train_code_modules(package=name)
    (root / "train" / "schedule_helper.py").write_text("def factor():\n    return 1.0\n")
    _append(root / "train" / "loop.py", "\n\ndef _factor():\n    from .schedule_helper import factor\n    return factor()\n")
    assert f"{name}.train.schedule_helper" in train_code_modules(package=name)
    before = code_fingerprint(train_code_modules(package=name))["fingerprint"]
    _append(root / "train" / "schedule_helper.py")
    assert code_fingerprint(train_code_modules(package=name))["fingerprint"] != before


def test_every_part_left_out_of_a_key_exists_and_would_be_reached():
    """An exclusion that names nothing the closure reaches is dead (a renamed module): it must go."""
    from gconvlib.measure.records import MEASURE_ROOTS, NOT_IN_MEASURE_KEY
    from gconvlib.train.spec import NOT_IN_TRAIN_KEY, PACKAGE, TRAIN_ROOTS

    def reached(roots):
        return fingerprint.dependency_closure(roots)

    train = reached([f"{PACKAGE}.{r}" for r in TRAIN_ROOTS])
    for part in NOT_IN_TRAIN_KEY:
        assert any(m == f"{PACKAGE}.{part}" or m.startswith(f"{PACKAGE}.{part}.") for m in train), part
    measured = reached([m for roots in MEASURE_ROOTS.values() for m in roots])
    for part in NOT_IN_MEASURE_KEY:
        assert any(m == part or m.startswith(part + ".") for m in measured), part


def test_the_parallel_step_bench_is_keyed_by_the_code_its_model_runs():
    # the key list this replaced was typed by hand and missed the weights' initialisation
    # (models._blocks.init_weights, layers.init): a change there was served from the store
    from gconvlib.chapters.gc2l_parallel import bench_code

    code = set(bench_code())
    assert {"gconvlib.models._blocks", "gconvlib.layers.init", "gconvlib.parallel.model",
            "gconvlib.parallel.collectives", "gconvlib.layers.two_level"} <= code
    assert not {"gconvlib.store", "gconvlib.fingerprint", "gconvlib.chapters.gc2l_parallel"} & code
