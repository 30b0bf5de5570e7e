"""End to end: papermill runs every notebook (smoke profile), the book builds offline, and a
real headless browser opens every page, finds tables and figures, sees no failed or remote
resource loads, and sees what a reader should: the parameters as one table, code folded, no
parameter cells, no long or stderr outputs, no warnings, nothing wider than the page."""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gconvlib import pipeline

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
VIEWPORT = {"width": 1280, "height": 900}   # a laptop's browser window


def chromium_path() -> str:
    """The browser `make test` found or installed (GCONV_CHROMIUM), else whatever tests/chromium.py
    finds now. No browser is a failure that says how to get one, never a skip."""
    spec = importlib.util.spec_from_file_location("gconv_tools_chromium", ROOT / "tests" / "chromium.py")
    chromium = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chromium)
    try:
        path = chromium.find()
    except chromium.NotUsable as e:
        pytest.fail(str(e))
    if path is None:
        pytest.fail(f"{chromium.HOW_TO_INSTALL} (or run `make test`, which installs one)")
    return path


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    work = tmp_path_factory.mktemp("book")
    book = work / "book"
    book.mkdir()
    for name in ("_config.yml", "_toc.yml", "methods.md"):
        shutil.copy(ROOT / "book" / name, book / name)
    shutil.copytree(ROOT / "book" / "_assets", book / "_assets")
    mathjax = ROOT / "book" / "_mathjax"
    assert (mathjax / "mathjax" / "tex-chtml.js").exists(), \
        "book/_mathjax/mathjax is missing: `make test` fetches MathJax (npm mathjax@3) first"
    shutil.copytree(mathjax, book / "_mathjax")
    env = {"GCONV_BOOK_DIR": str(book)}  # results: the session's store (conftest)
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    try:
        assert pipeline.run_notebooks("smoke") == 0, "a notebook failed: its name and error are in stderr"
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
        assert ["injected-parameters", "remove-cell"] in tags
        raw = json.loads((built_book / "_generated" / "_papermill" / f"{name}.ipynb").read_text())
        assert raw["metadata"]["papermill"]["parameters"]["profile"] == "smoke", "papermill's record is kept"


def test_toc_lists_every_notebook(built_book):
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for name in pipeline.available_notebooks():
        assert f"_generated/{name}" in toc


