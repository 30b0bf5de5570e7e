"""A chapter's parameters are declared once: in its notebook's parameters cell.

The notebook passes that cell to ``run`` through :func:`gconvlib.chapters.run_chapter`, which takes
the names ``run``'s signature has. So the one way a parameter gets lost is a name in a cell (or in a
profile) that ``run`` does not take: these tests read the cells and profiles as text and fail on it.
And ``run`` records what it received (``ChapterResult.parameters``, the chapter's stored record)
without spelling the names again: the last tests call each chapter's ``run`` and read its record.
"""
import ast
import inspect
import json
import types
from importlib import import_module
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gconvlib.chapters import CHAPTER_KIND, CHAPTERS, run_chapter
from gconvlib.store import ResultsStore

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PROFILES = sorted((NOTEBOOKS / "profiles").glob("*.yaml"))
NAMES = [c.name for c in CHAPTERS]


def _cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def cell_names(source: str) -> list[str]:
    """The names a parameters cell assigns, read from its syntax tree (not from papermill)."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def parameters_cell(name: str) -> str:
    tagged = [c for c in _cells(name) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} parameters cells"
    return _source(tagged[0])


def not_taken(names, run) -> list[str]:
    """The names ``run`` has no parameter for (run_chapter would drop them)."""
    taken = inspect.signature(run).parameters
    return [n for n in names if n not in taken]


@pytest.mark.parametrize("name", NAMES)
def test_every_name_of_the_parameters_cell_reaches_run(name):
    run = import_module(f"gconvlib.chapters.{name}").run
    names = cell_names(parameters_cell(name))
    assert "profile" in names, f"{name}: the parameters cell sets no profile"
    assert not not_taken(names, run), f"{name}.run takes no {not_taken(names, run)}"


@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_passes_its_cell_through_run_chapter(name):
    code = "\n".join(_source(c) for c in _cells(name) if c["cell_type"] == "code")
    assert "run_chapter(chapter, globals())" in code, f"{name} does not call run_chapter(chapter, globals())"
    assert f"from gconvlib.chapters import {name} as chapter" in code
    # a hand-written call would spell every parameter a second time
    assert "chapter.run(" not in code, f"{name} calls chapter.run directly"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_every_profile_parameter_is_in_its_cell_and_reaches_run(profile):
    notebooks = (yaml.safe_load(profile.read_text()) or {}).get("notebooks") or {}
    assert notebooks, f"{profile.name} sets no notebook's parameters"
    for notebook, values in notebooks.items():
        assert notebook in NAMES, f"{profile.name}: {notebook!r} is not a chapter"
        cell = cell_names(parameters_cell(notebook))
        assert not [k for k in values or {} if k not in cell], (profile.name, notebook)
        run = import_module(f"gconvlib.chapters.{notebook}").run
        assert not not_taken(values or {}, run), (profile.name, notebook, not_taken(values or {}, run))


def test_a_name_added_to_a_cell_but_not_to_run_is_caught():
    """The check above on a cell with one name too many (what a maintainer forgets)."""
    run = import_module("gconvlib.chapters.vgg_complexity").run
    source = parameters_cell("vgg_complexity") + "\nwidth_mult = 0.5\n"
    assert not_taken(cell_names(source), run) == ["width_mult"]


def test_run_chapter_passes_exactly_the_names_run_takes():
    seen = {}

    def run(profile, depth: int = 1, *, store=None):
        seen.update(profile=profile, depth=depth, store=store)
        return "result"

    module = types.SimpleNamespace(run=run, __name__="fake_chapter")
    namespace = {"profile": "smoke", "depth": 3, "display": print, "chapter": module, "__name__": "__main__"}
    assert run_chapter(module, namespace) == "result"
    assert seen == {"profile": "smoke", "depth": 3, "store": None}
    with pytest.raises(TypeError, match="fake_chapter.run needs profile"):
        run_chapter(module, {"depth": 2})


def test_run_chapter_takes_only_the_names_of_the_parameters_cell():
    """A notebook helper that shares a name with a parameter of ``run`` (``reference``: e2gc_group_size's
    run takes a reference table) is not passed: the parameters cell, read here as text, does not set it."""
    seen = {}

    def run(profile, layer_m: int = 512, reference=None):
        seen.update(profile=profile, layer_m=layer_m, reference=reference)

    module = types.SimpleNamespace(run=run, __name__="gconvlib.chapters.e2gc_group_size")
    cell = cell_names(parameters_cell("e2gc_group_size"))
    assert "layer_m" in cell and "reference" not in cell
    run_chapter(module, {"profile": "smoke", "layer_m": 64, "reference": "a helper table", "display": print})
    assert seen == {"profile": "smoke", "layer_m": 64, "reference": None}


def test_run_chapter_reads_the_cell_of_the_notebook_folder_in_use(tmp_path, monkeypatch):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [],
                     "execution_count": None, "source": ["profile = 'quick'\n", "depth: int = 2\n"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "fake_chapter.ipynb").write_text(json.dumps(nb))
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(tmp_path))
    module = types.SimpleNamespace(run=lambda profile, depth=1, width=1: (profile, depth, width),
                                   __name__="somewhere.fake_chapter")
    assert run_chapter(module, {"profile": "smoke", "depth": 3, "width": 8}) == ("smoke", 3, 1)
    # the pipeline injects into the same cell of the same folder, read the same way
    from gconvlib.pipeline import declared_parameters

    assert sorted(declared_parameters("fake_chapter")) == ["depth", "profile"]
    assert declared_parameters("fake_chapter")["depth"]["default"] == "2"


#: arguments a record leaves out on purpose: the profile has its own field, the stores say where
#: results live, progress how the run reports itself. Anything else ``run`` takes is a parameter.
NOT_PARAMETERS = {"profile", "store", "reference_store", "progress"}


class _Built(Exception):
    """Raised as soon as a chapter's result exists, so that the chapter computes nothing."""


