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


# -- gconv claims -------------------------------------------------------------------------------

#: the fields ``gconv claims --json`` prints for every claim, in order
CLAIM_FIELDS = ("id", "paper", "chapter", "where", "statement", "evidence", "verdict", "verdict_kind", "reason",
                "threshold_source", "threshold_why", "threshold", "flip_point", "flip", "paper_check", "paper_cells",
                "as_of")


def claim_rows(profile: str = "quick", paper: str | None = None, chapter: str | None = None,
               verdict: str | None = None, store: ResultsStore | None = None) -> list[dict]:
    """The judged claims recorded in the store for ``profile`` (as the claims page shows them), one
    dict of :data:`CLAIM_FIELDS` per claim; filtered by paper, chapter and verdict kind. What an
    older record lacks (threshold source, flip point) is filled from the registry or left null."""
    from ..claims import Verdict, get_claim
    from ..claims.headline import headline_text
    from .summary import judged_claims

    judged = judged_claims(profile, store).astype(object)
    judged = judged.where(judged.notna(), None)
    out = []
    for row in judged.to_dict("records"):
        if (paper and row["paper"] != paper) or (chapter and row["chapter"] != chapter) or \
                (verdict and row["verdict_kind"] != verdict):
            continue
        claim = get_claim(row["id"])
        row = dict(row, evidence=claim.evidence, threshold_source=claim.threshold_source,
                   threshold_why=claim.threshold_why, reason=row.get("reason") or Verdict.parse(row["verdict"]).reason,
                   paper_cells=row.get("paper_cells") or headline_text(claim))
        if not row.get("threshold"):
            used = claim.threshold
            row["threshold"] = "" if used is None else f"{used[0]} = {used[1]}"
        out.append({k: row.get(k) for k in CLAIM_FIELDS})
    return out


def cmd_claims(args) -> int:
    import json

    rows = claim_rows(args.profile, args.paper, args.chapter, args.verdict)
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    for r in rows:
        flip = f"  [{r['flip']}]" if r["flip"] else ""
        as_of = f"  ({r['as_of']})" if r["as_of"] else ""   # the chapter's newer run failed
        print(f"{r['id']}: {r['verdict']}{flip}{as_of}")
    return 0


def add_subcommands(subparsers) -> None:
    """Register ``gconv claims``."""
    from ..claims import CHAPTERS as CLAIM_CHAPTERS, VERDICT_KINDS
    from ..paper import PAPERS

    p = subparsers.add_parser("claims", help="the judged claims recorded by the chapters (after make reproduce)")
    p.add_argument("--paper", choices=sorted(PAPERS))
    p.add_argument("--chapter", choices=[c for cs in CLAIM_CHAPTERS.values() for c in cs])
    p.add_argument("--verdict", choices=VERDICT_KINDS, metavar="KIND",
                   help="one verdict kind: " + ", ".join(f"'{k}'" for k in VERDICT_KINDS))
    p.add_argument("--profile", default="quick", help="the profile whose verdicts to read (default quick)")
    p.add_argument("--json", action="store_true", help=f"a JSON list of objects with {', '.join(CLAIM_FIELDS)}")
    p.set_defaults(func=cmd_claims)
