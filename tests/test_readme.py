"""The README's coverage statement is generated from the same lists as the book's landing page."""
import re
from pathlib import Path

from gconvlib.chapters.summary import coverage_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_coverage_is_the_generated_one():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- coverage:start -->\n(.*?)\n<!-- coverage:end -->", text, re.S)
    assert block, "README.md lost its coverage markers"
    assert block.group(1) == coverage_markdown(), (
        "README coverage is stale: replace the block between the markers with "
        "`python -c 'from gconvlib.chapters.summary import coverage_markdown; print(coverage_markdown())'`")
