"""GC-2L chapter 1: the parameter columns of Tables 1-4 and what each processor holds.

Counts are exact (hooks on the built models; WRN-28-80 is built on the meta device, so its
2.3 B parameters cost nothing); GC-2L counts parameters with BatchNorm. Tables 1 and 3 head
the column "parameters per processor" but print whole-model totals; the per-processor counts
(what each of g processors holds when it owns one group, GC-2L Sec. 3.2) are derived beside.
"""
from __future__ import annotations

import pandas as pd

from .. import complexity, plots, tables
from ..layers import ConvScheme, TwoLevelConv2d, create_conv2d
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import EXACT, ChapterResult, count_evidence, paper_side_by_side, verdict_counts
from ._claims import judge_chapter

NAME = "gc2l_complexity"
GROUPS = {"wrn28_10": (2, 4, 8, 16), "wrn34_2": (2, 4, 8, 16), "mobilenet_v2": (2, 4, 8)}
KINDS = ("gc", "gc2l", "shuffle", "flgc")


def variants(model_key: str) -> list[str]:
    return ["standard"] + [f"{kind}:{g}" for g in GROUPS[model_key] for kind in KINDS]


def per_processor(spec: ModelSpec) -> int:
    """Parameters one of g processors holds (grouped parts split, the rest replicated)."""
    return complexity.per_processor_params(spec.build("meta"), spec.k or 1)


def coarse_fraction(spec: ModelSpec) -> float:
    """Largest g / C_in over the GC-2L layers: the coarse space's share of a layer's input channels."""
    layers = [m for m in spec.build("meta").modules() if isinstance(m, TwoLevelConv2d)]
    return max(m.groups / m.in_channels for m in layers)


def _extra_evidence(model_key: str, store) -> pd.DataFrame:
    rows = []
    for text in variants(model_key):
        spec = ModelSpec(model_key, text)
        common = dict(model=model_key, variant=spec.scheme, std=float("nan"), n=1, kind=EXACT, spec=spec.text)
        counted = complexity.count_spec(spec, store)
        rows.append(dict(common, quantity="train_params", value=float(counted["params_trained"]),
                         source="every parameter held while training (FLGC: dense weight and group logits)"))
        if spec.kind in ("standard", "gc", "gc2l"):
            rows.append(dict(common, quantity="params_per_processor", value=float(per_processor(spec)),
                             source="grouped and two-level convs split over g processors, the rest replicated"))
        if spec.kind == "gc2l":
            rows.append(dict(common, quantity="coarse_dim_fraction", value=coarse_fraction(spec),
                             source="max over GC-2L layers of g / C_in"))
    return pd.DataFrame(rows)


def run(profile: str = "quick", store: ResultsStore | None = None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    cells = tables.reproduce_complexity("gc2l", store)
    for ref, caption in (("Table 1", "SC, GC and GC-2L (WRN-28-10 on CIFAR, WRN-34-2 on ImageNet)"),
                         ("Table 3", "GC, Shuffle, FLGC and GC-2L (WRN-28-10, WRN-34-2)"),
                         ("Table 4", "MobileNetV2: SC, GC, Shuffle, FLGC and GC-2L")):
        part = cells[cells.table == ref]
        frame = pd.concat([paper_side_by_side(p).assign(model=m) for m, p in part.groupby("model", sort=False)])
        r.add_table(ref, frame[["model", *[c for c in frame.columns if c != "model"]]],
                    f"{ref}: {caption}; paper (quoted) vs counted (exact), Params with BatchNorm")

    t2 = cells[cells.table == "Table 2"].copy()
    specs = [ModelSpec.parse(text) for text in t2.spec]
    t2["processors"] = [spec.k or 1 for spec in specs]  # SC runs on one processor, GC-2L g on g
    t2["per processor (M, exact, derived)"] = [round(per_processor(spec) / 1e6, 2) for spec in specs]
    r.add_table("Table 2", t2[["model", "variant", "processors", "paper_text", "reproduced_value", "verdict",
                               "per processor (M, exact, derived)"]].rename(columns={
        "paper_text": "Params (M), paper (quoted)", "reproduced_value": "Params (M), ours (exact)"}),
        "Table 2: WRN-28-k with SC (1 processor) and GC-2L with g = processors: totals as printed, "
        "and what each processor holds")
    r.notes["verdicts"] = f"**{len(cells)} cells: {verdict_counts(cells)}.**"

    r.figures["fig2"] = figure_2
    r.figures["fig3_6"] = figure_3_6

    evidence = [count_evidence(model, variants(model), store) for model in GROUPS]
    evidence += [_extra_evidence(model, store) for model in GROUPS]
    judge_chapter(r, evidence, store)
    return r


def figure_2(channels: int = 8, groups: int = 4):
    """GC-2L Figs. 1-2: GC (one-level) next to GC-2L: fine groups, one representative per group
    (restriction), and the dense coarse 1x1 from the representatives to every output."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0), gridspec_kw={"width_ratios": [1, 1.6]})
    plots.connectivity(create_conv2d(channels, channels, 3, scheme=ConvScheme("gc", groups=groups)), axes[0],
                       f"GC, g = {groups}")
    plots.connectivity(create_conv2d(channels, channels, 3, scheme=ConvScheme("gc2l", groups=groups)), axes[1],
                       f"GC-2L, g = {groups}: fine + restrict -> coarse")
    fig.tight_layout()
    return fig


def figure_3_6(groups: int = 4):
    """GC-2L Fig. 3 (a residual unit of WideResNet) and Fig. 6 (MobileNetV2's inverted residual block),
    each with GC-2L convs, read off the models (WRN-28-10's first unit; a stride-1 MobileNetV2 block)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    wrn = ModelSpec(f"wrn28_10/gc2l:{groups}").build()
    plots.block_diagram(wrn.blocks[0], axes[0], f"Fig. 3: WRN-28-10 residual unit, GC-2L g = {groups}")
    mnv2 = ModelSpec(f"mobilenet_v2/gc2l:{groups}", input_size=32).build()
    plots.block_diagram(mnv2.features[3], axes[1], f"Fig. 6: MobileNetV2 inverted residual, GC-2L g = {groups}")
    fig.tight_layout()
    return fig
