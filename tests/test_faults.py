"""Faults, one table: each gives one line that says what, where and what to do, the right exit
code, and loses or misreports nothing.

| fault                                            | test                                              |
|--------------------------------------------------|---------------------------------------------------|
| damaged / empty / foreign record of each kind    | test_a_bad_record_is_set_aside_and_recomputed     |
| damaged chapter record after a run               | test_a_damaged_chapter_record_makes_its_notebook_run_again |
| relative GCONV_RESULTS / GCONV_CACHE             | test_relative_paths_mean_the_starting_directory   |
| unwritable GCONV_RESULTS / GCONV_CACHE           | test_an_unwritable_store_or_cache_is_one_line_before_training |
| two runs of one notebook at once                 | test_two_runs_of_one_notebook_never_swap_files    |
| Ctrl-C in training, then the same command        | test_ctrl_c_in_training_checkpoints_and_resumes_to_the_same_result |
| Ctrl-C during a notebook                         | test_ctrl_c_during_a_notebook_keeps_what_finished |
| bad YAML in --set, bad profile, unknown notebook, | test_bad_requests_are_one_line_and_run_nothing    |
| --only with no names                             |                                                   |
| a failing notebook                               | test_a_failing_notebook_is_recorded_and_the_others_run |
| its last good verdicts on the landing/claims pages | test_a_failed_chapters_verdicts_are_marked_on_the_summary_pages |
| a warning on a progress bar's line (in a log)    | test_a_warning_on_a_bar_line_keeps_its_own_line   |
| real data offline                                | test_offline_real_data_is_one_line_naming_files_and_the_option |

Tiny fake notebooks (papermill replaced by a function) and tiny training runs: seconds, CPU only,
offline.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import nbformat
import pytest

from gconvlib import pipeline
from gconvlib.cli import main
from gconvlib.store import DamagedRecordWarning, ResultsStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCONV_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    monkeypatch.delenv("GCONV_DEBUG", raising=False)
    return tmp_path


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{text}"
    return lines[0]


# -- records ---------------------------------------------------------------------------------------

def _results():
    """A well-formed result of each kind (the fields its readers use)."""
    from gconvlib.chapters import CHAPTER_KIND
    from gconvlib.train.run import KIND as TRAIN_KIND

    train = {field: {} for field in ("data", "scaling", "curves", "test", "timing", "run")}
    train.update(label="GC g=2", architecture="wrn28_1", task="cifar10", test_accuracy=0.5)
    return {CHAPTER_KIND: {"claims": [], "parameters": {}}, TRAIN_KIND: train, "latency": {"ms": 1.0}}


def _damage(path: Path, how: str) -> None:
    record = json.loads(path.read_text())
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "foreign":   # valid JSON and a record's envelope, but not a result of its kind
        record["result"] = {} if record["kind"] != "latency" else record["result"]
        if record["kind"] == "latency":
            del record["spec_key"]
        path.write_text(json.dumps(record))


@pytest.mark.parametrize("how", ["truncated", "empty", "foreign"])
@pytest.mark.parametrize("kind", ["chapter", "train", "latency"])
def test_a_bad_record_is_set_aside_and_recomputed(tmp_path, kind, how):
    store = ResultsStore(tmp_path / "store")
    result = _results()[kind]
    spec = {"what": kind}
    path = Path(store.path(kind, spec))
    store.put(kind, spec, result)
    _damage(path, how)
    bad = path.read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.get(kind, spec) is None
    messages = [str(w.message) for w in caught if issubclass(w.category, DamagedRecordWarning)]
    assert len(messages) == 1 and str(path) in messages[0] and "recomputed" in messages[0]
    kept = list((path.parent / "damaged").iterdir())
    assert [p.read_bytes() for p in kept] == [bad], "the damaged file is kept, byte for byte"
    again = store.get_or_compute(kind, spec, lambda: result)
    assert again["cache_hit"] is False and again["result"] == result
    assert store.get(kind, spec)["result"] == result


def _fake_papermill(monkeypatch, calls, behaviour=None):
    """papermill.execute_notebook without a kernel; ``behaviour[name](output_path)`` may raise."""
    import papermill

    def execute(source, output, parameters=None, stdout_file=None, stderr_file=None, **kwargs):
        name = Path(source).stem
        calls.append((name, Path(output)))
        nb = nbformat.read(source, as_version=4)
        nb.metadata["papermill"] = {"parameters": parameters}
        nbformat.write(nb, output)       # papermill writes the output as it goes
        stdout_file.write(f"ran {name}\n")
        if behaviour and name in behaviour:
            behaviour[name](Path(output), parameters)

    monkeypatch.setattr(papermill, "execute_notebook", execute)


def _notebooks(tmp_path, monkeypatch, names=("vgg_complexity", "vgg_latency", "index")):
    notebooks = tmp_path / "notebooks"
    (notebooks / "profiles").mkdir(parents=True)
    (notebooks / "profiles" / "quick.yaml").write_text("description: the fake notebooks' profile\n")
    for name in names:
        nbformat.write(nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                   nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
                   nbformat.v4.new_code_cell("import gconvlib.paper")],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
            notebooks / f"{name}.ipynb")
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(notebooks))
    monkeypatch.setenv("GCONV_BOOK_DIR", str(tmp_path / "book"))
    monkeypatch.setattr(pipeline.run, "claims_by_chapter", lambda profile: {})
    return notebooks


def _write_chapter_record(output, parameters):
    """What a chapter notebook's kernel does: its judged claims into the store."""
    ResultsStore().put("chapter", {"chapter": "vgg_complexity", "profile": parameters["profile"]},
                       {"claims": [], "parameters": {}})


