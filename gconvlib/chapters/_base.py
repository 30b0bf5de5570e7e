"""What every chapter returns, and the pieces several chapters share.

A chapter module has one entry point, ``run(profile=..., **parameters) -> ChapterResult``: it
computes (or reads from the results store) everything its book page shows: tables, the data of
its figures, the evidence its claims are judged on, and the judged claims themselves. The
notebook only sets parameters, calls ``run``, displays and explains.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from ..store import ResultsStore, git_state
from ..value_kinds import EXACT, MEASURED, MEASURED_HERE, QUOTED, SCALED  # noqa: F401  (the chapters' import)
from . import CHAPTER_KIND


def provenance_line(profile: str) -> str:
    state = git_state()
    commit = (state["commit"] or "unknown")[:10] + (" (dirty)" if state["dirty"] else "")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Executed {now}, profile `{profile}`, commit `{commit}`."


#: ``run`` arguments a chapter's record leaves out: ``profile`` has its own field; the stores say where
#: results are kept, not which were computed, and ``progress`` only how the run reports itself.
NOT_RECORDED = ("profile", "store", "reference_store", "progress")


def _recordable(value):
    """``value`` as the JSON the store writes (tuples as lists, paths as text); an object passed in
    (a test's reference table) by its type only, so that the record says one replaced the default."""
    return json.loads(json.dumps(value, default=lambda o: str(o) if isinstance(o, Path) else f"<{type(o).__name__}>"))


@dataclass
class ChapterResult:
    """Tables, figure data, notes and judged claims of one chapter.

    A chapter's ``run`` makes it with :meth:`called` from the arguments it received, so that its
    recorded parameters are never a second, hand-kept spelling of its signature. ``parameters`` is
    their JSON form (the record); ``arguments`` the values themselves, which the chapter computes
    with (a ``range`` or an array of seeds is recorded as its type name but planned as what it holds).
    """

    chapter: str
    profile: str
    parameters: dict = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Callable] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    evidence: Any = None
    claims: pd.DataFrame | None = None
    arguments: dict = field(default_factory=dict, repr=False)

    @classmethod
    def called(cls, chapter: str, arguments: Mapping) -> "ChapterResult":
        """The result of ``chapter``'s ``run`` called with ``arguments``: ``run`` passes ``locals()`` as
        its first statement, i.e. exactly the arguments it received (defaults included). Each is
        recorded except :data:`NOT_RECORDED`; tests/test_parameters.py checks this for every chapter."""
        kept = {k: v for k, v in arguments.items() if k not in NOT_RECORDED}
        return cls(chapter, arguments["profile"], {k: _recordable(v) for k, v in kept.items()}, arguments=kept)

    def add_table(self, name: str, frame: pd.DataFrame, caption: str = "") -> pd.DataFrame:
        self.tables[name], self.captions[name] = frame, caption
        return frame

    # -- display (the notebooks call these) -------------------------------------------------
    def table(self, name: str, precision: int = 3):
        """The table as a styled HTML table (scrolls sideways in the book when wide)."""
        frame = self.tables[name]
        styler = frame.style.format(precision=precision, na_rep="—").hide(axis="index")
        if self.captions.get(name):
            styler = styler.set_caption(html.escape(self.captions[name]))
        return styler

    def figure(self, name: str):
        """Draw one of the chapter's figures (matplotlib; the notebook shows it) in the book's theme."""
        from ..plots import theme

        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        with theme():
            drawn = self.figures[name]()
        if drawn is None:   # a figure function returns None when nothing it plots ran
            from IPython.display import Markdown

            return Markdown(f"*{NOT_DRAWN}*")
        fig = getattr(drawn, "figure", drawn)   # a seaborn grid or an Axes holds its Figure
        if not isinstance(fig, Figure):
            return drawn
        # shown once: as the cell's result or by display(); left open, the inline backend would
        # show it again at the end of the cell
        plt.close(fig)
        return fig

    def note(self, name: str):
        from IPython.display import Markdown

        return Markdown(self.notes[name])

    def header(self):
        from IPython.display import Markdown

        return Markdown(provenance_line(self.profile))

    def claims_table(self, columns=("where", "statement", "printed", "ours", "kind", "verdict")):
        from ..claims import claims_html

        from IPython.display import HTML

        return HTML(claims_html(self.claims, columns))

    def claims_summary(self):
        from IPython.display import Markdown

        from ..claims import verdict_sentence

        return Markdown(verdict_sentence(self.claims))

    # -- the record the landing and claims pages read -----------------------------------------
    def record(self, store: ResultsStore | None = None) -> dict:
        claims = [] if self.claims is None else self.claims.astype(object).where(self.claims.notna(), None)
        rows = [] if isinstance(claims, list) else claims.to_dict("records")
        return (store or ResultsStore()).put(CHAPTER_KIND, {"chapter": self.chapter, "profile": self.profile},
                                             {"claims": rows, "parameters": self.parameters}, self.profile)


