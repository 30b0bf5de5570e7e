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
    assert "1 of 2 differ" in overview.loc["vgg_complexity", "status"]
    assert overview.loc["e2gc_energy", "status"] == "not yet reproduced"
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
