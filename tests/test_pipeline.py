"""The notebook pipeline's own rules, on tiny synthetic notebooks: what the book shows of an
executed notebook, when a notebook counts as up to date, what the terminal shows, and how
`make test` finds a browser. CPU only, offline; the one test that starts real kernels takes
seconds."""
import ast
import importlib.util
import io
import json
import os
import shutil
import stat
import textwrap
from pathlib import Path

import nbformat
import pytest

from gconvlib import pipeline

ROOT = Path(__file__).resolve().parents[1]


def _notebook(*cells, kernel=True):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    if kernel:
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _stream(name, text):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _executed():
    """What papermill leaves: parameters, injected parameters, code with stdout/stderr/display."""
    code = nbformat.v4.new_code_cell("print('hello')\nrun()", outputs=[
        _stream("stdout", "hello\n"),
        _stream("stderr", "/x.py:1: StandInWarning: no CIFAR on disk -> using the stand-in\n"),
        _stream("stderr", "\rsweep:  50%|#####     | 1/2\rsweep: 100%|##########| 2/2\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>"}),
    ])
    long = nbformat.v4.new_code_cell("train()", outputs=[
        _stream("stdout", "".join(f"[wrn28 GC g=2 cifar10] epoch {i}/15\n" for i in range(1, 16)))])
    hidden = nbformat.v4.new_code_cell("report.footer()", metadata={"tags": ["remove-input"]},
                                       outputs=[_stream("stdout", "footer\n")])
    return _notebook(
        nbformat.v4.new_markdown_cell("# A chapter\n\nWhat it reproduces."),
        nbformat.v4.new_code_cell('profile = "quick"\nepochs = 15', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\nepochs = 1\n',
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_markdown_cell("## Results"),
        code, long, hidden)


# -- what the book shows ---------------------------------------------------------------------

def test_postprocess_folds_code_removes_parameter_cells_and_stderr_and_adds_one_table():
    raw = _executed()
    before = json.dumps(raw, sort_keys=True)
    table = pipeline.parameter_table([("profile", "'smoke'", "the run", ""),
                                      ("epochs", "1", "profile smoke", "paper: 200")], "smoke", [])
    nb = pipeline.postprocess(raw, table, record="papermill's record")
    assert json.dumps(raw, sort_keys=True) == before, "the executed notebook itself is not changed"

    cells = nb["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    # the table comes right after the first markdown cell, once
    assert cells[1]["cell_type"] == "markdown" and "gconv-parameters" in tags[1]
    assert sum("gconv-parameters" in t for t in tags) == 1
    assert ":class: gconv-parameters" in cells[1]["source"] and "| `epochs` | `1` |" in cells[1]["source"]
    # parameter cells removed from the page, the rest folded unless already removed/hidden
    by_source = {c["source"].splitlines()[0] if c["source"] else "": c for c in cells}
    assert "remove-cell" in by_source['profile = "quick"']["metadata"]["tags"]
    assert "remove-cell" in by_source["# Parameters"]["metadata"]["tags"]
    assert by_source["print('hello')"]["metadata"]["tags"] == ["hide-input"]
    assert by_source["train()"]["metadata"]["tags"] == ["hide-input"]
    assert by_source["report.footer()"]["metadata"]["tags"] == ["remove-input"]
    # no stderr; short stdout kept; long stdout cut to its last lines under a note
    outputs = [o for c in cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    printed = by_source["print('hello')"]["outputs"]
    assert [o["output_type"] for o in printed] == ["stream", "display_data"] and printed[0]["text"] == "hello\n"
    long = by_source["train()"]["outputs"][0]["text"].splitlines()
    assert len(long) == pipeline.MAX_STREAM_LINES
    assert long[0].startswith("[... 10 earlier lines not shown") and "papermill's record" in long[0]
    assert long[-1] == "[wrn28 GC g=2 cifar10] epoch 15/15"
    for o in outputs:
        if o["output_type"] == "stream":
            assert len(o["text"].splitlines()) <= pipeline.MAX_STREAM_LINES
    # post-processing its own output again changes nothing (one table, same tags)
    assert pipeline.postprocess(nb, table) == nb
    nbformat.validate(nbformat.from_dict(nb))


def test_progress_redraws_in_stdout_keep_their_last_state():
    nb = _notebook(nbformat.v4.new_code_cell("x", outputs=[_stream("stdout", "a\rb\rc\nnext\n")]))
    out = pipeline.postprocess(nb)["cells"][0]["outputs"][0]["text"]
    assert out == "c\nnext\n"


def test_parameter_table_escapes_and_names_profile_and_overrides():
    md = pipeline.parameter_table([("pattern", "'a|b'", "override", "x | y"), ("tick", "'`'", "default", "")],
                                  "quick", ["vgg_complexity.num_classes=10"])
    assert md.startswith("**Parameters of this run**: profile `quick`, overrides: "
                         "`vgg_complexity.num_classes=10`\n\n:::{table}\n:class: gconv-parameters\n")
    assert "| `pattern` | `'a\\|b'` | override | x \\| y |" in md
    assert "`` '`' ``" in md
    assert md.rstrip().endswith(":::")


def test_parameter_rows_say_where_each_value_came_from():
    profile = pipeline.load_profile("quick")
    params, sources = pipeline.parameter_sources("vgg_complexity", "quick", profile,
                                                  pipeline.parse_overrides(["vgg_complexity.num_classes=10"]))
    rows = {name: (value, source) for name, value, source, _note in
            pipeline.parameter_rows("vgg_complexity", params, sources)}
    assert rows["profile"] == ("'quick'", "the run")
    assert rows["num_classes"] == ("10", "override")
    assert rows["model_name"] == ("'vgg13_bn'", "default")


# -- the default profile is the notebooks' own defaults ------------------------------------------

def _defaults(name):
    declared = pipeline.declared_parameters(name)
    return {key: ast.literal_eval(info["default"]) for key, info in declared.items()}


@pytest.mark.parametrize("name", pipeline.available_notebooks())
def test_notebook_defaults_are_the_default_profiles_values(name):
    """`make lab` opens the notebooks as they are: their parameters cells must hold what the
    default profile (quick.yaml) would inject, so both run the same computation (and reuse the
    same stored results)."""
    quick = pipeline.load_profile("quick")
    defaults = _defaults(name)
    assert defaults.get("profile", "quick") == "quick", f"{name}: profile default is not 'quick'"
    injected = pipeline.notebook_parameters(name, "quick", quick, {})
    differ = {key for key, value in injected.items() if defaults.get(key) != value}
    assert not differ, {key: (defaults.get(key), injected[key]) for key in differ}


# -- stamps -----------------------------------------------------------------------------------

@pytest.fixture
def tiny_package(tmp_path, monkeypatch):
    """A package of four modules (a -> b; c, d unrelated) and a notebook that imports a."""
    name = "gconvstampdemo"
    pkg = tmp_path / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\nA = b.B + 1\n")
    (pkg / "b.py").write_text("B = 1\n")
    (pkg / "c.py").write_text("C = 3\n")
    (pkg / "d.py").write_text("from .c import C\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    importlib.invalidate_caches()
    monkeypatch.setattr(pipeline.stamps, "PACKAGE", name)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = _notebook(nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
                   nbformat.v4.new_code_cell(f"%matplotlib inline\nfrom {name} import a\nprint(a.A)"))
    nbformat.write(nb, notebooks / "vgg_complexity.ipynb")
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(notebooks))
    return pkg


def test_notebook_imports_are_read_from_its_code_cells(tiny_package):
    path = Path(os.environ["GCONV_NOTEBOOK_DIR"]) / "vgg_complexity.ipynb"
    assert pipeline.notebook_imports(path) == ["gconvstampdemo", "gconvstampdemo.a"]


def test_stamp_changes_with_what_the_notebook_uses_and_only_that(tiny_package):
    stamp = lambda params={"profile": "quick"}: pipeline.stamp_for("vgg_complexity", params, data="d0")  # noqa: E731
    first = stamp()
    assert stamp() == first
    (tiny_package / "c.py").write_text("C = 4  # unrelated module\n")
    (tiny_package / "d.py").write_text("from .c import C\nD = 5\n")
    assert stamp() == first, "editing modules the notebook does not use re-executes nothing"
    (tiny_package / "b.py").write_text("B = 2  # imported by a, which the notebook imports\n")
    second = stamp()
    assert second != first, "a module imported transitively changed"
    assert stamp({"profile": "quick", "x": 1}) != second, "parameters are part of the stamp"
    assert pipeline.stamp_for("vgg_complexity", {"profile": "quick"}, data="d1") != second, "so is the data"
    inputs = pipeline.stamp_inputs("vgg_complexity", {"profile": "quick"}, data="d0")
    assert inputs["modules"] == ["gconvstampdemo", "gconvstampdemo.a", "gconvstampdemo.b"]


def test_stamp_ignores_saved_outputs_but_not_the_code(tiny_package):
    path = Path(os.environ["GCONV_NOTEBOOK_DIR"]) / "vgg_complexity.ipynb"
    first = pipeline.stamp_for("vgg_complexity", {}, data="d")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [_stream("stdout", "2\n")]
    nb.cells[1].execution_count = 7
    nbformat.write(nb, path)
    assert pipeline.stamp_for("vgg_complexity", {}, data="d") == first, "run and saved in JupyterLab"
    nb.cells[1].source += "\nprint(a.A + 1)"
    nbformat.write(nb, path)
    assert pipeline.stamp_for("vgg_complexity", {}, data="d") != first


def test_data_hash_covers_paper_values_and_reference_results(tmp_path):
    (tmp_path / "data" / "paper").mkdir(parents=True)
    (tmp_path / "data" / "paper" / "values.csv").write_text("a,b\n")
    first = pipeline.data_hash(tmp_path)
    ref = tmp_path / "data" / "results" / "reference" / "gpu"
    ref.mkdir(parents=True)
    (ref / "x.csv").write_text("1\n")
    second = pipeline.data_hash(tmp_path)
    assert second != first
    (tmp_path / "data" / "results" / "local").mkdir(parents=True)
    (tmp_path / "data" / "results" / "local" / "r.json").write_text("{}")
    assert pipeline.data_hash(tmp_path) == second, "what this machine computed is not committed data"


def test_every_real_notebook_has_a_stamp():
    """Every notebook's imports parse and resolve to modules with source (else a stale book)."""
    import importlib.util

    for name in pipeline.available_notebooks():
        inputs = pipeline.stamp_inputs(name, {"profile": "quick"}, data="d")
        # the module the notebook's code calls (summary for the two summary pages) is in its stamp ...
        page = f"gconvlib.chapters.{name if name not in ('claims', 'index') else 'summary'}"
        assert page in inputs["modules"], name
        # ... and every module of the stamp is a source file of gconvlib
        for module in inputs["modules"]:
            origin = importlib.util.find_spec(module).origin
            assert module.startswith("gconvlib") and origin.endswith(".py"), (name, module, origin)


# -- the terminal ------------------------------------------------------------------------------

class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_relay_in_a_log_shows_a_bar_when_it_ends_and_now_and_then():
    out, clock = io.StringIO(), _Clock()
    relay = pipeline.Relay(out, tty=False, every_s=10, clock=clock)
    relay.stdout.write("[wrn28] epoch 1/2\n")
    for i in range(101):
        clock.t = i * 0.25                # 25 s of redraws, 4 per second
        relay.stderr.write(f"\rtrain: {i:3d}%")
    relay.stderr.write("\n")
    relay.stdout.write("done")
    relay.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "    [wrn28] epoch 1/2"
    bars = [line for line in lines if "train:" in line]
    assert 2 <= len(bars) <= 4 and bars[-1] == "    train: 100%"
    assert lines[-1] == "    done"
    assert "\r" not in out.getvalue()


def test_relay_in_a_log_keeps_the_final_states_of_nested_bars():
    """An outer bar over runs and an inner bar per run (tqdm position=1, leave=False), as
    gconvlib.train reports them: the log gets each run's last state and the outer bar's steps,
    no cursor escapes, no blank lines, no not-yet-started bars."""
    out = io.StringIO()
    relay = pipeline.Relay(out, tty=False)
    for run in (1, 2):
        relay.stderr.write("\n")
        relay.stderr.write(f"\rrun {run}:   0%|          | 0/40 img [00:00<?, ?img/s]")
        relay.stderr.write("\x1b[A")
        relay.stderr.write("\n")
        relay.stderr.write(f"\rrun {run}: 100%|##########| 40/40 img [00:06<00:00, 6.3img/s, loss 2.3]")
        relay.stderr.write("\x1b[A")
        relay.stderr.write("\n")
        relay.stderr.write("\r" + " " * 60)
        relay.stderr.write("\x1b[A")
        relay.stderr.write(f"\rruns {run}/2 |#####     | [00:09<00:09]")
    relay.stderr.write("\n")
    relay.finish()
    assert out.getvalue().splitlines() == [
        "    run 1: 100%|##########| 40/40 img [00:06<00:00, 6.3img/s, loss 2.3]",
        "    runs 1/2 |#####     | [00:09<00:09]",
        "    run 2: 100%|##########| 40/40 img [00:06<00:00, 6.3img/s, loss 2.3]",
        "    runs 2/2 |#####     | [00:09<00:09]"]


def test_relay_on_a_terminal_redraws_in_place_and_keeps_lines_apart():
    out = io.StringIO()
    relay = pipeline.Relay(out, tty=True)
    relay.stderr.write("\rbar  10%")
    relay.stderr.write("\rbar  20%")
    relay.stdout.write("a line\n")      # ends the half-drawn bar line first
    relay.stderr.write("\rbar  30%")
    relay.stdout.write("another line\n")
    relay.stderr.write("\n")              # the bar's own end, after the line that ended it
    relay.stdout.write("last\n")
    relay.finish()
    assert out.getvalue() == ("\r    bar  10%\r    bar  20%\n    a line\n\r    bar  30%\n"
                              "    another line\n    last\n")


def test_kernel_setup_sizes_every_bar_to_the_relays_width():
    """tqdm would measure the kernel's terminal (too wide once indented; 0x0 on some CI ptys)."""
    import subprocess
    import sys

    code = pipeline.KERNEL_SETUP.format(ncols=57) + textwrap.dedent("""
        import sys
        from tqdm.auto import tqdm
        for kwargs in ({}, {"dynamic_ncols": True}):
            bar = tqdm(range(2), file=sys.stderr, **kwargs)
            print(bar.ncols, bar.nrows)
            bar.close()
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["57", "50", "57", "50"]


def test_summary_lists_executed_and_up_to_date_notebooks():
    summary = pipeline.Summary()
    summary.add("vgg_complexity", "executed", 75.2)
    summary.add("vgg_latency", "up to date")
    summary.add("index", "executed", 3.04)
    text = summary.table()
    lines = text.splitlines()
    assert lines[0].split() == ["notebook", "status", "time"]
    assert lines[2].split() == ["vgg_complexity", "executed", "1", "min", "15", "s"]
    assert lines[3].split() == ["vgg_latency", "up", "to", "date", "-"]
    assert lines[-1] == "2 executed in 1 min 18 s, 1 up to date"
    with_claims = summary.table({"vgg_latency": "2 holds, 1 not yet reproduced"}).splitlines()
    assert with_claims[0].split() == ["notebook", "status", "time", "claims"]
    assert with_claims[3].split() == ["vgg_latency", "up", "to", "date", "-", "2", "holds,", "1", "not", "yet",
                                      "reproduced"]
    assert with_claims[2].split() == ["vgg_complexity", "executed", "1", "min", "15", "s"]


def test_summary_claims_column_counts_the_verdicts_recorded_in_the_store(tmp_path, monkeypatch):
    """A chapter record with two claims judged (one holds, one does not hold) shows as such; a chapter
    not run shows all its registered claims as not yet reproduced."""
    from gconvlib.chapters._base import ChapterResult
    from gconvlib.claims import load_claims
    from gconvlib.store import ResultsStore

    store = ResultsStore(tmp_path)
    monkeypatch.setattr("gconvlib.chapters.summary.ResultsStore", lambda: store)
    claims = load_claims(chapter="vgg_complexity")[:2]
    r = ChapterResult("vgg_complexity", "smoke", {})
    import pandas as pd
    r.claims = pd.DataFrame([dict(id=c.id, paper=c.paper, where=c.where, statement=c.statement, chapter=c.chapter,
                                  printed="", ours="", kind="exact", paper_check="", verdict=v, verdict_kind=v)
                             for c, v in zip(claims, ("holds", "does not hold"))])
    r.record(store)
    text = pipeline.claims_by_chapter("smoke")
    rest = len(load_claims(chapter="vgg_complexity")) - 2   # registered but not in the record
    assert text["vgg_complexity"] == "1 holds, 1 does not hold" + (f", {rest} not yet reproduced" if rest else "")
    n_latency = len(load_claims(chapter="vgg_latency"))
    assert text["vgg_latency"] == f"{n_latency} not yet reproduced"


def _fake_papermill(monkeypatch, calls):
    """papermill.execute_notebook without a kernel: the output is the input with its parameters."""
    import papermill

    def execute(source, output, parameters=None, stdout_file=None, stderr_file=None, **kwargs):
        calls.append(Path(source).stem)
        nb = nbformat.read(source, as_version=4)
        nb.metadata["papermill"] = {"parameters": parameters}
        stdout_file.write(f"ran {Path(source).stem}\n")
        stderr_file.write("\rbar 50%\rbar 100%\n")
        nbformat.write(nb, output)

    monkeypatch.setattr(papermill, "execute_notebook", execute)


def _two_notebooks(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks" / "profiles", notebooks / "profiles")
    for name in ("vgg_complexity", "index"):
        nbformat.write(_notebook(nbformat.v4.new_markdown_cell(f"# {name}"),
                                 nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
                                 nbformat.v4.new_code_cell("import gconvlib.paper")),
                       notebooks / f"{name}.ipynb")
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(notebooks))
    monkeypatch.setenv("GCONV_BOOK_DIR", str(tmp_path / "book"))
    return notebooks


def test_run_skips_up_to_date_notebooks_and_index_follows_the_others(tmp_path, monkeypatch, capsys):
    notebooks = _two_notebooks(tmp_path, monkeypatch)
    calls = []
    _fake_papermill(monkeypatch, calls)
    assert pipeline.run_notebooks("quick") == 0
    out = capsys.readouterr().out
    assert calls == ["vgg_complexity", "index"]
    assert "    ran vgg_complexity" in out and "    bar 100%" in out
    assert "vgg_complexity  executed" in out and "2 executed in" in out
    generated = tmp_path / "book" / "_generated"
    assert (generated / "_papermill" / "vgg_complexity.ipynb").exists()
    book_copy = json.loads((generated / "vgg_complexity.ipynb").read_text())
    assert book_copy["cells"][1]["id"] == pipeline.PARAMETER_CELL_ID
    assert stat.S_IMODE((generated / "vgg_complexity.ipynb").stat().st_mode) & 0o044, "readable by others"

    calls.clear()
    mtimes = {p: p.stat().st_mtime_ns for p in generated.glob("*.ipynb")}
    assert pipeline.run_notebooks("quick") == 0
    out = capsys.readouterr().out
    assert calls == [] and out.count("up to date, skipped") == 2
    assert "0 executed in 0.0 s, 2 up to date" in out
    assert {p: p.stat().st_mtime_ns for p in generated.glob("*.ipynb")} == mtimes

    nb = nbformat.read(notebooks / "vgg_complexity.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nbformat.write(nb, notebooks / "vgg_complexity.ipynb")
    assert pipeline.run_notebooks("quick") == 0
    assert calls == ["vgg_complexity", "index"], "the landing page runs again after any other notebook"
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["vgg_complexity", "executed"] for line in lines)
    assert any(line.split()[:2] == ["index", "executed"] for line in lines)


def test_real_kernel_progress_reaches_the_terminal_not_the_book(tmp_path, monkeypatch, capfd):
    """One real papermill run: tqdm (text bars, even with ipywidgets installed) and warnings
    reach the terminal; the kernel's TCP-encryption warning does not; the book keeps neither."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks" / "profiles", notebooks / "profiles")
    code = textwrap.dedent("""\
        import warnings
        from tqdm.auto import tqdm
        for _ in tqdm(range(3), desc="sweep"):
            pass
        warnings.warn("a stand-in warning")
        print("bar kind:", tqdm.__mro__[1].__module__)""")
    nbformat.write(_notebook(nbformat.v4.new_markdown_cell("# t"),
                             nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
                             nbformat.v4.new_code_cell(code)), notebooks / "vgg_complexity.ipynb")
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(notebooks))
    monkeypatch.setenv("GCONV_BOOK_DIR", str(tmp_path / "book"))
    assert pipeline.run_notebooks("quick") == 0
    captured = capfd.readouterr()
    terminal = captured.out + captured.err
    assert "sweep: 100%" in terminal and "a stand-in warning" in terminal
    assert "bar kind: tqdm.asyncio" in terminal, "tqdm.auto is tqdm's text bar in the pipeline's kernels"
    assert "without encryption" not in terminal
    assert "IProgress" not in terminal
    book_copy = json.loads((tmp_path / "book" / "_generated" / "vgg_complexity.ipynb").read_text())
    shown = json.dumps([c.get("outputs", []) for c in book_copy["cells"]])
    assert "sweep" not in shown and "stand-in warning" not in shown
    assert "bar kind: tqdm.asyncio" in shown
    record = (tmp_path / "book" / "_generated" / "_papermill" / "vgg_complexity.ipynb").read_text()
    assert "sweep: 100%" in record, "papermill's record keeps everything"


# -- the browser for the book test ---------------------------------------------------------------

def _chromium_module():
    spec = importlib.util.spec_from_file_location("gconv_tools_chromium", ROOT / "tests" / "chromium.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(path, text):
    path.write_text(f"#!/bin/sh\n{text}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_browsers(monkeypatch):
    chromium = _chromium_module()
    monkeypatch.setattr(chromium, "NAMES", ("gconv-no-such-browser",))
    monkeypatch.setattr(chromium, "APP_PATHS", ())
    monkeypatch.setattr(chromium, "playwright_chromium", lambda: None)
    monkeypatch.delenv("GCONV_CHROMIUM", raising=False)
    return chromium


def test_browser_given_in_gconv_chromium_is_used(no_browsers, tmp_path, monkeypatch, capsys):
    fake = _script(tmp_path / "chrome", 'echo "Chromium 140.0.1 built on Debian"')
    monkeypatch.setenv("GCONV_CHROMIUM", str(fake))
    assert no_browsers.main([]) == 0
    assert capsys.readouterr().out.strip() == str(fake)


def test_a_browser_on_path_is_found(no_browsers, tmp_path, monkeypatch):
    _script(tmp_path / "google-chrome", 'echo "Google Chrome 140.0"')
    _script(tmp_path / "chromium-browser", 'echo "Command requires the chromium snap" >&2; exit 1')
    monkeypatch.setattr(no_browsers, "NAMES", ("chromium-browser", "google-chrome"))
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert no_browsers.find() == str(tmp_path / "google-chrome"), "the snap stub is not a browser"


def test_no_browser_is_one_line_naming_the_install_command(no_browsers, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GCONV_CHROMIUM_INSTALL", "no")
    assert no_browsers.main(["--install"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "apt-get install chromium" in err and "playwright install chromium" in err
    monkeypatch.setenv("GCONV_CHROMIUM", str(_script(tmp_path / "notabrowser", "echo hello")))
    assert no_browsers.main([]) == 1
    assert "GCONV_CHROMIUM" in capsys.readouterr().err


def test_install_tries_apt_then_playwright_and_uses_what_it_got(no_browsers, tmp_path, monkeypatch):
    tried = []
    fake = _script(tmp_path / "chromium", 'echo "Chromium 140"')

    def apt():
        tried.append("apt")
        return False

    def playwright():
        tried.append("playwright")
        monkeypatch.setattr(no_browsers, "playwright_chromium", lambda: str(fake))
        return True

    monkeypatch.setattr(no_browsers, "install_with_apt", apt)
    monkeypatch.setattr(no_browsers, "install_with_playwright", playwright)
    monkeypatch.delenv("GCONV_CHROMIUM_INSTALL", raising=False)
    assert no_browsers.main(["--install"]) == 0
    assert tried == ["apt", "playwright"]


def test_relay_in_a_log_throttles_a_nested_bars_redraws():
    """A nested bar (position=1) redraws as "\\n", "\\r", text, cursor-up, many times a second:
    in a log its "\\n" is a redraw, so it shows at most once every ``every_s`` and its final
    state once when it is cleared, not one line per redraw."""
    out, clock = io.StringIO(), _Clock()
    relay = pipeline.Relay(out, tty=False, every_s=10, clock=clock)
    for i in range(1, 101):                       # 25 s of redraws, 4 per second
        clock.t = i * 0.25
        relay.stderr.write(f"\n\rrun 1: {i:3d}%|#| {i}/100 img [00:01<00:01, 6img/s]\x1b[A")
    relay.stderr.write("\n\r" + " " * 40 + "\x1b[A")   # leave=False clears it
    relay.stderr.write("\rruns 1/1 |##########| [00:25<00:00]\n")
    relay.finish()
    lines = out.getvalue().splitlines()
    runs = [line for line in lines if line.startswith("    run 1:")]
    assert 2 <= len(runs) <= 4, lines
    assert runs[-1].startswith("    run 1: 100%")
    assert lines[-1] == "    runs 1/1 |##########| [00:25<00:00]"
