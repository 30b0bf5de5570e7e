"""A chapter's claims: judged on its evidence (and on the paper's own numbers), then recorded."""
from __future__ import annotations

import pandas as pd

from ..store import ResultsStore
from ._base import ChapterResult


def judge_chapter(result: ChapterResult, evidence: pd.DataFrame | list, store: ResultsStore | None = None,
                  **judge_options) -> pd.DataFrame:
    """Judge every registered claim of ``result.chapter`` on ``evidence``; store the verdicts."""
    from ..claims import Evidence, judge, load_claims
    from ..paper import load_values

    claims = load_claims(chapter=result.chapter)
    frames = evidence if isinstance(evidence, list) else [evidence]
    frames = [f.frame if isinstance(f, Evidence) else f for f in frames if f is not None and len(f)]
    result.evidence = Evidence(pd.concat(frames, ignore_index=True)) if frames else Evidence.empty()
    paper = {c.paper for c in claims}
    result.claims = judge(claims, result.evidence,
                          paper_evidence=Evidence.from_values(load_values()[lambda v: v.paper.isin(paper)]),
                          **judge_options)
    result.record(store)
    return result.claims
