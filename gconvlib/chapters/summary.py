"""The book's summary pages: every claim with its verdict, and what each paper table and figure
became. Both read the chapters' recorded verdicts from the results store; the coverage statement
of the README is generated from the same lists (:func:`coverage_markdown`)."""
from __future__ import annotations

import html
import re

import pandas as pd

from ..claims import load_claims, outcome
from ..claims.judge import render_statement
from ..store import ResultsStore
from . import CHAPTER_FAILURE_KIND, CHAPTER_KIND, CHAPTERS, PAPER_TITLES

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


def _utc(stamp: str) -> str:
    """An ISO time of the store's provenance ('2026-12-07T01:50:12+00:00') as the pages write times."""
    return stamp[:16].replace("T", " ") + " UTC" if stamp else "an unknown time"


def judged_claims(profile: str, store: ResultsStore | None = None) -> pd.DataFrame:
    """Every registered claim with the verdict its chapter recorded in ``profile``; claims of
    chapters not executed in this profile are *not yet reproduced* and say so. ``as_of`` is empty,
    or (the chapter's notebook failed since) says that the verdict is its last good run's, and why
    the newer run failed: the pages show it beside the verdict."""
    store = store or ResultsStore()
    rows = []
    recorded, failed = {}, {}
    for c in CHAPTERS:
        spec = {"chapter": c.name, "profile": profile}
        record = store.get(CHAPTER_KIND, spec)
        failure = store.get(CHAPTER_FAILURE_KIND, spec)
        if failure is not None:
            failed[c.name] = failure["result"]
        for row in (record["result"]["claims"] if record else []):
            as_of = "" if failure is None else (
                f"as of its last good run ({_utc(record['provenance']['created'])}): the {profile} run of "
                f"{c.name} failed on {failure['result']['when']} with {failure['result']['reason']}")
            recorded[row["id"]] = {**row, "updated": record["provenance"]["created"], "as_of": as_of}
    for claim in load_claims():
        row = recorded.get(claim.id)
        if row is None:
            why = (f"failed in the {profile} profile with {failed[claim.chapter]['reason']}"
                   if claim.chapter in failed else f"not executed in the {profile} profile")
            row = dict(id=claim.id, paper=claim.paper, where=claim.where, statement=claim.statement,
                       chapter=claim.chapter, printed="", ours="", kind="", paper_check="",
                       verdict=f"not yet reproduced (chapter {claim.chapter} {why})",
                       verdict_kind="not yet reproduced", as_of="")
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["outcome"] = [outcome(v) for v in frame.verdict]
    return frame


def _failed_chapters(judged: pd.DataFrame) -> dict[str, str]:
    """chapter -> when its last good run was, for the chapters whose verdicts are that run's (a newer
    run of its notebook failed)."""
    if "as_of" not in judged:
        return {}
    stale = judged[judged["as_of"].fillna("") != ""]   # only recorded rows are marked: they have 'updated'
    return {c: _utc(str(when)) for c, when in zip(stale.chapter, stale.updated)} if len(stale) else {}


