"""Figure helpers the notebooks share (seaborn on matplotlib)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")


def paper_vs_reproduced(table: pd.DataFrame, x: str = "variant", hue_order=None, title: str = "",
                        ylabel: str = "", ax=None):
    """Grouped bars: the paper's value (quoted) next to ours (exact/measured/scaled) per variant."""
    long = table.melt(id_vars=[x], value_vars=["paper_value", "reproduced_value"],
                      var_name="source", value_name="value")
    long["source"] = long["source"].map({"paper_value": "paper", "reproduced_value": "reproduced"})
    ax = ax or plt.subplots(figsize=(max(6, 0.55 * table[x].nunique() + 2), 3.6))[1]
    sns.barplot(long, x=x, y="value", hue="source", ax=ax, hue_order=hue_order)
    ax.set(title=title, xlabel="", ylabel=ylabel)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.figure.tight_layout()
    return ax


def fig3(curves: pd.DataFrame, n: int, hw: int, d_k: int):
    """E2GC Fig. 3: M_c and AI (left axis) and memory accesses (right axis) vs G, / DWConv."""
    fig, left = plt.subplots(figsize=(7, 3.8))
    left.plot(curves["G"], curves["macs"], "o-", label="$M_c$ / DWConv")
    left.plot(curves["G"], curves["arithmetic_intensity"], "s-", label="AI / DWConv")
    left.set(xscale="log", yscale="log", xlabel="group size G (channels per group)",
             ylabel="normalized to DWConv (G=1)")
    left.set_xticks(curves["G"], [str(g) for g in curves["G"]])
    right = left.twinx()
    right.plot(curves["G"], curves["memory_accesses"], "^--", color="C3", label="memory accesses (1/AI)")
    right.set(ylabel="memory accesses / DWConv")
    right.grid(False)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="center left", fontsize="small")
    left.set_title(f"n = m = {n}, {d_k}x{d_k} filters, {hw}x{hw} feature maps")
    fig.tight_layout()
    return fig
