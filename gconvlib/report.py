"""What the notebooks share for presenting results: value kinds, side-by-side tables, status.

Every number in the book is one of four kinds, and says so:
* ``exact``          computed here from the model; must match the paper;
* ``measured here``  measured on the machine named next to it (device, date, commit, protocol);
* ``quoted``         the paper's value, cited by table or figure;
* ``scaled-down``    computed here with less data / fewer epochs / lower resolution than the paper.

Each chapter records its checks (one row per cell or claim, with a verdict) in the results store;
the landing page summarizes them across the three papers, listing chapters not yet run.
"""
from __future__ import annotations

import datetime as _dt
import html

import pandas as pd

from .store import ResultsStore, git_state

EXACT, MEASURED, QUOTED, SCALED = "exact", "measured here", "quoted", "scaled-down"
VALUE_KINDS = (EXACT, MEASURED, QUOTED, SCALED)

# Every chapter the companion will have, in book order: (name, paper, what it reproduces).
CHAPTERS = [
    ("e2gc_complexity", "e2gc", "Params and MACs of Tables III-IV; Table II on real layers; Fig. 3"),
    ("e2gc_energy", "e2gc", "Energy per frame of Tables III-IV and Fig. 1"),
    ("e2gc_accuracy", "e2gc", "Top-1 accuracy columns of Tables III-IV"),
    ("gc2l_complexity", "gc2l", "Parameter columns of Tables 1-4, per-processor parameters"),
    ("gc2l_ablation", "gc2l", "Table 1 error rates and Fig. 4 loss curves"),
    ("gc2l_comparison", "gc2l", "Tables 3-4 and Figs. 5, 7: GC vs Shuffle vs FLGC vs GC-2L"),
    ("gc2l_overhead", "gc2l", "Cost of the coarse structure: time and energy of GC vs GC-2L"),
    ("vgg_complexity", "vgg", "Params and MACs of baseline and schemes A-E; MACs of Fig. 10"),
    ("vgg_latency", "vgg", "Inference time of Fig. 10"),
    ("vgg_schemes", "vgg", "Training curves and test accuracy of Figs. 3-9"),
]
PAPER_TITLES = {
    "e2gc": "E2GC: Energy-efficient Group Convolution (Jha et al.)",
    "gc2l": "Two-level Group Convolution (Lee, Park & Lee, 2022)",
    "vgg": "Grouped convolution schemes for VGG13BN on Kuzushiji (Gong et al., 2022)",
}
STATUS_KIND = "status"


def record_status(chapter: str, profile: str, checks: pd.DataFrame | list[dict],
                  store: ResultsStore | None = None) -> dict:
    """Store a chapter's checks: columns ``item, verdict, kind`` (+ anything else)."""
    names = [c[0] for c in CHAPTERS]
    if chapter not in names:
        raise ValueError(f"unknown chapter {chapter!r}; chapters are {', '.join(names)}")
    frame = pd.DataFrame(checks)
    missing = {"item", "verdict", "kind"} - set(frame.columns)
    if missing:
        raise ValueError(f"status checks need columns item, verdict, kind; missing {sorted(missing)}")
    bad = set(frame["kind"]) - set(VALUE_KINDS)
    if bad:
        raise ValueError(f"unknown value kind(s) {sorted(bad)}; use {', '.join(VALUE_KINDS)}")
    frame = frame.astype(object).where(frame.notna(), None)
    return (store or ResultsStore()).put(STATUS_KIND, {"chapter": chapter, "profile": profile},
                                         frame.to_dict("records"), profile)


# Verdicts that count as "the paper's value or claim is reproduced", and the prefix of those
# that could not be judged yet (e.g. no GPU results); everything else counts as negative.
POSITIVE = ("exact", "truncated", "holds", "matches")
PENDING = "not yet reproduced"


def status_overview(profile: str, store: ResultsStore | None = None) -> pd.DataFrame:
    """One row per planned chapter: how many checks it made and how many came out positive."""
    store = store or ResultsStore()
    rows = []
    for name, paper, what in CHAPTERS:
        record = store.get(STATUS_KIND, {"chapter": name, "profile": profile})
        if record is None:
            rows.append(dict(chapter=name, paper=paper, reproduces=what, checks=0, positive=0,
                             negative=0, pending=0, kinds="", status="not yet reproduced", updated=""))
            continue
        checks = pd.DataFrame(record["result"])
        verdicts = checks["verdict"].astype(str)
        is_positive = verdicts.str.startswith(POSITIVE)
        is_pending = verdicts.str.startswith(PENDING)
        positive, pending = int(is_positive.sum()), int(is_pending.sum())
        negative = len(checks) - positive - pending
        parts = [f"{positive} positive"]
        if negative:
            other = sorted(set(verdicts[~is_positive & ~is_pending]))
            parts.append(f"{negative} negative ({', '.join(other)})")
        if pending:
            reasons = sorted({v[len(PENDING):].strip(" ()") or "pending" for v in verdicts[is_pending]})
            parts.append(f"{pending} not yet reproduced ({'; '.join(reasons)})")
        rows.append(dict(chapter=name, paper=paper, reproduces=what, checks=len(checks),
                         positive=positive, negative=negative, pending=pending,
                         kinds=", ".join(sorted(set(checks["kind"]))),
                         status="all checks positive" if positive == len(checks) else "; ".join(parts),
                         updated=record["provenance"]["created"]))
    return pd.DataFrame(rows)


def status_html(overview: pd.DataFrame) -> str:
    """The landing page's table, each chapter linked to its page."""
    lines = ["<table class='status'><thead><tr><th>paper</th><th>chapter</th><th>reproduces</th>"
             "<th>checks positive</th><th>value kinds</th><th>status</th></tr></thead><tbody>"]
    for _, r in overview.iterrows():
        chapter = (f"<a href='{r.chapter}.html'>{r.chapter}</a>" if r.checks else r.chapter)
        lines.append(f"<tr><td>{r.paper}</td><td>{chapter}</td><td>{html.escape(r.reproduces)}</td>"
                     f"<td>{r.positive} / {r.checks}</td><td>{html.escape(r.kinds)}</td>"
                     f"<td>{html.escape(r.status)}</td></tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def comparison_table(table: pd.DataFrame, paper_kind: str = QUOTED, reproduced_kind: str = EXACT,
                     decimals: int = 3) -> pd.io.formats.style.Styler:
    """paper | reproduced | difference | verdict, with the kind of each value in the header.

    The paper's value is shown as printed (``paper_text``) when the table has it."""
    if "paper_text" in table.columns:
        table = table.assign(paper_value=table["paper_text"]).drop(columns="paper_text")
    shown = table.rename(columns={"paper_value": f"paper ({paper_kind})",
                                  "reproduced_value": f"reproduced ({reproduced_kind})"})
    return shown.style.format(precision=decimals).hide(axis="index")


def verdict_counts(table: pd.DataFrame, column: str = "verdict") -> str:
    """'42 exact, 2 truncated' - a sentence fragment computed from a table."""
    counts = table[column].value_counts()
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def provenance_line(profile: str) -> str:
    state = git_state()
    commit = (state["commit"] or "unknown")[:10] + (" (dirty)" if state["dirty"] else "")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Executed {now}, profile `{profile}`, commit `{commit}`."
