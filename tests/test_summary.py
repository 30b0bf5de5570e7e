"""The claims page and the landing page read the verdicts the chapters recorded."""
import pytest

from gconvlib.chapters import CHAPTERS, summary
from gconvlib.chapters._base import ChapterResult
from gconvlib.claims import load_claims
from gconvlib.store import ResultsStore


@pytest.mark.parametrize("where, artifact, expected", [
    ("Table III", "Table III", True), ("Table III", "Table II", False), ("Sec. IV; Fig. 1", "Fig. 1", True),
    ("Fig. 10", "Fig. 1", False), ("Figs. 3-8; Sec. 5.1", "Fig. 5", True), ("Fig. 5", "Figs. 3-8", True),
    ("Tables III and IV", "Table IV", True), ("Tables 1-4", "Table 3", True), ("Sec. 4.1.2, Table 2", "Table 1", False),
])
def test_a_claim_is_located_at_the_tables_and_figures_its_location_names(where, artifact, expected):
    assert summary._mentions(where, artifact) is expected


def test_claims_of_chapters_not_run_are_pending_and_say_which_chapter(tmp_path):
    judged = summary.judged_claims("smoke", ResultsStore(tmp_path))
    assert len(judged) == len(load_claims()) >= 70
    first = judged.iloc[0]
    assert first.verdict == f"not yet reproduced (chapter {first.chapter} not executed in the smoke profile)"
    status = summary.chapter_status(judged)
    assert status.claims.sum() == len(judged) and status.not_yet.sum() == len(judged)


def test_a_recorded_verdict_reaches_the_claims_page_and_the_counts(tmp_path):
    store = ResultsStore(tmp_path)
    claim = load_claims(chapter="vgg_complexity")[0]
    result = ChapterResult("vgg_complexity", "smoke")
    import pandas as pd
    result.claims = pd.DataFrame([dict(id=claim.id, paper=claim.paper, where=claim.where, statement=claim.statement,
                                       chapter=claim.chapter, printed="", ours="7 vs 7", kind="exact",
                                       paper_check="", verdict="does not hold (made up)",
                                       verdict_kind="does not hold")])
    result.record(store)
    judged = summary.judged_claims("smoke", store)
    row = judged.set_index("id").loc[claim.id]
    assert (row.verdict, row.outcome) == ("does not hold (made up)", "negative")
    status = summary.chapter_status(judged).set_index("chapter").loc["vgg_complexity"]
    assert status.does_not_hold == 1
    assert summary.judged_claims("quick", store).set_index("id").loc[claim.id].verdict_kind == "not yet reproduced"


def test_every_table_and_figure_names_chapters_that_exist():
    names = {c.name for c in CHAPTERS}
    papers = {paper for paper, *_ in summary.ARTIFACTS}
    assert papers == {"e2gc", "gc2l", "vgg"}
    for _, artifact, chapters, _ in summary.ARTIFACTS:
        assert set(chapters) <= names, artifact


def test_verdict_figure_draws_each_papers_claims_split_by_verdict():
    """Bars are read back from the figure: their widths per paper are the verdict counts of a
    hand-made frame (3 holds + 1 does not hold for E2GC, 2 inconclusive for VGG, none for GC-2L)."""
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd

    judged = pd.DataFrame({"paper": ["e2gc"] * 4 + ["vgg"] * 2,
                           "verdict_kind": ["holds"] * 3 + ["does not hold"] + ["inconclusive at this scale"] * 2})
    fig = summary.verdict_figure(judged)
    ax = fig.axes[0]
    rows = {label.get_text(): i for i, label in enumerate(ax.get_yticklabels())}
    assert len(rows) == 3
    widths = {}
    for container in ax.containers:
        for i, bar in enumerate(container):
            if bar.get_width():
                widths[(i, container.get_label())] = bar.get_width()
    e2gc, vgg = rows["E2GC"], [i for t, i in rows.items() if t.startswith("Grouped")][0]
    assert widths == {(e2gc, "holds"): 3, (e2gc, "does not hold"): 1, (vgg, "inconclusive at this scale"): 2}


def test_statements_render_math_and_emphasis_without_raw_markup():
    text = summary.render_statement(r"E2GC needs $\approx 5 \times$ fewer *EPF* than **FgGC**; 3 * 4 < 5 & so on")
    assert r"\(\approx 5 \times\)" in text and "<em>EPF</em>" in text and "<strong>FgGC</strong>" in text
    assert "$" not in text and "*" not in text and "&amp;" in text and "&lt;" in text


def test_claims_page_rows_anchors_and_tools(tmp_path):
    import re

    judged = summary.judged_claims("smoke", ResultsStore(tmp_path))
    page = summary.claims_page_html(judged)
    ids = re.findall(r"<tr id='([^']+)'", page)
    assert ids == list(judged.id) and len(set(ids)) == len(ids)  # one anchor per claim
    assert "class='claims-search'" in page and page.count("class='claims-filter'") == 3
    assert "<colgroup>" in page and "table-layout: fixed" in page  # fits its column, no scrollbar
    for statement in re.findall(r"</span><br>(.*?)(?:<br><span class='small'>printed|</td>)", page):
        assert "$" not in statement and "*" not in statement, statement
    # one paper only
    assert len(re.findall(r"<tr id=", summary.claims_page_html(judged, "vgg"))) == (judged.paper == "vgg").sum()


def test_rows_of_one_sentence_say_which_part_each_judges(tmp_path):
    import re

    judged = summary.judged_claims("smoke", ResultsStore(tmp_path))
    page = summary.claims_page_html(judged)
    time_part, error_part = "gc2l.sec4_1_2.reduce_time_small_error_time_part", "gc2l.sec4_1_2.reduce_time_small_error_error_part"
    row = re.search(rf"<tr id='{re.escape(time_part)}'.*?</tr>", page).group(0)
    assert "this row judges: wall_clock" in row and f"href='#{error_part}'>error" in row
    # a sentence judged by one entry has no such line
    single = judged.groupby("statement").id.transform("size") == 1
    lone = judged[single].id.iloc[0]
    assert "this row judges" not in re.search(rf"<tr id='{re.escape(lone)}'.*?</tr>", page).group(0)
