"""Judge claims: one row per claim, our verdict and, beside it, the check on the paper's own numbers."""
from __future__ import annotations

import html
import re
from typing import Iterable, Sequence

import pandas as pd

from .. import paper as paper_values
from . import verdicts as V
from .evaluators import claim_quantities, evaluate
from .evidence import QUOTED, Evidence
from .flip import flip_point, flip_text
from .headline import headline_text
from .registry import Claim, load_claims
from .verdicts import Verdict

JUDGE_COLUMNS = ("id", "paper", "where", "statement", "chapter", "evidence_kind", "printed", "paper_check",
                 "ours", "kind", "source", "verdict", "verdict_kind", "reason", "paper_check_kind",
                 "threshold_source", "threshold_why", "threshold", "flip_point", "flip", "paper_cells")
MAX_SHOWN = 3


def printed_text(claim: Claim, rows: pd.DataFrame | None = None) -> str:
    """The paper's value(s) the claim uses, as printed (short)."""
    rows = claim.printed() if rows is None else rows
    if not len(rows):
        return ""
    if len(rows) > 4:
        refs = ", ".join(dict.fromkeys(rows["ref"]))
        return f"{len(rows)} printed values ({refs})"
    out = []
    for r in rows.itertuples():
        who = " ".join(str(x) for x in (r.scheme, "" if pd.isna(r.k) else r.k) if x != "")
        where = ", ".join(x for x in (r.device, "" if pd.isna(r.batch_size) else f"B = {r.batch_size}") if x)
        unit = {"%": " %", "x": "x", "count": ""}.get(r.unit, f" {r.unit}" if r.unit else "")
        label = " ".join(x for x in (who, f"({where})" if where else "") if x)
        out.append(f"{label}: {r.value_text}{unit}" if label else f"{r.value_text}{unit}")
    return "; ".join(out)


def _ours_text(checks) -> str:
    shown = [c for c in checks if c.shown]
    if not shown:
        return ""
    if len(checks) <= MAX_SHOWN:
        return "; ".join(f"{' '.join(s for s in c.label if s)}: {c.shown}".lstrip(": ") for c in shown)
    counts = pd.Series([c.verdict.kind for c in checks]).value_counts()
    return f"{len(checks)} checks: " + ", ".join(f"{n} {k}" for k, n in counts.items())


def _paper_side(claim: Claim, paper_ev: Evidence) -> Verdict:
    if claim.evaluate == "untestable":
        return V.not_testable(str(claim.args["reason"]))
    if not len(claim.values):
        return V.not_testable("the paper prints no number for it")
    verdict, _ = evaluate(claim, paper_ev, side="paper")
    if verdict.kind == V.NOT_YET:  # on the paper's side, missing means "not printed"
        return V.not_testable(f"not printed: {verdict.reason}")
    return verdict


def judge_one(claim: Claim, evidence: Evidence, paper_evidence: Evidence | None = None, flips: bool = True) -> dict:
    """One row of :func:`judge` (``flips=False`` leaves the flip point out: it re-judges the claim
    some twenty times)."""
    ours_ev = evidence.without(QUOTED)
    verdict, checks = evaluate(claim, ours_ev, side="ours")
    if verdict.kind == V.NOT_YET and not any(c.cells for c in checks):
        # nothing of the claim's quantities in the evidence: say what kind of result is missing
        wanted = claim_quantities(claim.args)
        if not len(ours_ev) or not ours_ev.frame["quantity"].isin(wanted).any():
            verdict = V.not_yet(claim.missing_text)
    used = [cell for c in checks for cell in c.cells]
    paper_check = _paper_side(claim, paper_evidence) if paper_evidence is not None else None
    flip = flip_point(claim, ours_ev, verdict.kind) if flips and verdict.decided else None
    threshold = claim.threshold
    return dict(id=claim.id, paper=claim.paper, where=claim.where, statement=claim.statement,
                chapter=claim.chapter, evidence_kind=claim.evidence, printed=printed_text(claim),
                paper_check=str(paper_check) if paper_check else "",
                ours=_ours_text(checks),
                kind=", ".join(dict.fromkeys(c.kind for c in used)),
                source="; ".join(list(dict.fromkeys(c.source for c in used if c.source))[:3]),
                verdict=str(verdict), verdict_kind=verdict.kind, reason=verdict.reason,
                paper_check_kind=paper_check.kind if paper_check else "",
                threshold_source=claim.threshold_source, threshold_why=claim.threshold_why,
                threshold="" if threshold is None else f"{threshold[0]} = {threshold[1]}",
                flip_point=None if flip is None else flip[0],
                flip=flip_text(claim, verdict.kind, flip) if flips and verdict.decided else "",
                paper_cells=headline_text(claim))


