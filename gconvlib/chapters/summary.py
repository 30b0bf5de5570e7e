"""The book's summary pages: every claim with its verdict, and what each paper table and figure
became. Both read the chapters' recorded verdicts from the results store; the coverage statement
of the README is generated from the same lists (:func:`coverage_markdown`)."""
from __future__ import annotations

import html
import re

import pandas as pd

from ..claims import load_claims, outcome
from ..store import ResultsStore
from . import CHAPTERS, PAPER_TITLES
from ._base import CHAPTER_KIND

# Every table and figure of the three papers: which chapters show it, and as what.
ARTIFACTS = [
    ("e2gc", "Table I", ("e2gc_group_size",), "standard-convolution formulas, evaluated beside Table II (exact)"),
    ("e2gc", "Table II", ("e2gc_complexity", "e2gc_group_size"),
     "formulas checked against hook counts on every grouped layer of a real model (exact)"),
    ("e2gc", "Table III", ("e2gc_complexity", "e2gc_energy", "e2gc_accuracy"),
     "MobileNet-V1: Params and MACs (exact), EPF (quoted; measured on a GPU when committed), top-1 (scaled-down)"),
    ("e2gc", "Table IV", ("e2gc_complexity", "e2gc_energy", "e2gc_accuracy"),
     "ResNeXt-50: Params and MACs (exact), EPF (quoted; measured on a GPU when committed), top-1 (scaled-down)"),
    ("e2gc", "Fig. 1", ("e2gc_energy",), "EPF against g and G, redrawn from Tables III-IV and our measurements"),
    ("e2gc", "Fig. 2", ("e2gc_complexity",), "which ifmaps reach which ofmaps, drawn from factory-built layers"),
    ("e2gc", "Fig. 3", ("e2gc_complexity",), "M_c, AI and memory accesses against G (exact)"),
    ("e2gc", "Fig. 4", ("e2gc_complexity",), "E2GC vs FgGC modules, read off the two MobileNet-V1 models"),
    ("gc2l", "Table 1", ("gc2l_complexity", "gc2l_ablation"),
     "parameters (exact); error rates (quoted, and scaled-down runs)"),
    ("gc2l", "Table 2", ("gc2l_complexity", "gc2l_parallel"),
     "parameters total and per processor (exact); step time on processes (measured here) and a cost model"),
    ("gc2l", "Table 3", ("gc2l_complexity", "gc2l_comparison"),
     "parameters (exact); error rates of GC, Shuffle, FLGC, GC-2L (quoted, and scaled-down runs)"),
    ("gc2l", "Table 4", ("gc2l_complexity", "gc2l_comparison"),
     "MobileNetV2: parameters (exact); error rates (quoted, and scaled-down runs)"),
    ("gc2l", "Fig. 1", ("gc2l_complexity",), "the coarse spaces: one representative per group, drawn from a layer"),
    ("gc2l", "Fig. 2", ("gc2l_complexity",), "the two-level procedure, drawn from a layer"),
    ("gc2l", "Fig. 3", ("gc2l_complexity",), "a WideResNet residual unit with GC-2L, read off the model"),
    ("gc2l", "Fig. 4", ("gc2l_ablation",), "training loss of SC, GC and GC-2L (scaled-down runs)"),
    ("gc2l", "Fig. 5", ("gc2l_comparison",), "error against g, WideResNet (quoted, and scaled-down runs)"),
    ("gc2l", "Fig. 6", ("gc2l_complexity",), "MobileNetV2's inverted residual with GC-2L, read off the model"),
    ("gc2l", "Fig. 7", ("gc2l_comparison",), "error against g, MobileNetV2 (quoted, and scaled-down runs)"),
    ("vgg", "Table 1", ("vgg_complexity",), "VGG13/16/19-BN layouts, rebuilt from the model code"),
    ("vgg", "Fig. 1", ("vgg_schemes",), "samples of the data the runs use (real Kuzushiji when present)"),
    ("vgg", "Fig. 2", ("vgg_complexity",), "a convolution and its grouped form, drawn from factory-built layers"),
    ("vgg", "Figs. 3-8", ("vgg_schemes",), "accuracy and loss curves of the baseline and schemes A-E (scaled-down)"),
    ("vgg", "Fig. 9", ("vgg_schemes",), "test accuracy of every scheme (scaled-down)"),
    ("vgg", "Fig. 10", ("vgg_complexity", "vgg_latency"),
     "MACs (exact; the paper prints no values) and inference time (measured here; GPU when committed)"),
]


_LABELS = re.compile(r"\b(Table|Fig)s?\.?\s*((?:[IVX]+|\d+)(?:\s*(?:-|–|,|and)\s*(?:[IVX]+|\d+))*)")
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10}


def _labels(text: str) -> set[tuple[str, int]]:
    """("Table", 3) ... for every table or figure a location names: "Tables III-IV" and
    "Figs. 3-8" expand to their members; "Fig. 1" is not "Fig. 10"."""
    out = set()
    for kind, numbers in _LABELS.findall(text):
        parts = re.split(r"\s*(-|–|,|and)\s*", numbers)
        values = [_ROMAN.get(x, None) or int(x) for x in parts[::2]]
        ops = parts[1::2]
        out.update((kind, v) for v in values)
        for (lo, hi), op in zip(zip(values, values[1:]), ops):
            if op in "-–":
                out.update((kind, v) for v in range(lo, hi + 1))
    return out


def _mentions(where: str, artifact: str) -> bool:
    return bool(_labels(where) & _labels(artifact))