def test_rerun_with_nothing_changed_redoes_nothing(built_book, session_store, monkeypatch, capsys):
    monkeypatch.setenv("GCONV_BOOK_DIR", str(built_book))
    # the store the book was built with: a notebook is up to date only while its records read back
    monkeypatch.setenv("GCONV_RESULTS", str(session_store / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(session_store / "cache"))
    before = {p.name: p.stat().st_mtime_ns for p in (built_book / "_generated").glob("*.ipynb")}
    assert pipeline.run_notebooks("smoke") == 0
    after = {p.name: p.stat().st_mtime_ns for p in (built_book / "_generated").glob("*.ipynb")}
    assert before == after
    assert capsys.readouterr().out.count("up to date, skipped") == len(before)


# What a reader sees on a page, measured in the browser.
PAGE_FACTS = """(max_lines) => {
  const article = document.querySelector('.bd-article') || document.body;
  const right = article.getBoundingClientRect().right;
  const shown = (el) => el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const cut = [];
  for (const wide of article.querySelectorAll('table, pre')) {
    if (!shown(wide)) continue;            // e.g. the code of a folded cell
    let box = null;
    for (let el = wide; el && el !== article; el = el.parentElement) if (scrolls(el)) { box = el; break; }
    const edge = (box || wide).getBoundingClientRect().right;
    if (edge > right + 1 || (!box && wide.scrollWidth > wide.clientWidth + 1))
      cut.push(wide.tagName.toLowerCase() + (wide.className ? '.' + wide.className : ''));
  }
  const streams = Array.from(document.querySelectorAll('.cell_output .output.stream, .cell_output .output.stderr'));
  return {
    pageWidth: document.documentElement.scrollWidth, windowWidth: window.innerWidth, cutTables: cut,
    parameterTables: document.querySelectorAll('table.gconv-parameters').length,
    text: document.body.textContent,
    codeInputs: document.querySelectorAll('.cell_input').length,
    codeInputsShown: Array.from(document.querySelectorAll('.cell_input')).filter(shown).length,
    toggles: document.querySelectorAll('details.hide.above-input').length,
    stderr: document.querySelectorAll('.cell_output .output.stderr').length,
    longStreams: streams.map(s => s.innerText.trim().split('\\n').length).filter(n => n > max_lines),
    warnings: Array.from(document.querySelectorAll('.cell_output')).map(o => o.textContent)
      .filter(t => /\\w+Warning\\b/.test(t)).map(t => t.slice(0, 200)),
  };
}"""


def check_pages(html: Path, names: list[str], executable: str) -> tuple[list, dict]:
    """Open every page; return (failed or remote loads, facts per page)."""
    from playwright.sync_api import sync_playwright

    pages = ["methods.html"] + [f"_generated/{n}.html" for n in names]
    problems, seen = [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport=VIEWPORT)
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        page.on("request", lambda r: r.url.startswith(("file:", "data:", "blob:", "about:"))
                or problems.append(f"remote: {r.url}"))
        # the book's root index.html is a redirect to the landing page: follow it
        page.goto((html / "index.html").as_uri())
        page.wait_for_url("**/_generated/index.html")
        seen["landing_title"] = page.title()
        for rel in pages:
            page.goto((html / rel).as_uri())
            page.wait_for_load_state("load")
            seen[rel] = dict(
                title=page.title(),
                tables=page.locator("table").count(),
                images=page.evaluate("Array.from(document.images).filter(i => i.src.includes('_images'))"
                                     ".map(i => i.complete && i.naturalWidth > 0)"),
                math=page.locator("mjx-container").count(),
                **page.evaluate(PAGE_FACTS, pipeline.MAX_STREAM_LINES))
        browser.close()
    return problems, seen


CLAIMS_FACTS = """() => {
  const table = document.querySelector('.claims-page table');
  if (!table) { return {found: false}; }
  const box = table.parentElement.getBoundingClientRect();
  const rows = Array.from(table.querySelectorAll('tbody tr'));
  const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const statements = rows.map(r => r.cells[0].innerText).join('\\n');
  return {found: true, rows: rows.length, tableWidth: table.getBoundingClientRect().width, boxWidth: box.width,
          viewHeight: window.innerHeight,
          targetTop: target ? target.getBoundingClientRect().top : null, scrollY: window.scrollY,
          rawMath: (statements.match(/\\$/g) || []).length, rawStar: (statements.match(/\\*/g) || []).length};
}"""


def claims_page_problems(page, url: str, claim_id: str, word: str) -> list[str]:
    """Open the claims page at one claim's anchor (viewport 1400 px): the row is scrolled to, the
    table fits its column, no raw $ or * in statements, and the search box narrows the rows."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{url}#{claim_id}")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    facts = page.evaluate(CLAIMS_FACTS)
    if not facts["found"]:
        return ["no claims table"]
    found = []
    if facts["targetTop"] is None or not (-2 <= facts["targetTop"] < facts["viewHeight"]) or facts["scrollY"] <= 0:
        found.append(f"#{claim_id} does not scroll to its row (top {facts['targetTop']}, scrollY {facts['scrollY']})")
    if facts["tableWidth"] > facts["boxWidth"] + 1:
        found.append(f"claims table {facts['tableWidth']:.0f} px in a {facts['boxWidth']:.0f} px column")
    if facts["rawMath"] or facts["rawStar"]:
        found.append(f"raw markup in statements: {facts['rawMath']} '$', {facts['rawStar']} '*'")
    page.fill(".claims-search", word)
    shown = page.evaluate("Array.from(document.querySelectorAll('.claims-page tbody tr'))"
                          ".filter(r => r.style.display !== 'none').length")
    if not 0 < shown < facts["rows"]:
        found.append(f"searching {word!r} shows {shown} of {facts['rows']} rows")
    return found


def reader_problems(rel: str, info: dict, notebook: dict | None) -> list[str]:
    """What a newcomer should not meet on a page of the book."""
    found = []
    if info["pageWidth"] > info["windowWidth"]:
        found.append(f"the page is {info['pageWidth']} px wide in a {info['windowWidth']} px window")
    if info["cutTables"]:
        found.append(f"tables or code cut at the right edge (no scrolling): {info['cutTables']}")
    if notebook is None:
        return found
    if info["parameterTables"] != 1:
        found.append(f"{info['parameterTables']} 'Parameters of this run' tables, not 1")
    for cell in notebook["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        source = "".join(cell["source"]).strip()
        if {"parameters", "injected-parameters"} & set(tags) and source and source in info["text"]:
            found.append(f"a {tags[0]} cell is on the page: {source[:60]!r}")
    if info["codeInputsShown"]:
        found.append(f"{info['codeInputsShown']} of {info['codeInputs']} code cells shown unfolded")
    if info["stderr"]:
        found.append(f"{info['stderr']} stderr outputs")
    if info["longStreams"]:
        found.append(f"text outputs of {info['longStreams']} lines (at most {pipeline.MAX_STREAM_LINES})")
    if info["warnings"]:
        found.append(f"warnings in outputs: {info['warnings']}")
    return found


def test_browser_opens_every_page_without_failed_or_remote_loads(built_book):
    html = built_book / "_build" / "html"
    names = pipeline.available_notebooks()
    problems, seen = check_pages(html, names, chromium_path())
    assert problems == []
    assert "Grouped convolution, reproduced" in seen["landing_title"]
    for rel, info in seen.items():
        if rel.startswith("_generated/") and "index" not in rel:
            assert info["tables"] >= 2, (rel, info["tables"])
            assert info["images"] and all(info["images"]), (rel, info["images"])
            assert info["toggles"] >= 1, (rel, "no folded code cell")
    assert seen["methods.html"]["math"] > 0, "MathJax (local copy) rendered no formula"
    assert seen["_generated/index.html"]["tables"] >= 2  # value kinds + reproduction status
    issues = {}
    for rel, info in seen.items():
        if rel == "landing_title":
            continue
        name = Path(rel).stem if rel.startswith("_generated/") else None
        notebook = json.loads((built_book / "_generated" / f"{name}.ipynb").read_text()) if name else None
        if found := reader_problems(rel, info, notebook):
            issues[rel] = found
    assert issues == {}


def test_failing_notebook_is_named_and_its_page_says_so(tmp_path, monkeypatch, capsys):
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
    assert (tmp_path / "book" / "_failed" / "vgg_complexity.ipynb").exists()
    # the book is built; the chapter's page says that it failed and why, with no error output
    page = tmp_path / "book" / "_generated" / "vgg_complexity.ipynb"
    assert "ValueError: boom" in page.read_text() and not pipeline.has_error_output(page)
    assert pipeline.check_book_sources() == 0


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


def test_claims_page_has_search_anchors_and_fits(built_book):
    """In Chromium at 1400 px: claims.html#<id> scrolls to that claim, the search box narrows the
    rows, the table fits its column, and statements show no raw $ or * (math and emphasis rendered)."""
    from playwright.sync_api import sync_playwright

    from gconvlib.claims import load_claims

    url = (built_book / "_build" / "html" / "_generated" / "claims.html").as_uri()
    claims = load_claims()
    claim_id = claims[len(claims) // 2].id  # far down the page: the anchor must scroll to it
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        found = claims_page_problems(browser.new_page(), url, claim_id, "kuzushiji")
        browser.close()
    assert found == []


def test_every_figure_a_notebook_draws_is_in_its_executed_copy(built_book):
    # a cell that calls r.figure(...) must show each figure once: a figure drawn and never shown
    # (the inline backend unhooked by a theme that restored every rcParam) left the cells after a
    # chapter's first figure empty, with no error anywhere; one left open was shown twice. A figure
    # with nothing to plot in this profile says so instead.
    import re

    from gconvlib.chapters._base import NOT_DRAWN

    generated = built_book / "_generated" / "_papermill"
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        executed = json.loads((generated / source.name).read_text())
        for cell in executed["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] != "code" or not re.search(r"\br\.figure\(", text):
                continue
            shown = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
                     or NOT_DRAWN in "".join(o.get("data", {}).get("text/markdown", ""))]
            drawn = len(re.findall(r"\br\.figure\(", text))
            assert len(shown) == drawn, f"{source.name}: {text!r} drew {drawn} figure(s), shows {len(shown)}"
