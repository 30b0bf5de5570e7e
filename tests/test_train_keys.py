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