def test_a_damaged_chapter_record_makes_its_notebook_run_again(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch)
    calls = []
    _fake_papermill(monkeypatch, calls, {"vgg_complexity": _write_chapter_record})
    assert pipeline.run_notebooks("quick") == 0
    record = ResultsStore().path("chapter", {"chapter": "vgg_complexity", "profile": "quick"})
    assert record.exists()
    calls.clear()
    assert pipeline.run_notebooks("quick") == 0
    assert calls == [], "nothing changed: nothing runs"
    capsys.readouterr()

    record.write_bytes(record.read_bytes()[:30])      # truncated, as by a full disk
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedRecordWarning)   # said on the run's line, not as a warning
        assert pipeline.run_notebooks("quick") == 0
    out = capsys.readouterr().out
    assert [name for name, _ in calls] == ["vgg_complexity", "index"], "the chapter and the summary run again"
    assert f"(again: damaged 'chapter' record {record}: not valid JSON" in out and "moved to" in out
    assert json.loads(record.read_text())["result"] == {"claims": [], "parameters": {}}, "recomputed"

    calls.clear()
    record.unlink()                                    # missing: the same
    assert pipeline.run_notebooks("quick") == 0
    assert [name for name, _ in calls] == ["vgg_complexity", "index"]
    assert f"(again: its record {record} is missing)" in capsys.readouterr().out



@pytest.mark.parametrize("kind, text, again", [
    (pipeline.stamps.Stale.RECORD_LOST, "gone", True),                       # no "record" in the text
    (pipeline.stamps.Stale.INPUTS_CHANGED, "its record of inputs changed", False),  # "record", not lost
])
def test_running_again_is_decided_on_the_kind_of_reason_not_its_wording(tmp_path, monkeypatch, capsys,
                                                                        kind, text, again):
    _notebooks(tmp_path, monkeypatch, names=("vgg_complexity",))
    _fake_papermill(monkeypatch, [])
    monkeypatch.setattr(pipeline.stamps, "stale_reason",
                        lambda *a, **k: pipeline.stamps.StaleReason(kind, text))
    assert pipeline.run_notebooks("quick") == 0
    out = capsys.readouterr().out
    assert (f"(again: {text})" in out) is again and ("again" in out) is again


# -- paths -----------------------------------------------------------------------------------------

