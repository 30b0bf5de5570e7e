"""``gconv plan``: the runs of a profile that the store does not hold, as torchrun commands."""
from __future__ import annotations

import shlex
import sys
import types

import pytest

from gconvlib import cli
from gconvlib.chapters import Chapter
from gconvlib.store import ResultsStore
from gconvlib.train import TrainSpec
from gconvlib.train.spec import KIND

TINY = dict(model="wrn28_1/gc2l:2", task="cifar10", data_mode="standin", image_size=16, limit=40, epochs=1,
            batch_size=20)


@pytest.fixture
def smoke_profile(tmp_path, monkeypatch):
    """A profile folder whose 'smoke' profile names no notebook (the chapters here are fakes; the
    real profile names the real notebooks, which the pipeline checks against the chapters)."""
    folder = tmp_path / "notebooks"
    (folder / "profiles").mkdir(parents=True)
    (folder / "profiles" / "smoke.yaml").write_text("description: plan test\ndefaults:\n  data: standin\n"
                                                    "notebooks: {}\n")
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(folder))
    return folder


@pytest.fixture
def fake_chapter(monkeypatch, smoke_profile):
    """One chapter module with plan_specs (three seeds of a tiny run, the width from its parameters)."""
    module = types.ModuleType("gconvlib.chapters.fake_plan")
    seen = {}

    def plan_specs(params):
        seen.update(params)
        return [TrainSpec(**{**TINY, "model": f"wrn28_{params.get('width', 1)}/gc2l:2"}, seed=s) for s in (0, 1, 2)]

    module.plan_specs = plan_specs
    monkeypatch.setitem(sys.modules, "gconvlib.chapters.fake_plan", module)
    monkeypatch.setattr("gconvlib.chapters.CHAPTERS", [Chapter("fake_plan", "gc2l", "a test chapter")])
    return seen


def _store_fake_record(spec: TrainSpec) -> None:
    # the fields the store requires of a training result, so that it reads the record as stored
    from gconvlib.store import result_fields

    result = {"note": "stored by the test", **dict.fromkeys(result_fields(KIND))}
    ResultsStore().put(KIND, spec.store_spec(), result, code=spec.code_modules())