NOT_DRAWN = "Not drawn: nothing this figure shows ran with this profile's parameters."


def protocol_sentence(protocol) -> str:
    """The EPF protocol a measurement made here used (an :class:`~gconvlib.measure.protocol.EpfProtocol`),
    in words: a chapter's knob left at None says only "the default", the page says which."""
    steps = f"{protocol.warmup_steps} warm-up step{'' if protocol.warmup_steps == 1 else 's'}"
    return (f"Protocol: {steps}, then {protocol.min_trials}-{protocol.max_trials} "
            f"windows of {protocol.window_s:g} s per cell (fewer than the most once their CV is at most "
            f"{100 * protocol.target_cv:g} %).")


# -- exact counts as evidence ------------------------------------------------------------------

def count_evidence(model_key: str, schemes, store: ResultsStore | None = None, **spec_fields) -> pd.DataFrame:
    """Params (in the paper's convention: E2GC without BatchNorm, GC-2L and VGG with it) and MACs
    of each scheme of ``model_key`` (values.csv naming, e.g. ``wrn28_10``), as exact evidence."""
    from ..complexity import count_spec
    from ..models import ModelSpec
    from ..paper import PARAM_CONVENTION

    rows = []
    for scheme in schemes:
        spec = ModelSpec(model_key, scheme, **spec_fields)
        counted = count_spec(spec, store)
        params = counted[PARAM_CONVENTION[spec.paper]]
        for quantity, value in (("params", params), ("macs", counted["macs"])):
            rows.append(dict(model=model_key, variant=spec.scheme, quantity=quantity, value=float(value),
                             std=float("nan"), n=1, kind=EXACT, spec=spec.text,
                             source="counted on the model (forward hooks)"))
    return pd.DataFrame(rows)


def paper_side_by_side(cells: pd.DataFrame) -> pd.DataFrame:
    """Complexity cells (one row per published cell, see :func:`gconvlib.tables.reproduce_complexity`)
    as one row per variant: each quantity's paper value (quoted), ours (exact) and verdict."""
    parts = []
    for quantity, part in cells.groupby("quantity", sort=False):
        unit = part["unit"].iloc[0]
        name = {"params": "Params", "macs": "MACs"}.get(quantity, quantity)
        parts.append(part.set_index("variant")[["paper_text", "reproduced_value", "verdict"]].rename(columns={
            "paper_text": f"{name} ({unit}), paper (quoted)",
            "reproduced_value": f"{name} ({unit}), ours (exact)",
            "verdict": f"{name} verdict"}))
    return pd.concat(parts, axis=1).reset_index()


def verdict_counts(table: pd.DataFrame, column: str = "verdict") -> str:
    """'42 exact, 2 truncated': a sentence fragment computed from a table."""
    return ", ".join(f"{n} {v}" for v, n in table[column].value_counts().items())


def layer_evidence(m: int, n: int, k: int, hw: int, schemes) -> pd.DataFrame:
    """One conv layer (E2GC Fig. 3's kind: m -> n channels, k x k, hw x hw maps) built by the factory
    for each scheme and counted with hooks: macs, params, activations (ifmaps + ofmaps), ai, and the
    MACs of one group (macs / g)."""
    import torch
    from torch import nn

    from ..claims.evidence import layer_model
    from ..complexity import layer_stats
    from ..layers import ConvScheme, create_conv2d

    rows = []
    for text in schemes:
        scheme = ConvScheme.parse(text)
        with torch.device("meta"):
            layer = nn.Sequential(create_conv2d(m, n, k, scheme=scheme))
        s = layer_stats(layer, hw, in_channels=m)[0]
        values = dict(macs=s.macs, params=s.params, activations=s.activations, ai=s.arithmetic_intensity,
                      macs_per_group=s.macs / s.groups)
        rows += [dict(model=layer_model(m, n, k, hw), variant=scheme.text, quantity=q, value=float(v),
                      kind=EXACT, source="one conv layer built by the factory, counted with hooks")
                 for q, v in values.items()]
    return pd.DataFrame(rows)