def judged_claims(profile: str, store: ResultsStore | None = None) -> pd.DataFrame:
    """Every registered claim with the verdict its chapter recorded in ``profile``; claims of
    chapters not executed in this profile are *not yet reproduced* and say so."""
    store = store or ResultsStore()
    rows = []
    recorded = {}
    for c in CHAPTERS:
        record = store.get(CHAPTER_KIND, {"chapter": c.name, "profile": profile})
        for row in (record["result"]["claims"] if record else []):
            recorded[row["id"]] = {**row, "updated": record["provenance"]["created"]}
    for claim in load_claims():
        row = recorded.get(claim.id)
        if row is None:
            row = dict(id=claim.id, paper=claim.paper, where=claim.where, statement=claim.statement,
                       chapter=claim.chapter, printed="", ours="", kind="", paper_check="",
                       verdict=f"not yet reproduced (chapter {claim.chapter} not executed in the "
                               f"{profile} profile)", verdict_kind="not yet reproduced")
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["outcome"] = [outcome(v) for v in frame.verdict]
    return frame


def chapter_status(judged: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: how many claims, and how many positive, negative, inconclusive and pending."""
    rows = []
    for c in CHAPTERS:
        part = judged[judged.chapter == c.name]
        kinds = part.verdict_kind.value_counts()
        rows.append(dict(paper=c.paper, chapter=c.name, reproduces=c.reproduces, claims=len(part),
                         holds=int(kinds.get("holds", 0)), holds_only=int(kinds.get("holds only", 0)),
                         does_not_hold=int(kinds.get("does not hold", 0)),
                         inconclusive=int(kinds.get("inconclusive at this scale", 0)),
                         not_yet=int(kinds.get("not yet reproduced", 0)),
                         not_testable=int(kinds.get("not testable here", 0))))
    return pd.DataFrame(rows)


def artifact_status(judged: pd.DataFrame) -> pd.DataFrame:
    """One row per table and figure of the three papers: where the book shows it, and the verdicts
    of the claims located there."""
    rows = []
    for paper, artifact, chapters, shown in ARTIFACTS:
        part = judged[(judged.paper == paper) & judged["where"].map(lambda w: _mentions(str(w), artifact))]
        kinds = part.verdict_kind.value_counts()
        verdicts = ", ".join(f"{n} {k}" for k, n in kinds.items()) if len(part) else "no claim located here"
        rows.append(dict(paper=paper, artifact=artifact, chapters=", ".join(chapters), shown=shown,
                         claims=len(part), verdicts=verdicts))
    return pd.DataFrame(rows)


def _links(chapters: str) -> str:
    return ", ".join(f"<a href='{c}.html'>{c}</a>" for c in chapters.split(", "))


def artifact_html(status: pd.DataFrame) -> str:
    head = "<tr><th>paper</th><th>table / figure</th><th>shown in</th><th>as</th><th>claims located there</th></tr>"
    body = "".join(f"<tr><td>{r.paper}</td><td>{html.escape(r.artifact)}</td><td>{_links(r.chapters)}</td>"
                   f"<td>{html.escape(r.shown)}</td><td>{html.escape(r.verdicts)}</td></tr>"
                   for r in status.itertuples())
    return f"<table class='status'><thead>{head}</thead><tbody>{body}</tbody></table>"


def claims_page_html(judged: pd.DataFrame, paper: str) -> str:
    """One paper's claims, each linked to the chapter that shows it."""
    head = "".join(f"<th>{c}</th>" for c in ("where", "statement", "paper", "ours", "evidence", "verdict", "chapter"))
    body = []
    for r in judged[judged.paper == paper].to_dict("records"):
        cells = [r.get("where"), r.get("statement"), r.get("printed"), r.get("ours"), r.get("kind"), r.get("verdict")]
        tds = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in cells)
        body.append(f"<tr class='{str(r.get('verdict_kind', '')).replace(' ', '-')}'>{tds}"
                    f"<td>{_links(r['chapter'])}</td></tr>")
    return f"<table class='claims'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def verdict_figure(judged: pd.DataFrame):
    """One horizontal bar per paper, split by verdict kind (the fixed order of the verdict set):
    where a paper's claims stand at a glance."""
    import matplotlib.pyplot as plt

    from ..claims.verdicts import VERDICT_KINDS

    colors = dict(zip(VERDICT_KINDS, ("#2a9d8f", "#8ab17d", "#e76f51", "#e9c46a", "#bdbdbd", "#7f7f7f")))
    papers = list(PAPER_TITLES)
    fig, ax = plt.subplots(figsize=(9, 0.7 * len(papers) + 1.4))
    left = [0] * len(papers)
    for kind in VERDICT_KINDS:
        n = [int((judged[judged.paper == p].verdict_kind == kind).sum()) for p in papers]
        ax.barh(range(len(papers)), n, left=left, color=colors[kind], label=kind)
        for i, (x0, k) in enumerate(zip(left, n)):
            if k:
                ax.text(x0 + k / 2, i, str(k), ha="center", va="center", fontsize=9)
        left = [a + b for a, b in zip(left, n)]
    ax.set_yticks(range(len(papers)), [PAPER_TITLES[p].split(":")[0].split(" (")[0] for p in papers])
    ax.invert_yaxis()
    ax.set_xlabel("claims")
    ax.legend(ncol=3, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    fig.tight_layout()
    return fig


def coverage_markdown() -> str:
    """The README's coverage statement: generated from the same lists as the landing page."""
    claims = load_claims()
    lines = ["| paper | tables and figures | claims registered and judged |", "|---|---|---|"]
    for paper, title in PAPER_TITLES.items():
        arts = [a for p, a, _, _ in ARTIFACTS if p == paper]
        n = sum(1 for c in claims if c.paper == paper)
        lines.append(f"| {title} | {', '.join(arts)} | {n} |")
    return "\n".join(lines)