@pytest.mark.parametrize("name", NAMES)
def test_the_chapter_records_every_argument_it_received(name, monkeypatch, tmp_path):
    """Each parameter gets a value of its own (never used: ``run`` is stopped as its result is made,
    which is its first statement); the result must hold each one under its name, and nothing else.
    A hand-written ``parameters=dict(...)`` that forgets, misnames or pre-processes one fails here."""
    module = import_module(f"gconvlib.chapters.{name}")

    class Stop(module.ChapterResult):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            raise _Built(self)

    monkeypatch.setattr(module, "ChapterResult", Stop)
    taken = inspect.signature(module.run).parameters
    given = {p: f"value of {p}" for p in taken if p not in NOT_PARAMETERS}
    plumbing = {"store": ResultsStore(tmp_path)} if "store" in taken else {}
    with pytest.raises(_Built) as built:
        module.run(profile="smoke", **given, **plumbing)
    result = built.value.args[0]
    assert (result.chapter, result.profile) == (name, "smoke")
    assert result.parameters == given, f"{name}: recorded {sorted(result.parameters)}, run takes {sorted(given)}"


def test_a_recorded_parameter_reads_back_from_the_store(tmp_path):
    """Tuples, paths and an object passed in (a test's reference table) go into the JSON record as
    lists, text and the object's type; the store leaves the profile and itself out."""
    from gconvlib.chapters._base import ChapterResult

    name = CHAPTERS[0].name
    store = ResultsStore(tmp_path)
    arguments = {"profile": "smoke", "store": store, "progress": "off", "widths": (1, 2),
                 "root": tmp_path / "devices", "reference": pd.DataFrame({"a": [1.0]}), "limit": None}
    ChapterResult.called(name, arguments).record(store)
    record = store.get(CHAPTER_KIND, {"chapter": name, "profile": "smoke"})
    assert record["result"]["parameters"] == {"widths": [1, 2], "root": str(tmp_path / "devices"),
                                              "reference": "<DataFrame>", "limit": None}


#: the training chapters (they plan runs from their arguments) and a small plan for each
TRAINING_CHAPTERS = {"e2gc_accuracy": dict(group_sizes=(2, 4)), "vgg_schemes": dict(schemes=("baseline", "E")),
                     "gc2l_ablation": {}, "gc2l_comparison": dict(schemes=("gc",))}


@pytest.mark.parametrize("name", TRAINING_CHAPTERS)
def test_a_training_chapter_plans_from_the_arguments_it_received(name, monkeypatch, tmp_path):
    """``seeds=range(2)`` is recorded as its type (the record is JSON) but planned as the two seeds
    it holds: a plan made from the record would see the text "<range>". Stopped before training."""
    from collections import defaultdict

    from gconvlib.chapters import _training

    def stop(r, plan, *args, **kwargs):
        raise _Built(plan)

    monkeypatch.setattr(_training, "train_and_check", stop)
    module = import_module(f"gconvlib.chapters.{name}")
    with pytest.raises(_Built) as built:
        module.run(profile="smoke", data="standin", seeds=range(2), store=ResultsStore(tmp_path), progress="none",
                   **TRAINING_CHAPTERS[name])
    plan = built.value.args[0]
    seeds = defaultdict(list)
    for spec in plan:
        seeds[spec.replace(seed=0)].append(spec.seed)
    assert len(seeds) >= 2 and all(sorted(s) == [0, 1] for s in seeds.values()), dict(seeds)


#: the knobs of the EPF protocol a measurement made here uses (gconvlib.measure.protocol.HERE)
PROTOCOL_KNOBS = ("window_s", "min_trials", "max_trials", "target_cv")


@pytest.mark.parametrize("name", ["e2gc_energy", "vgg_latency", "gc2l_overhead"])
def test_a_measuring_chapter_leaves_the_cpu_protocol_to_its_one_definition(name):
    """A knob of the protocol a chapter takes defaults to None (HERE's value), in ``run`` and in the
    notebook's cell: a copied 0.5 s window would stay behind when HERE changes, and the chapter's
    records would no longer be gconv advise's cache hits."""
    from gconvlib.chapters import declared_parameters

    taken = inspect.signature(import_module(f"gconvlib.chapters.{name}").run).parameters
    knobs = [k for k in PROTOCOL_KNOBS if k in taken]
    assert "window_s" in knobs, f"{name}.run takes no window_s"
    assert {k: taken[k].default for k in knobs} == dict.fromkeys(knobs), name
    cell = declared_parameters(name)
    assert {k: cell[k]["default"] for k in knobs} == dict.fromkeys(knobs, "None"), name
