"""E2GC chapter 1: Params and MACs of Tables III-IV, Table II on real layers, Fig. 3.

Every count is exact (forward hooks on the built models, :mod:`gconvlib.complexity`); the
paper's values are quoted from ``data/paper/values.csv``; E2GC counts parameters without
BatchNorm (that is the convention under which Tables III-IV's counts come out).
"""
from __future__ import annotations

import pandas as pd

from .. import complexity, plots, tables
from ..layers import ConvScheme, create_conv2d
from ..layers.factory import kind_label
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import EXACT, ChapterResult, count_evidence, layer_evidence, paper_side_by_side, verdict_counts
from ._claims import judge_chapter

NAME = "e2gc_complexity"
FAMILIES = {"mobilenet_v1": "Table III", "resnext50": "Table IV"}
VARIANTS = [f"e2gc:{G}" for G in (1, 2, 4, 8, 16, 32)] + [f"gc:{g}" for g in (2, 4, 8, 16, 32)]


def run(profile: str = "quick", table2_model: str = "mobilenet_v1", table2_group_size: int = 8,
        fig3_channels: int = 512, fig3_hw: int = 14, fig3_kernel: int = 3,
        store: ResultsStore | None = None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    cells = tables.reproduce_complexity("e2gc", store)
    for model, ref in FAMILIES.items():
        r.add_table(ref, paper_side_by_side(cells[cells.table == ref]),
                    f"{ref}: {model}, paper (quoted) vs counted (exact); Params without BatchNorm")
    odd = cells[cells.verdict != "exact"]
    r.add_table("not_exact", odd[["table", "model", "variant", "quantity", "paper_text", "counted", "verdict"]],
                "Cells whose count does not round to the printed value, with the full count")
    r.notes["verdicts"] = f"**{len(cells)} cells: {verdict_counts(cells)}.**"

    spec = ModelSpec(table2_model, f"e2gc:{table2_group_size}")
    check = pd.DataFrame(complexity.table2_check(spec.build("meta"), spec.input_size))
    r.add_table("table2", check, f"Table II formulas vs hook counts on every grouped conv of {spec.text}")
    same = check[check.same_size]
    agree = {"M_c": bool((check.macs == check.macs_formula).all()),
             "P": bool((check.params == check.params_formula).all()),
             "A (layers whose ifmap and ofmap have one size)": bool(
                 (same.activations == same.activations_formula).all())}
    r.notes["table2"] = "Formula equals hook count: " + ", ".join(
        f"**{k}: {'yes' if v else 'no'}**" for k, v in agree.items()) + "."

    curves = pd.DataFrame(complexity.fig3_curves(fig3_channels, fig3_channels, fig3_kernel, fig3_hw))
    r.data["fig3"] = curves
    r.add_table("fig3", curves.round(3), f"Fig. 3 values: n = m = {fig3_channels}, "
                f"{fig3_kernel}x{fig3_kernel} filters, {fig3_hw}x{fig3_hw} maps, normalized to G = 1")

    r.figures["fig2"] = figure_2
    r.figures["fig3"] = lambda: plots.fig3(curves, fig3_channels, fig3_hw, fig3_kernel)
    r.figures["fig4"] = figure_4

    evidence = [count_evidence(model, VARIANTS, store) for model in FAMILIES]
    structure = pd.concat([structure_evidence(model) for model in FAMILIES], ignore_index=True)
    evidence.append(structure)
    facts = structure.pivot(index="model", columns="quantity", values="value")
    r.add_table("structure", facts.astype({"conv_layers": int, "max_channels": int}).round(3).reset_index(),
                "The architectures' facts that Eq. 3 and Sec. V argue from, counted on the built baselines "
                "(G = 1): conv layers, the share of them with 1x1 or 3x3 kernels, the largest channel count")
    divisors = [g for g in range(1, 513) if 512 % g == 0]  # the claims' layer: Fig. 3's
    evidence.append(layer_evidence(512, 512, 3, 14, ["standard"] + [f"gc:{g}" for g in divisors]
                                   + [f"e2gc:{G}" for G in divisors]))
    evidence.append(layer_evidence(256, 512, 3, 14, ["standard", "gc:256"]))
    judge_chapter(r, evidence, store)
    return r


def structure_evidence(model_key: str) -> pd.DataFrame:
    """The facts of one architecture that E2GC's text argues from, as exact evidence of no variant:
    ``conv_layers`` (depth), ``conv_1x1_3x3_share`` (the share of conv layers whose kernel is 1x1 or
    3x3: Eq. 3 assumes one d_k, Sec. III-B) and ``max_channels`` (width: the largest m or n of a conv
    layer). Counted on the baseline (G = 1); grouping changes neither kernels nor channels."""
    spec = ModelSpec(model_key, "e2gc:1")
    convs = [s for s in complexity.layer_stats(spec.build("meta"), spec.input_size) if s.kind == "conv"]
    if not convs:
        raise ValueError(f"{spec.text} has no conv layer to count")
    values = {"conv_layers": len(convs),
              "conv_1x1_3x3_share": sum(s.kernel in (1, 3) for s in convs) / len(convs),
              "max_channels": max(max(s.in_channels, s.out_channels) for s in convs)}
    return pd.DataFrame([dict(model=model_key, variant=None, quantity=q, value=float(v), std=float("nan"), n=1,
                              kind=EXACT, spec=spec.text, source="counted on the model (forward hooks)")
                         for q, v in values.items()])


def figure_2(channels: int = 8, groups: int = 4):
    """E2GC Fig. 2: which ifmaps reach which ofmaps in SConv, GConv, DWConv, and GConv + 1x1."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
    for ax, (title, text) in zip(axes[:3], (("(a) SConv", "standard"), (f"(b) GConv, g = {groups}", f"gc:{groups}"),
                                            ("(c) DWConv (g = m)", f"gc:{channels}"))):
        plots.connectivity(create_conv2d(channels, channels, 3, scheme=ConvScheme.parse(text)), ax, title)
    plots.connectivity(create_conv2d(channels, channels, 1), axes[3], "(d) ... followed by a 1x1 conv")
    fig.tight_layout()
    return fig


def figure_4(G: int = 4, g: int = 32):
    """E2GC Fig. 4: the grouped convs of MobileNet-V1 with E2GC modules (G constant, g grows with the
    channels) and FgGC modules (g constant, G grows), read off the two models; and one E2GC module."""
    import matplotlib.pyplot as plt
    from torch import nn

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    specs = (ModelSpec(f"mobilenet_v1/e2gc:{G}"), ModelSpec(f"mobilenet_v1/gc:{g}"))
    plots.group_profile({spec.label: spec for spec in specs}, axes[:2])
    model = ModelSpec(f"mobilenet_v1/e2gc:{G}", input_size=32).build()
    plots.block_diagram(nn.Sequential(model.features[3], model.features[4]), axes[2],
                        f"one {kind_label('e2gc')} module (G = {G})")
    fig.tight_layout()
    return fig