def test_relative_paths_mean_the_starting_directory(tmp_path):
    """The command starts in tmp_path; a kernel runs in another folder (notebooks/): both use
    tmp_path/myresults and tmp_path/mycache."""
    (tmp_path / "notebooks").mkdir()
    child = "from gconvlib.store import results_dir, cache_dir; print(results_dir()); print(cache_dir())"
    code = textwrap.dedent(f"""\
        import os, subprocess, sys
        from gconvlib.store import results_dir, cache_dir
        print(results_dir()); print(cache_dir())
        os.chdir("notebooks")
        print(results_dir()); print(cache_dir())
        sys.stdout.flush()
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
        """)
    env = {**os.environ, "GCONV_RESULTS": "myresults", "GCONV_CACHE": "./mycache",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert out == [str(tmp_path / "myresults"), str(tmp_path / "mycache")] * 3


TRAIN = ["train", "--model", "wrn28_1/gc:2", "--task", "kmnist", "--data", "standin", "--limit", "48",
         "--image-size", "16", "--batch-size", "8", "--epochs", "2", "--progress", "none"]


@pytest.mark.parametrize("setting", ["GCONV_RESULTS", "GCONV_CACHE"])
def test_an_unwritable_store_or_cache_is_one_line_before_training(tmp_path, monkeypatch, capsys, setting):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(setting, str(blocker / "sub"))
    trained = []
    monkeypatch.setattr("gconvlib.train.loop.Loop.train_epoch", lambda *a, **k: trained.append(1))
    assert main(TRAIN) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"gconv: error: {blocker / 'sub'}") and f"{setting}={blocker / 'sub'}" in line
    assert "writable folder" in line
    assert trained == [], "it fails before any training time is spent"
    log = Path(line.rsplit("traceback in ", 1)[1].rstrip(")"))
    assert "Traceback" in log.read_text()
    log.unlink()


# -- concurrent runs -------------------------------------------------------------------------------

def test_two_runs_of_one_notebook_never_swap_files(tmp_path, monkeypatch, capsys):
    """Run B starts and finishes while run A is still executing the same notebook: each writes its
    own temporary notebook, each moves only its own complete notebook into place."""
    _notebooks(tmp_path, monkeypatch, names=("vgg_complexity",))
    calls = []

    def second_run_meanwhile(output, parameters):
        if len(calls) == 1:
            assert pipeline.run_notebooks("quick", force=True) == 0
            nb = nbformat.read(output, as_version=4)
            nb.cells.append(nbformat.v4.new_markdown_cell("written by the first run"))
            nbformat.write(nb, output)

    _fake_papermill(monkeypatch, calls, {"vgg_complexity": second_run_meanwhile})
    assert pipeline.run_notebooks("quick", force=True) == 0
    (first, tmp_a), (second, tmp_b) = calls
    assert tmp_a != tmp_b and tmp_a.parent == tmp_b.parent
    raw_dir = tmp_path / "book" / "_generated" / "_papermill"
    final = nbformat.read(raw_dir / "vgg_complexity.ipynb", as_version=4)
    assert final.cells[-1].source == "written by the first run", "the run that finished last is in place, whole"
    assert sorted(p.name for p in raw_dir.iterdir()) == ["vgg_complexity.ipynb"], "no temporary file left"


# -- interrupts ------------------------------------------------------------------------------------

