"""End to end: papermill runs every notebook (smoke profile), the book builds offline, and a
real headless browser opens every page, finds tables and figures, and sees no failed or
remote resource loads."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gconvlib import pipeline

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    work = tmp_path_factory.mktemp("book")
    book = work / "book"
    book.mkdir()
    for name in ("_config.yml", "_toc.yml", "methods.md"):
        shutil.copy(ROOT / "book" / name, book / name)
    mathjax = ROOT / "book" / "_mathjax"
    assert (mathjax / "mathjax" / "tex-chtml.js").exists(), \
        "book/_mathjax/mathjax is missing: `make test` fetches MathJax (npm mathjax@3) first"
    shutil.copytree(mathjax, book / "_mathjax")
    env = {"GCONV_BOOK_DIR": str(book)}  # results: the session's store (conftest)
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    try:
        assert pipeline.run_notebooks("smoke") == 0
        log = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(book),
                              "--warningiserror", "--keep-going", "--quiet"],
                             capture_output=True, text=True, timeout=600)
        assert log.returncode == 0, log.stdout[-3000:] + log.stderr[-3000:]
        yield book
    finally:
        mp.undo()


def test_every_notebook_ran_without_errors_and_records_papermill_parameters(built_book):
    for name in pipeline.available_notebooks():
        nb = json.loads((built_book / "_generated" / f"{name}.ipynb").read_text())
        assert nb["metadata"]["papermill"]["parameters"]["profile"] == "smoke"
        assert not pipeline.has_error_output(built_book / "_generated" / f"{name}.ipynb")
        tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
        assert ["injected-parameters"] in tags


def test_toc_lists_every_notebook(built_book):
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for name in pipeline.available_notebooks():
        assert f"_generated/{name}" in toc


def test_rerun_with_nothing_changed_redoes_nothing(built_book, monkeypatch, capsys):
    monkeypatch.setenv("GCONV_BOOK_DIR", str(built_book))
    before = {p.name: p.stat().st_mtime_ns for p in (built_book / "_generated").glob("*.ipynb")}
    assert pipeline.run_notebooks("smoke") == 0
    after = {p.name: p.stat().st_mtime_ns for p in (built_book / "_generated").glob("*.ipynb")}
    assert before == after
    assert capsys.readouterr().out.count("up to date, skipped") == len(before)


def test_browser_opens_every_page_without_failed_or_remote_loads(built_book):
    from playwright.sync_api import sync_playwright

    html = built_book / "_build" / "html"
    pages = ["methods.html"] + [f"_generated/{n}.html" for n in pipeline.available_notebooks()]
    problems, seen = [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        page.on("request", lambda r: r.url.startswith(("file:", "data:", "blob:", "about:"))
                or problems.append(f"remote: {r.url}"))
        # the book's root index.html is a redirect to the landing page: follow it
        page.goto((html / "index.html").as_uri())
        page.wait_for_url("**/_generated/index.html")
        landing_title = page.title()
        for rel in pages:
            page.goto((html / rel).as_uri())
            page.wait_for_load_state("load")
            seen[rel] = dict(
                title=page.title(),
                tables=page.locator("table").count(),
                images=page.evaluate("Array.from(document.images).filter(i => i.src.includes('_images'))"
                                     ".map(i => i.complete && i.naturalWidth > 0)"),
                math=page.locator("mjx-container").count())
        browser.close()
    assert problems == []
    assert "Grouped convolution, reproduced" in landing_title
    for rel, info in seen.items():
        if rel.startswith("_generated/") and "index" not in rel:
            assert info["tables"] >= 2, (rel, info)
            assert info["images"] and all(info["images"]), (rel, info)
    assert seen["methods.html"]["math"] > 0, "MathJax (local copy) rendered no formula"
    assert seen["_generated/index.html"]["tables"] >= 2  # value kinds + reproduction status


def test_failing_notebook_is_named_and_kept_out_of_the_book(tmp_path, monkeypatch, capsys):
    import nbformat

    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks" / "profiles", notebooks / "profiles")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebooks / "vgg_complexity.ipynb")
    monkeypatch.setenv("GCONV_NOTEBOOK_DIR", str(notebooks))
    monkeypatch.setenv("GCONV_BOOK_DIR", str(tmp_path / "book"))
    assert pipeline.run_notebooks("quick") == 1
    err = capsys.readouterr().err
    assert "notebook 'vgg_complexity'" in err and "boom" in err
    assert not (tmp_path / "book" / "_generated" / "vgg_complexity.ipynb").exists()
    assert (tmp_path / "book" / "_failed" / "vgg_complexity.ipynb").exists()
    assert pipeline.check_book_sources() == 1


def test_overrides_are_checked_against_declared_parameters():
    with pytest.raises(pipeline.PipelineError, match="has no parameter 'nope'"):
        pipeline.notebook_parameters("vgg_complexity", "quick", pipeline.load_profile("quick"),
                                     pipeline.parse_overrides(["vgg_complexity.nope=1"]))
    params = pipeline.notebook_parameters("vgg_complexity", "quick", pipeline.load_profile("quick"),
                                          pipeline.parse_overrides(["vgg_complexity.num_classes=10"]))
    assert params == {"profile": "quick", "num_classes": 10}
    with pytest.raises(pipeline.PipelineError, match="NOTEBOOK.PARAMETER=VALUE"):
        pipeline.parse_overrides(["num_classes=10"])
    with pytest.raises(pipeline.PipelineError, match="unknown profile 'fast'"):
        pipeline.load_profile("fast")