def chapter_status(judged: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: how many claims, and how many positive, negative, inconclusive and pending.
    When a chapter's notebook failed, an ``as_of`` column (only then: the landing page's table stays
    narrow otherwise) says which chapters' counts are their last good run's."""
    failed = _failed_chapters(judged)
    rows = []
    for c in CHAPTERS:
        part = judged[judged.chapter == c.name]
        kinds = part.verdict_kind.value_counts()
        rows.append(dict(paper=c.paper, chapter=c.name, reproduces=c.reproduces, claims=len(part),
                         holds=int(kinds.get("holds", 0)), holds_only=int(kinds.get("holds only", 0)),
                         does_not_hold=int(kinds.get("does not hold", 0)),
                         inconclusive=int(kinds.get("inconclusive at this scale", 0)),
                         not_yet=int(kinds.get("not yet reproduced", 0)),
                         not_testable=int(kinds.get("not testable here", 0)))
                    # short: the landing table must fit the text column; the chapter's page says why
                    | ({"as_of": f"its last good run ({failed[c.name]}); a newer run failed" if c.name in failed
                        else ""} if failed else {}))
    return pd.DataFrame(rows)


def artifact_status(judged: pd.DataFrame) -> pd.DataFrame:
    """One row per table and figure of the three papers: where the book shows it, and the verdicts
    of the claims located there."""
    failed = _failed_chapters(judged)
    rows = []
    for paper, artifact, chapters, shown in ARTIFACTS:
        part = judged[(judged.paper == paper) & judged["where"].map(lambda w: _mentions(str(w), artifact))]
        kinds = part.verdict_kind.value_counts()
        verdicts = ", ".join(f"{n} {k}" for k, n in kinds.items()) if len(part) else "no claim located here"
        stale = sorted(set(part.chapter) & set(failed))
        if stale:
            verdicts += f" (those of {', '.join(stale)}: as of the last good run; a newer run failed)"
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


#: the claims page's table: filters, search and sort in one small script, offline (no library)
_CLAIMS_SCRIPT = """
<script>
(function () {
  const root = document.currentScript.previousElementSibling;
  const rows = Array.from(root.querySelectorAll("tbody tr"));
  const q = root.querySelector("input.claims-search");
  const sel = Array.from(root.querySelectorAll("select.claims-filter"));
  const count = root.querySelector(".claims-count");
  function apply() {
    const words = q.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let shown = 0;
    rows.forEach(function (r) {
      const text = r.textContent.toLowerCase();
      const ok = words.every(function (w) { return text.includes(w); }) &&
        sel.every(function (s) { return !s.value || r.dataset[s.name] === s.value; });
      r.style.display = ok ? "" : "none";
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " claims";
  }
  q.addEventListener("input", apply);
  sel.forEach(function (s) { s.addEventListener("change", apply); });
  root.querySelectorAll("th[data-sort]").forEach(function (th, i) {
    th.addEventListener("click", function () {
      const body = root.querySelector("tbody");
      const up = th.dataset.dir !== "up";
      th.dataset.dir = up ? "up" : "down";
      rows.sort(function (a, b) {
        const x = a.cells[i].dataset.key || a.cells[i].textContent;
        const y = b.cells[i].dataset.key || b.cells[i].textContent;
        return up ? x.localeCompare(y) : y.localeCompare(x);
      }).forEach(function (r) { body.appendChild(r); });
    });
  });
  apply();
})();
</script>"""

_CLAIMS_STYLE = """<style>
.claims-page table { table-layout: fixed; width: 100%; border-collapse: collapse; font-size: 0.85em; }
.claims-page td, .claims-page th { vertical-align: top; padding: 4px 6px; overflow-wrap: anywhere;
  border-bottom: 1px solid #ddd; text-align: left; }
.claims-page th[data-sort] { cursor: pointer; }
.claims-page col.c-claim { width: 50%; } .claims-page col.c-verdict { width: 30%; }
.claims-page col.c-evidence { width: 20%; }
.claims-page .claims-tools { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
.claims-page .claims-tools input { flex: 1 1 16em; min-width: 0; }
.claims-page .id { font-family: monospace; font-size: 0.9em; color: #555; }
.claims-page .small { font-size: 0.9em; color: #444; }
.claims-page tr:target { background: #fff6d5; }
.claims-page .as-of { font-size: 0.9em; color: #a03c00; }
</style>"""


def _select(name: str, label: str, options) -> str:
    opts = "".join(f"<option value='{html.escape(o)}'>{html.escape(o)}</option>" for o in options)
    return f"<select class='claims-filter' name='{name}' aria-label='{label}'><option value=''>{label}: all</option>{opts}</select>"


def _sentence_parts(judged: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """id -> the other entries judging the same printed sentence, with their verdict kinds."""
    groups: dict[tuple, list[tuple[str, str]]] = {}
    for r in judged.itertuples():
        groups.setdefault((r.paper, r.statement), []).append((r.id, r.verdict_kind))
    return {cid: [o for o in rows if o[0] != cid] for rows in groups.values() if len(rows) > 1 for cid, _ in rows}


def _judges(claim_id: str) -> str:
    """What one entry of a shared sentence judges: its quantities and its name ("latency: ...")."""
    from ..claims import get_claim
    from ..claims.cells import claim_quantities

    claim = get_claim(claim_id)
    qs = ", ".join(sorted(claim_quantities(claim.args))) or claim.evaluate
    return f"{qs} ({claim_id.rsplit('.', 1)[-1].replace('_', ' ')})"


def claims_page_html(judged: pd.DataFrame, paper: str | None = None) -> str:
    """Every claim (or one paper's) as one row with its id as anchor (``claims.html#<id>``): the
    statement rendered, the verdict with its flip point and the paper check, the evidence linked to
    the chapter that shows it; a search box, filters by paper / chapter / verdict and sortable
    columns (a small inline script, offline). Three columns of fixed shares: no horizontal scroll."""
    from ..claims.verdicts import VERDICT_KINDS

    part = judged if paper is None else judged[judged.paper == paper]
    part = part.astype(object).where(part.notna(), None)
    siblings = _sentence_parts(judged)
    body = []
    for r in part.to_dict("records"):
        def esc(key):
            return html.escape("" if r.get(key) is None else str(r.get(key)))
        cid = esc("id")
        claim = (f"<a class='id' href='#{cid}'>{cid}</a> <span class='small'>{esc('where')}</span><br>"
                 f"{render_statement(r.get('statement'))}"
                 + (f"<br><span class='small'>printed: {esc('printed')}</span>" if r.get("printed") else ""))
        others = siblings.get(r.get("id"), [])
        if others:
            claim += (f"<br><span class='small'>this row judges: {html.escape(_judges(r.get('id')))}; the sentence "
                      "holds only if every part does: " + ", ".join(
                          f"<a href='#{html.escape(o)}'>{html.escape(_judges(o))}</a> ({html.escape(k)})"
                          for o, k in others) + "</span>")
        verdict = f"<strong>{esc('verdict')}</strong>"
        if r.get("as_of"):   # the chapter's newer run failed: this verdict is older than the page
            verdict += f"<br><span class='as-of'>{esc('as_of')}</span>"
        if r.get("flip"):
            verdict += f"<br><span class='small'>flip point: {esc('flip')}</span>"
        if r.get("threshold_source") == "reading" and r.get("threshold_why"):
            verdict += f"<br><span class='small'>threshold (our reading): {esc('threshold_why')}</span>"
        if r.get("paper_check"):
            verdict += f"<br><span class='small'>on the paper's numbers: {esc('paper_check')}</span>"
        if r.get("paper_cells"):
            verdict += f"<br><span class='small'>{esc('paper_cells')}</span>"
        chapter = esc("chapter")
        evidence = (f"<a href='{chapter}.html#{cid}'>{chapter}</a><br><span class='small'>{esc('kind')}</span>"
                    + (f"<br><span class='small'>{esc('ours')}</span>" if r.get("ours") else ""))
        kind = esc("verdict_kind")
        body.append(f"<tr id='{cid}' data-paper='{esc('paper')}' data-chapter='{chapter}' data-verdict='{kind}'>"
                    f"<td data-key='{cid}'>{claim}</td><td data-key='{kind}'>{verdict}</td>"
                    f"<td data-key='{chapter}'>{evidence}</td></tr>")
    tools = ("<div class='claims-tools'><input class='claims-search' type='search' "
             "placeholder='search statements, ids, verdicts' aria-label='search claims'>"
             + _select("paper", "paper", sorted(set(part.paper)))
             + _select("chapter", "chapter", [c.name for c in CHAPTERS if c.name in set(part.chapter)])
             + _select("verdict", "verdict", [k for k in VERDICT_KINDS if k in set(part.verdict_kind)])
             + "<span class='claims-count small'></span></div>")
    table = ("<table class='claims'><colgroup><col class='c-claim'><col class='c-verdict'><col class='c-evidence'>"
             "</colgroup><thead><tr><th data-sort='id'>claim</th><th data-sort='verdict'>verdict</th>"
             "<th data-sort='chapter'>evidence</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")
    return f"{_CLAIMS_STYLE}<div class='claims-page mathjax_process'>{tools}{table}</div>{_CLAIMS_SCRIPT}"


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