def test_ctrl_c_in_training_checkpoints_and_resumes_to_the_same_result(tmp_path, monkeypatch, capsys):
    from gconvlib import train as T
    from gconvlib.train import progress

    spec = T.TrainSpec(model="wrn28_1/gc:2", task="kmnist", data_mode="standin", image_size=16, limit=48,
                       batch_size=8, epochs=2)
    whole = T.train(spec, ResultsStore(tmp_path / "uninterrupted"), progress="none")["result"]

    steps = []
    real_step = progress.RunBar.step

    def ctrl_c_at_step_9(self, images, running_loss):   # epoch 2, step 3 (6 steps per epoch)
        real_step(self, images, running_loss)
        steps.append(images)
        if len(steps) == 9:
            os.kill(os.getpid(), signal.SIGINT)          # a real SIGINT, as from the terminal

    monkeypatch.setattr(progress.RunBar, "step", ctrl_c_at_step_9)
    handler = signal.getsignal(signal.SIGINT)
    capsys.readouterr()
    assert main(TRAIN) == 130
    line = one_line(capsys.readouterr().err)
    assert line.startswith("gconv: interrupted at epoch 2, step 3; run the same command to resume")
    assert len(steps) == 9, "it stopped at the next step boundary"
    assert ResultsStore().records(T.KIND) == [], "an interrupted run is not a result"
    assert signal.getsignal(signal.SIGINT) is handler, "Ctrl-C is Ctrl-C again"

    monkeypatch.setattr(progress.RunBar, "step", real_step)
    assert main(TRAIN + ["--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith("resumed from epoch 2, step 3 ")
    resumed = json.loads(captured.out)
    assert resumed["curves"] == whole["curves"], "bit-identical to the run that was never interrupted"
    assert resumed["test"] == whole["test"]
    assert resumed["timing"]["resumed_from_epoch"] == 1


def test_ctrl_c_during_a_notebook_keeps_what_finished(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch)
    calls = []
    _fake_papermill(monkeypatch, calls)
    assert pipeline.run_notebooks("quick") == 0
    raw_dir = tmp_path / "book" / "_generated" / "_papermill"
    good = (raw_dir / "vgg_latency.ipynb").read_text()
    capsys.readouterr()

    def ctrl_c(output, parameters):
        raise KeyboardInterrupt

    calls.clear()
    _fake_papermill(monkeypatch, calls, {"vgg_latency": ctrl_c})
    assert pipeline.run_notebooks("quick", force=True) == 130
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert "interrupted while executing 'vgg_latency'" in line and "run the same command" in line
    assert [name for name, _ in calls] == ["vgg_complexity", "vgg_latency"], "nothing after it runs"
    assert (raw_dir / "vgg_latency.ipynb").read_text() == good, "the last good notebook is kept"
    assert sorted(p.name for p in raw_dir.iterdir()) == ["index.ipynb", "vgg_complexity.ipynb",
                                                        "vgg_latency.ipynb"], "no temporary file left"
    table = captured.out[captured.out.index("notebook  "):].splitlines()
    assert [row.split()[:2] for row in table[2:5]] == [["vgg_complexity", "executed"],
                                                       ["vgg_latency", "interrupted"], ["index", "not"]]


# -- bad requests ----------------------------------------------------------------------------------

def _profile(notebooks: Path, text: str) -> str:
    (notebooks / "profiles" / "mine.yaml").write_text(text)
    return str(notebooks / "profiles" / "mine.yaml")


BAD_PROFILES = {"profile-yaml": "notebooks:\n  vgg_latency: {a: [1, 2}\n", "profile-shape": "- a\n- b\n",
                "profile-notebook": "notebooks:\n  vgg_latncy: {}\n"}


@pytest.mark.parametrize("case", ["set-yaml", "profile-yaml", "profile-shape", "profile-notebook", "only-empty"])
def test_bad_requests_are_one_line_and_run_nothing(tmp_path, monkeypatch, capsys, case):
    notebooks = _notebooks(tmp_path, monkeypatch)
    calls = []
    _fake_papermill(monkeypatch, calls)
    profile = f"profile file {_profile(notebooks, BAD_PROFILES[case])}" if case in BAD_PROFILES else None
    args, expected = {
        # what make passes for SET="vgg_latency.batch_sizes=[1, 4]": the item is cut at the space
        "set-yaml": (["--set", "vgg_latency.batch_sizes=[1,"],
                     ["override 'vgg_latency.batch_sizes=[1,'", "not valid YAML", "x=[1,4]"]),
        "profile-yaml": (["--profile", "mine"], [profile, "not valid YAML", "line 2"]),
        "profile-shape": (["--profile", "mine"], [profile, "must be a mapping"]),
        "profile-notebook": (["--profile", "mine"], [profile, "'vgg_latncy', which does not exist"]),
        "only-empty": (["--only"], ["--only needs at least one notebook name"]),
    }[case]
    assert main(["notebooks"] + args) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("gconv: error: ") and all(part in line for part in expected), line
    assert calls == [], "nothing ran"


# -- a failing notebook ----------------------------------------------------------------------------

def test_a_failing_notebook_is_recorded_and_the_others_run(tmp_path, monkeypatch, capsys):
    from papermill.exceptions import PapermillExecutionError

    _notebooks(tmp_path, monkeypatch)
    calls = []
    _fake_papermill(monkeypatch, calls)
    assert pipeline.run_notebooks("quick") == 0
    generated = tmp_path / "book" / "_generated"
    good_raw = (generated / "_papermill" / "vgg_complexity.ipynb").read_text()
    capsys.readouterr()

    def divide_by_zero(output, parameters):
        raise PapermillExecutionError(2, 1, "1/0", "ZeroDivisionError", "division by zero", [])

    calls.clear()
    _fake_papermill(monkeypatch, calls, {"vgg_complexity": divide_by_zero})
    assert pipeline.run_notebooks("quick", force=True) == 1
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert "'vgg_complexity' stopped with ZeroDivisionError: division by zero" in line
    assert str(tmp_path / "book" / "_failed" / "vgg_complexity.ipynb") in line
    assert [name for name, _ in calls] == ["vgg_complexity", "vgg_latency", "index"], "the others still run"
    table = captured.out[captured.out.index("notebook  "):].splitlines()
    assert [row.split()[:2] for row in table[2:5]] == [["vgg_complexity", "FAILED"], ["vgg_latency", "executed"],
                                                       ["index", "executed"]]
    assert table[-1].endswith("1 failed")
    summary = pipeline.Summary([("vgg_complexity", pipeline.FAILED, 1.0), ("vgg_latency", "executed", 1.0)])
    rows = summary.table({"vgg_complexity": "8 holds", "vgg_latency": "6 holds"}).splitlines()
    assert rows[2].endswith("as of its last good run: 8 holds") and rows[3].endswith("  6 holds")
    assert (tmp_path / "book" / "_failed" / "vgg_complexity.ipynb").exists()
    assert (generated / "_papermill" / "vgg_complexity.ipynb").read_text() == good_raw, "last good kept"
    page = json.loads((generated / "vgg_complexity.ipynb").read_text())
    note = next(c for c in page["cells"] if c.get("id") == pipeline.FAILURE_CELL_ID)
    assert "failed" in note["source"] and "ZeroDivisionError: division by zero" in note["source"]
    assert str(tmp_path / "book" / "_failed" / "vgg_complexity.ipynb") in note["source"]
    assert "".join(page["cells"][0]["source"]) == "# vgg_complexity", "the chapter's own page is below the note"
    assert pipeline.run._shown(ROOT / "book" / "_failed" / "x.ipynb") == "book/_failed/x.ipynb", "in the repo: relative"
    assert pipeline.check_book_sources() == 0, "the book is built, with the failure on its page"
    assert "vgg_complexity" in one_line(capsys.readouterr().err)

    calls.clear()
    _fake_papermill(monkeypatch, calls)          # fixed: a plain run brings the book back
    assert pipeline.run_notebooks("quick") == 0
    assert [name for name, _ in calls] == ["vgg_complexity", "index"]
    page = json.loads((generated / "vgg_complexity.ipynb").read_text())
    assert all(c.get("id") != pipeline.FAILURE_CELL_ID for c in page["cells"])
    assert not (tmp_path / "book" / "_failed" / "vgg_complexity.ipynb").exists()


def test_a_failed_chapters_verdicts_are_marked_on_the_summary_pages(tmp_path, monkeypatch, capsys):
    from papermill.exceptions import PapermillExecutionError

    from gconvlib.chapters import summary
    from gconvlib.claims import load_claims

    claim = load_claims(chapter="vgg_complexity")[0]
    other = load_claims(chapter="vgg_latency")[0]

    def good_run(output, parameters):   # the chapter's kernel records one judged claim
        row = dict(id=claim.id, paper=claim.paper, where=claim.where, statement=claim.statement,
                   chapter=claim.chapter, printed="", ours="", kind="", paper_check="", verdict="holds",
                   verdict_kind="holds")
        ResultsStore().put("chapter", {"chapter": "vgg_complexity", "profile": parameters["profile"]},
                           {"claims": [row], "parameters": {}})

    def divide_by_zero(output, parameters):
        raise PapermillExecutionError(2, 1, "1/0", "ZeroDivisionError", "division by zero", [])

    def row_html(page: str, cid: str) -> str:
        start = page.index(f"<tr id='{cid}'")
        return page[start:page.index("</tr>", start)]

    _notebooks(tmp_path, monkeypatch)
    calls = []
    _fake_papermill(monkeypatch, calls, {"vgg_complexity": good_run})
    assert pipeline.run_notebooks("quick") == 0
    judged = summary.judged_claims("quick").set_index("id")
    assert judged.loc[claim.id, "verdict"] == "holds" and judged.loc[claim.id, "as_of"] == ""
    assert "as_of" not in summary.chapter_status(judged.reset_index()), "no failure: the landing table as before"

    # the chapter alone is stale and fails: the summary runs again although nothing else executed
    (tmp_path / "book" / "_generated" / "vgg_complexity.stamp").unlink()
    calls.clear()
    _fake_papermill(monkeypatch, calls, {"vgg_complexity": divide_by_zero})
    assert pipeline.run_notebooks("quick") == 1
    assert [name for name, _ in calls] == ["vgg_complexity", "index"]
    capsys.readouterr()
    judged = summary.judged_claims("quick")
    row = judged.set_index("id").loc[claim.id]
    assert row.verdict == "holds", "the last good verdict is still shown..."
    assert row.as_of.startswith("as of its last good run (") and \
        "the quick run of vgg_complexity failed on " in row.as_of and \
        row.as_of.endswith("with ZeroDivisionError: division by zero"), "...and marked as such"
    unrecorded = load_claims(chapter="vgg_complexity")[1]
    assert judged.set_index("id").loc[unrecorded.id, "verdict"] == \
        "not yet reproduced (chapter vgg_complexity failed in the quick profile with ZeroDivisionError: division by zero)"

    page = summary.claims_page_html(judged)                       # the claims page
    assert "class='as-of'" in row_html(page, claim.id) and "as of its last good run" in row_html(page, claim.id)
    assert "as-of" not in row_html(page, other.id), "another chapter's verdict is not marked"
    status = summary.chapter_status(judged).set_index("chapter")   # the landing page
    created = ResultsStore().get("chapter", {"chapter": "vgg_complexity", "profile": "quick"})["provenance"]["created"]
    good = f"{created[:10]} {created[11:16]} UTC"       # when the good run recorded its verdicts
    assert row.as_of.startswith(f"as of its last good run ({good}): ")
    assert status.loc["vgg_complexity", "as_of"] == f"its last good run ({good}); a newer run failed"
    assert status.loc["vgg_latency", "as_of"] == ""
    artifacts = summary.artifact_status(judged)
    marked = artifacts[artifacts.verdicts.str.contains("those of vgg_complexity: as of the last good run")]
    assert len(marked) and all(claim.paper == p for p in marked.paper)
    assert main(["claims", "--profile", "quick", "--chapter", "vgg_complexity"]) == 0   # gconv claims
    assert f"{claim.id}: holds  ({row.as_of})" in capsys.readouterr().out.splitlines()

    # an older failure whose kernel never started left a log instead of a copy: a success removes both
    (tmp_path / "book" / "_failed" / "vgg_complexity.log").write_text("NoSuchKernel: python3\n")
    calls.clear()
    _fake_papermill(monkeypatch, calls, {"vgg_complexity": good_run})   # fixed: the marks go
    assert pipeline.run_notebooks("quick") == 0
    assert not any((tmp_path / "book" / "_failed").iterdir())
    assert [name for name, _ in calls] == ["vgg_complexity", "index"]
    judged = summary.judged_claims("quick")
    assert set(judged.as_of) == {""} and "as_of" not in summary.chapter_status(judged)
    assert "as-of" not in summary.claims_page_html(judged).split("</style>", 1)[1]


def test_a_summary_that_cannot_read_the_verdicts_still_lists_every_notebook(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch)
    _fake_papermill(monkeypatch, [])

    def broken(profile):
        raise ImportError("cannot import name 'x' from 'gconvlib.claims'")

    monkeypatch.setattr(pipeline.run, "claims_by_chapter", broken)
    assert pipeline.run_notebooks("quick") == 0, "the notebooks ran; the summary's extra column is not a failure"
    captured = capsys.readouterr()
    assert "claims column is left out" in one_line(captured.err) and "ImportError" in captured.err
    table = captured.out[captured.out.index("notebook  "):].splitlines()
    assert [row.split()[:2] for row in table[2:5]] == [["vgg_complexity", "executed"], ["vgg_latency", "executed"],
                                                       ["index", "executed"]]


def test_book_failed_folder_is_ignored_by_git():
    out = subprocess.run(["git", "check-ignore", "book/_failed/x.ipynb"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0


# -- the terminal ----------------------------------------------------------------------------------

def test_a_warning_on_a_bar_line_keeps_its_own_line():
    out = io.StringIO()
    relay = pipeline.Relay(out, tty=False)
    warning = "/tmp/ipykernel_1/2.py:7: DamagedRecordWarning: damaged 'chapter' record x.json; moved aside"
    relay.stderr.write("\rrun:   0%|          | 0/40 img [00:00<?, ?img/s]")      # not started yet
    relay.stderr.write(warning + "\n  return self._read(kind, path)\n")
    relay.stderr.write("\rrun: 100%|##########| 40/40 img [00:06<00:00, 6.3img/s]")
    relay.stderr.write(warning.replace("x.json", "y.json") + "\n")                 # glued to a bar
    relay.finish()
    assert out.getvalue().splitlines() == [
        "    " + warning, "      return self._read(kind, path)",
        "    run: 100%|##########| 40/40 img [00:06<00:00, 6.3img/s]",
        "    " + warning.replace("x.json", "y.json")]


# -- data ------------------------------------------------------------------------------------------

def test_offline_real_data_is_one_line_naming_files_and_the_option(tmp_path, capsys):
    args = ["train", "--model", "wrn28_1/gc:2", "--task", "cifar10", "--data", "real", "--limit", "8",
            "--epochs", "1", "--progress", "none"]
    assert main(args) == 1
    line = one_line(capsys.readouterr().err)
    assert "cifar-10-python.tar.gz from https://" in line and str(tmp_path / "cache" / "cifar10") in line
    assert "--data-root" in line
    assert main(args + ["--data-root", str(tmp_path / "elsewhere")]) == 1
    assert str(tmp_path / "elsewhere") in one_line(capsys.readouterr().err), "the option exists and is used"


# -- anything else ---------------------------------------------------------------------------------

def test_an_unexpected_error_is_one_line_with_its_traceback_in_a_log(tmp_path, monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("gconvlib.cli.cmd_count", broken)
    assert main(["count", "wrn28_10/gc:2"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("gconv: error: RuntimeError: boom (traceback in ")
    log = Path(line.rsplit("traceback in ", 1)[1].rstrip(")"))
    assert log.parent == tmp_path / "cache" / "logs" and "in broken" in log.read_text()
    monkeypatch.setenv("GCONV_DEBUG", "1")
    assert main(["count", "wrn28_10/gc:2"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in broken" in err and err.strip().endswith("(traceback above (GCONV_DEBUG=1))")


def test_the_training_before_the_notebooks_gets_only_those_that_run_and_its_failure_stops_none(
        tmp_path, monkeypatch, capsys):
    # gconv notebooks trains the missing runs before the notebooks (pipeline.run_notebooks(before=))
    _notebooks(tmp_path, monkeypatch)
    calls, asked = [], []
    _fake_papermill(monkeypatch, calls)
    assert pipeline.run_notebooks("quick", before=lambda names: asked.append(names) or 0) == 0
    assert asked == [["vgg_complexity", "vgg_latency", "index"]]
    assert "of training before them" not in capsys.readouterr().out, "it trained nothing: the summary says nothing"

    asked.clear()
    assert pipeline.run_notebooks("quick", before=lambda names: asked.append(names) or 3) == 0
    assert asked == [[]], "every notebook is up to date: none of them needs a run trained"
    assert "of training before them" in capsys.readouterr().out

    def broken(names):
        raise ValueError("a chapter's plan_specs failed")

    calls.clear()
    assert pipeline.run_notebooks("quick", force=True, before=broken) == 0
    assert [name for name, _ in calls] == ["vgg_complexity", "vgg_latency", "index"], "the notebooks still ran"
    err = capsys.readouterr().err
    assert "training the runs before the notebooks failed (ValueError: a chapter's plan_specs failed); " \
           "each notebook trains its own runs instead" in err
