"""Chapter status records and the landing page's overview."""
import pytest

from gconvlib import report
from gconvlib.store import ResultsStore


def test_overview_lists_every_chapter_and_marks_missing_ones(tmp_path):
    store = ResultsStore(tmp_path)
    report.record_status("vgg_complexity", "smoke", [
        dict(item="a", verdict="exact", kind=report.EXACT),
        dict(item="b", verdict="off by 0.01", kind=report.EXACT)], store=store)
    overview = report.status_overview("smoke", store=store).set_index("chapter")
    assert len(overview) == len(report.CHAPTERS)
    assert overview.loc["vgg_complexity", "positive"] == 1 and overview.loc["vgg_complexity", "checks"] == 2
    assert overview.loc["vgg_complexity", "status"] == "1 positive; 1 negative (off by 0.01)"
    assert overview.loc["e2gc_energy", "status"] == "not yet reproduced"
    report.record_status("gc2l_overhead", "smoke", [
        dict(item="a", verdict="holds", kind=report.EXACT),
        dict(item="b", verdict="not yet reproduced (no GPU reference results)", kind=report.MEASURED)], store=store)
    row = report.status_overview("smoke", store=store).set_index("chapter").loc["gc2l_overhead"]
    assert (row.positive, row.negative, row.pending) == (1, 0, 1)
    assert row.status == "1 positive; 1 not yet reproduced (no GPU reference results)"
    # another profile's records are not mixed in
    assert report.status_overview("quick", store=store).checks.sum() == 0
    html = report.status_html(overview.reset_index())
    assert "<a href='vgg_complexity.html'>" in html and "<a href='e2gc_energy.html'>" not in html


@pytest.mark.parametrize("checks, message", [
    ([dict(item="a", verdict="exact")], "missing"),
    ([dict(item="a", verdict="exact", kind="guessed")], "unknown value kind"),
])
def test_status_records_are_validated(tmp_path, checks, message):
    with pytest.raises(ValueError, match=message):
        report.record_status("vgg_complexity", "smoke", checks, store=ResultsStore(tmp_path))
    with pytest.raises(ValueError, match="unknown chapter"):
        report.record_status("nope", "smoke", [dict(item="a", verdict="x", kind="exact")],
                             store=ResultsStore(tmp_path))