def judge(claims: Iterable[Claim] | None, evidence: Evidence | pd.DataFrame | None, *,
          paper_evidence: Evidence | pd.DataFrame | None = None, flips: bool = True) -> pd.DataFrame:
    """One row per claim (columns :data:`JUDGE_COLUMNS`).

    ``evidence`` is ours; its quoted rows (the paper's numbers) never decide a verdict and are
    ignored. ``paper_evidence`` is what ``paper_check`` runs on: by default the whole of
    ``values.csv`` as quoted evidence (:meth:`Evidence.from_values`).
    """
    claims = load_claims() if claims is None else list(claims)
    evidence = evidence if isinstance(evidence, Evidence) else Evidence(evidence)
    if paper_evidence is None:
        paper_evidence = Evidence.from_values(paper_values.load_values())
    elif not isinstance(paper_evidence, Evidence):
        paper_evidence = Evidence(paper_evidence)
    rows = [judge_one(c, evidence, paper_evidence, flips) for c in claims]
    return pd.DataFrame(rows, columns=list(JUDGE_COLUMNS))


def counts(judged: pd.DataFrame, column: str = "verdict_kind") -> dict[str, int]:
    """Verdict kinds -> number of claims, in the order of VERDICT_KINDS (zeros left out)."""
    vc = judged[column].value_counts()
    return {k: int(vc[k]) for k in V.VERDICT_KINDS if k in vc}


def verdict_sentence(judged: pd.DataFrame | None) -> str:
    """'12 claims: 7 hold, 2 hold only in part, 1 does not hold, 2 not yet reproduced.'"""
    if judged is None or not len(judged):
        return "No claims judged."
    words = {V.HOLDS: "hold", V.HOLDS_ONLY: "hold only in part", V.DOES_NOT_HOLD: "do not hold",
             V.INCONCLUSIVE: "inconclusive at this scale", V.NOT_YET: "not yet reproduced",
             V.NOT_TESTABLE: "not testable here"}
    parts = [f"{n} {words[k]}" for k, n in counts(judged).items()]
    n = len(judged)
    return f"{n} claim{'s' if n != 1 else ''}: " + ", ".join(parts) + "."


_MATH = re.compile(r"\$([^$]+)\$")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")
_EM = re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")


def render_statement(text: str) -> str:
    """A printed sentence as HTML: ``$...$`` as MathJax inline math ``\\(...\\)``, ``**x**`` and ``*x*``
    as strong and emphasis; everything else escaped (no raw ``$`` or ``*`` reaches the page)."""
    out = html.escape(str(text or ""), quote=False)
    out = _MATH.sub(lambda m: f"\\({m.group(1)}\\)", out)
    out = _STRONG.sub(r"<strong>\1</strong>", out)
    out = _EM.sub(r"<em>\1</em>", out)
    return out.replace("$", "&#36;").replace("*", "&#42;")


def claims_html(judged: pd.DataFrame | None,
                columns: Sequence[str] = ("where", "statement", "printed", "ours", "kind", "verdict")) -> str:
    """The judged claims as an HTML table, one row per claim with its id as anchor: the statement
    rendered (:func:`render_statement`), the verdict followed by its flip point; the rest escaped."""
    if judged is None or not len(judged):
        return "<p>No claims judged.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in judged.astype(object).where(judged.notna(), None).to_dict("records"):
        cells = []
        for c in columns:
            value = "" if r.get(c) is None else str(r.get(c))
            text = render_statement(value) if c == "statement" else html.escape(value)
            if c == "verdict" and r.get("flip"):
                text += f"<br><small>flip point: {html.escape(str(r['flip']))}</small>"
            cells.append(f"<td>{text}</td>")
        anchor = f' id="{html.escape(str(r["id"]))}"' if r.get("id") else ""
        body.append(f'<tr{anchor} class="{html.escape(str(r.get("verdict_kind", "")).replace(" ", "-"))}">'
                    f'{"".join(cells)}</tr>')
    return ('<table class="claims mathjax_process"><thead><tr>' + head + "</tr></thead><tbody>" + "".join(body)
            + "</tbody></table>")
