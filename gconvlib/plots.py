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


def training_curves(records: list[dict], metrics=("train_loss", "val_loss", "train_acc", "val_acc"),
                    title: str = ""):
    """Per-epoch curves of several runs (one line per variant; seeds averaged, band = spread)."""
    rows = []
    for rec in records:
        res = rec["result"]
        for i, epoch in enumerate(res["curves"]["epoch"]):
            for m in metrics:
                rows.append(dict(variant=res["label"], seed=rec["spec"]["seed"], epoch=epoch, metric=m,
                                 value=res["curves"][m][i]))
    frame = pd.DataFrame(rows)
    grid = sns.relplot(frame, x="epoch", y="value", hue="variant", col="metric", col_wrap=min(len(metrics), 2),
                       kind="line", errorbar=("pi", 100), facet_kws=dict(sharey=False), height=2.8, aspect=1.4)
    grid.set_titles("{col_name}")
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid


def metric_vs_groups(summary: pd.DataFrame, metric: str = "error_pct_mean", spread: str | None = "error_pct_std",
                     ylabel: str = "test error (%)", title: str = "", paper: pd.DataFrame | None = None):
    """Error (or accuracy) against the number of groups g, one line per scheme (GC-2L Figs. 5, 7);
    the paper's values as dashed lines when given (columns scheme, k, value)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, (scheme, rows) in enumerate(summary[summary.k.notna()].sort_values("k").groupby("scheme", sort=False)):
        ax.errorbar(rows.k, rows[metric], yerr=rows[spread] if spread else None, marker="o", capsize=3,
                    label=f"{scheme} (ours)", color=f"C{i}")
        if paper is not None:
            p = paper[paper.scheme == scheme].sort_values("k")
            if len(p):
                ax.plot(p.k, p.value, "--", marker="x", color=f"C{i}", alpha=0.6, label=f"{scheme} (paper)")
    ax.set(xscale="log", xlabel="groups g", ylabel=ylabel, title=title)
    ticks = sorted(summary.k.dropna().unique())
    ax.set_xticks(ticks, [str(int(t)) for t in ticks])
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return fig