def test_plan_lists_exactly_the_runs_missing_from_the_store(fake_chapter, capsys):
    _store_fake_record(TrainSpec(**TINY, seed=1))
    assert cli.main(["plan", "--profile", "smoke", "--nproc-per-node", "2"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("torchrun --nproc-per-node 2 -m gconvlib.cli train ") for line in lines)
    assert ["--seed 0" in lines[0], "--seed 2" in lines[1]] == [True, True]
    assert "2 of 3 training runs of profile 'smoke' not in the store (2 fake_plan)" in captured.err
    assert fake_chapter["profile"] == "smoke" and fake_chapter["data"] == "standin"   # the profile's defaults

    # each command reads back as exactly the planned run
    from gconvlib.train.cli import spec_from_args

    parser = cli.make_parser()
    for line, seed in zip(lines, (0, 2)):
        words = shlex.split(line)
        args = parser.parse_args(words[words.index("gconvlib.cli") + 1:])
        assert spec_from_args(args) == TrainSpec(**TINY, seed=seed)
        assert args.profile == "smoke"

    # --all lists the stored one too; --set reaches plan_specs as a notebook parameter
    assert cli.main(["plan", "--profile", "smoke", "--all", "--set", "fake_plan.width=2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3 and all("wrn28_2/gc2l:2" in line for line in out)


def test_plan_on_a_full_store_prints_nothing(fake_chapter, capsys):
    for s in (0, 1, 2):
        _store_fake_record(TrainSpec(**TINY, seed=s))
    assert cli.main(["plan", "--profile", "smoke"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "0 of 3 training runs" in captured.err


def test_plan_names_a_store_that_does_not_exist_or_is_empty(fake_chapter, capsys, tmp_path, monkeypatch):
    # a mistyped GCONV_RESULTS must not read as "nothing trained yet": the line names the folder
    missing = tmp_path / "no such store"
    monkeypatch.setenv("GCONV_RESULTS", str(missing))
    assert cli.main(["plan", "--profile", "smoke"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"3 of 3 training runs of profile 'smoke' not in the store (3 fake_plan); the store {missing} " \
           "(set by GCONV_RESULTS) does not exist" in err
    assert not missing.exists()   # planning creates nothing

    (missing / KIND).mkdir(parents=True)
    assert cli.main(["plan", "--profile", "smoke"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the store {missing} holds no training run yet" in err

    _store_fake_record(TrainSpec(**TINY, seed=1))   # one run stored: the store is the right one
    assert cli.main(["plan", "--profile", "smoke"]) == 0
    err = capsys.readouterr().err
    assert "2 of 3 training runs" in err and str(missing) not in err


def test_several_nodes_get_a_rendezvous(fake_chapter, capsys):
    assert cli.main(["plan", "--profile", "smoke", "--nproc-per-node", "4", "--nnodes", "2",
                     "--rdzv-endpoint", "node0:29500"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("torchrun --nproc-per-node 4 --nnodes 2 --rdzv-backend c10d --rdzv-endpoint node0:29500 ")


def test_unknown_profile_is_one_line(fake_chapter, capsys):
    assert cli.main(["plan", "--profile", "huge"]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err


def test_the_parallel_chapter_plans_its_training_runs():
    from gconvlib.chapters import gc2l_parallel

    specs = gc2l_parallel.plan_specs({"widths": [40, 60, 80], "seeds": [0, 1, 2], "epochs": None, "limit": None,
                                      "image_size": None, "batch_size": None, "data": "real", "profile": "paper"})
    assert len(specs) == 27 and len(set(specs)) == 27
    assert {s.model for s in specs} == {f"wrn28_{k}/{v}" for k in (40, 60, 80) for v in ("standard", "gc2l:2", "gc2l:4")}
    assert all(s.resolved_recipe().epochs == 200 and s.resolved_recipe().batch_size == 128 and s.data_mode == "real"
               for s in specs)


def test_a_plan_specs_with_keywords_gets_the_parameters_it_declares(monkeypatch, capsys, smoke_profile):
    module = types.ModuleType("gconvlib.chapters.fake_keywords")

    def plan_specs(width: int = 1, seeds=(0,)):   # like a chapter's run(): keywords, no `profile`
        return [TrainSpec(**{**TINY, "model": f"wrn28_{width}/gc2l:2"}, seed=s) for s in seeds]

    module.plan_specs = plan_specs
    monkeypatch.setitem(sys.modules, "gconvlib.chapters.fake_keywords", module)
    monkeypatch.setattr("gconvlib.chapters.CHAPTERS", [Chapter("fake_keywords", "gc2l", "keywords")])
    assert cli.main(["plan", "--profile", "smoke", "--set", "fake_keywords.width=2",
                     "--set", "fake_keywords.seeds=[3, 4]"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("wrn28_2/gc2l:2" in line for line in lines) and "--seed 4" in lines[1]


# -- training the missing runs before the notebooks (gconv notebooks --train-jobs) ----------------

def test_missing_runs_train_in_worker_processes_as_the_notebook_would_train_them(fake_chapter, tmp_path, capsys,
                                                                                  monkeypatch):
    import torch

    from gconvlib import plan
    from gconvlib.train.run import stored_record, train

    monkeypatch.setattr(plan, "cpu_count", lambda: 2)     # the workers get their threads from here
    store = ResultsStore()
    _store_fake_record(TrainSpec(**TINY, seed=1))          # stored already: not trained again
    assert plan.train_missing("smoke", jobs=2, store=store) == 2
    out = capsys.readouterr().out
    assert "training the 2 runs of the smoke profile that the store lacks, 2 at a time (1 thread each)" in out
    assert out.count("fake_plan: wrn28_1/gc2l:2 seed ") == 2 and "seed 1:" not in out
    records = {s: stored_record(TrainSpec(**TINY, seed=s), store) for s in (0, 2)}
    assert all(r is not None and r["result"]["run"]["threads"] == 1 for r in records.values())

    # the worker's run is the run this process makes with one thread: same curves, bit for bit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = train(TrainSpec(**TINY, seed=2), ResultsStore(tmp_path / "elsewhere"), progress="none")
    finally:
        torch.set_num_threads(threads)
    assert here["result"]["curves"] == records[2]["result"]["curves"]
    assert here["result"]["test"] == records[2]["result"]["test"]


def test_one_job_or_an_unselected_chapter_trains_nothing(fake_chapter, capsys):
    from gconvlib import plan

    assert plan.train_missing("smoke", jobs=1) == 0
    assert plan.train_missing("smoke", chapters=["another_chapter"], jobs=2) == 0
    assert capsys.readouterr().out == ""
    assert plan.missing_jobs(plan.planned_jobs("smoke")) == plan.planned_jobs("smoke"), "nothing was stored"


def test_a_run_that_fails_is_named_and_left_to_its_notebook(monkeypatch, smoke_profile, capsys, tmp_path):
    from gconvlib import plan

    module = types.ModuleType("gconvlib.chapters.fake_failing")
    # real data that is not on disk (an empty data root): the worker's load fails
    module.plan_specs = lambda params: [TrainSpec(**{**TINY, "data_mode": "real"}, seed=0),
                                        TrainSpec(**TINY, seed=0)]
    monkeypatch.setitem(sys.modules, "gconvlib.chapters.fake_failing", module)
    monkeypatch.setattr("gconvlib.chapters.CHAPTERS", [Chapter("fake_failing", "gc2l", "failing")])
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "empty cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    assert plan.train_missing("smoke", jobs=2) == 2
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "failed (" in line]
    assert len(failed) == 1 and "fake_failing trains it again and shows why" in failed[0]
    assert "1 of 2 runs trained" in out


def test_a_bad_train_jobs_setting_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("GCONV_TRAIN_JOBS", "two")
    assert cli.main(["notebooks", "--profile", "smoke", "--only", "vgg_complexity"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GCONV_TRAIN_JOBS='two'" in err
    assert cli.main(["notebooks", "--train-jobs", "0"]) == 2
    assert "--train-jobs must be at least 1, got 0" in capsys.readouterr().err


def test_a_run_two_chapters_share_is_trained_for_either_of_them(monkeypatch, smoke_profile):
    from gconvlib import plan

    def planner(seeds):
        return lambda params: [TrainSpec(**TINY, seed=s) for s in seeds]

    for name, seeds in (("fake_first", (0, 1)), ("fake_second", (1, 2))):
        module = types.ModuleType(f"gconvlib.chapters.{name}")
        module.plan_specs = planner(seeds)
        monkeypatch.setitem(sys.modules, f"gconvlib.chapters.{name}", module)
    monkeypatch.setattr("gconvlib.chapters.CHAPTERS", [Chapter("fake_first", "gc2l", "first"),
                                                       Chapter("fake_second", "gc2l", "second")])
    every = plan.planned_jobs("smoke")
    assert [(j.chapter, j.spec.seed) for j in every] == [("fake_first", 0), ("fake_first", 1), ("fake_second", 2)]
    # --only the second chapter: its run of seed 1, which the first chapter also trains, is planned
    assert [(j.chapter, j.spec.seed) for j in plan.planned_jobs("smoke", chapters=["fake_second"])] == \
        [("fake_second", 1), ("fake_second", 2)]
