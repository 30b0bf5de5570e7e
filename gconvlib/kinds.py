"""The stored results whose records must hold certain fields: each kind's name and those fields.

A leaf module (it imports nothing of gconvlib), so the store imports it plainly and checks every
kind's records whatever the process imported before, and the modules that write a kind (the
chapters, the training run) take its name and fields from here: one table, no import by name.
A kind not listed requires no field.
"""
from __future__ import annotations

#: a chapter's judged claims: written by ChapterResult.record(), read by the landing and claims pages
#: and by the pipeline's up-to-date check
CHAPTER = "chapter"
#: a chapter whose notebook failed (same spec as its CHAPTER record): written by the pipeline when the
#: notebook fails, removed when it next succeeds; the landing and claims pages say so beside its verdicts
CHAPTER_FAILURE = "chapter_failure"
#: one training run (gconvlib.train)
TRAIN = "train"

#: what a result of each kind must have: a record without one is refused on write and set aside like
#: a damaged one on read (gconvlib.store.check_result). The training fields are what gconv train's
#: report and the chapters' tables read.
RESULT_FIELDS = {
    CHAPTER: ("claims", "parameters"),
    CHAPTER_FAILURE: ("reason", "copy", "when"),
    TRAIN: ("label", "architecture", "task", "data", "scaling", "curves", "test", "test_accuracy", "timing", "run"),
}
