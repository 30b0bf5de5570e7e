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


# -- architecture figures, drawn from the layers themselves -------------------------------------

def _group_colors(groups: int):
    return sns.color_palette("husl", n_colors=max(groups, 1))


def _channel_column(ax, x: float, n: int, label: str, colors=None, size: float = 60):
    ys = [1 - (i + 0.5) / n for i in range(n)]
    ax.scatter([x] * n, ys, s=size, c=colors if colors is not None else "0.35", zorder=3, edgecolors="k",
               linewidths=0.4)
    ax.text(x, 1.04, label, ha="center", va="bottom", fontsize=8)
    return ys


def connectivity(layer, ax=None, title: str = ""):
    """Which input channel reaches which output channel in one conv layer built by the factory.

    Read off the module: ``nn.Conv2d`` (its ``groups``), ``ShuffleConv2d`` (grouped conv, then the
    channel permutation), ``TwoLevelConv2d`` (fine groups, the restriction to one representative per
    group, and the dense coarse 1x1 from the representatives to every output)."""
    import torch
    from torch import nn

    from .layers import ShuffleConv2d, TwoLevelConv2d, channel_shuffle

    ax = ax or plt.subplots(figsize=(2.6, 2.6))[1]
    if isinstance(layer, TwoLevelConv2d):
        conv, cin, cout, g = None, layer.in_channels, layer.out_channels, layer.groups
    else:
        conv = layer.conv if isinstance(layer, ShuffleConv2d) else layer
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"no connectivity drawing for {type(layer).__name__}")
        cin, cout, g = conv.in_channels, conv.out_channels, conv.groups
    colors = _group_colors(g)
    in_group = [i * g // cin for i in range(cin)]
    out_group = [o * g // cout for o in range(cout)]
    order = list(range(cout))
    if isinstance(layer, ShuffleConv2d):  # where each grouped-conv output ends up
        order = channel_shuffle(torch.arange(cout, dtype=torch.float32).view(1, cout, 1, 1), g).flatten().long()
        order = torch.argsort(order).tolist()
    right = 2.0 if isinstance(layer, TwoLevelConv2d) else 1.0
    y_in = _channel_column(ax, 0.0, cin, "inputs", [colors[k] for k in in_group])
    y_out = _channel_column(ax, right, cout, "outputs", [colors[out_group[o]] for o in range(cout)])
    for o in range(cout):
        for i in range(cin):
            if in_group[i] == out_group[o]:
                ax.plot([0, right], [y_in[i], y_out[order[o]]], color=colors[out_group[o]], lw=0.8, alpha=0.7)
    if isinstance(layer, TwoLevelConv2d):
        y_rep = [0.5 + (g / 2 - k - 0.5) * 0.12 for k in range(g)]
        ax.scatter([1.0] * g, y_rep, s=80, marker="s", c=colors, edgecolors="k", zorder=3)
        ax.text(1.0, max(y_rep) + 0.08, "representatives", ha="center", fontsize=7)
        for i in range(cin):
            ax.plot([0, 1], [y_in[i], y_rep[in_group[i]]], color=colors[in_group[i]], lw=0.5, ls=":")
        for k in range(g):
            for o in range(cout):
                ax.plot([1, right], [y_rep[k], y_out[o]], color="0.4", lw=0.4, ls="--")
    ax.set(xlim=(-0.3, right + 0.3), ylim=(-0.05, 1.15), title=title)
    ax.title.set_fontsize(9)
    ax.axis("off")
    return ax


def group_profile(specs: dict, axes=None, title: str = ""):
    """Number of groups g (left) and group size G (right) of every grouped conv of each model:
    E2GC keeps G constant (g grows with the channels), FgGC keeps g constant (G grows)."""
    from .complexity import layer_stats

    if axes is None:
        axes = plt.subplots(1, 2, figsize=(9, 3.0), sharex=True)[1]
    for i, (label, spec) in enumerate(specs.items()):
        layers = [s for s in layer_stats(spec.build("meta"), spec.input_size) if s.kind == "conv" and s.groups > 1]
        x = range(1, len(layers) + 1)
        axes[0].plot(x, [s.groups for s in layers], "o-", color=f"C{i}", label=label)
        axes[1].plot(x, [s.in_channels // s.groups for s in layers], "s-", color=f"C{i}", label=label)
    axes[0].set(yscale="log", ylabel="groups g", xlabel="grouped conv layer (network order)")
    axes[1].set(yscale="log", ylabel="group size G (channels per group)", xlabel="grouped conv layer (network order)")
    axes[1].legend(fontsize="small")
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def _describe(m) -> str | None:
    """A short label for a conv-like layer, a norm or an activation; None for containers."""
    from torch import nn

    kinds = {"TwoLevelConv2d": "GC-2L", "ShuffleConv2d": "GConv+shuffle", "FLGCConv2d": "FLGC"}
    if isinstance(m, nn.Conv2d) or type(m).__name__ in kinds:
        conv = m if isinstance(m, nn.Conv2d) else next(c for c in m.modules() if isinstance(c, nn.Conv2d))
        k, g = conv.kernel_size[0], getattr(m, "groups", conv.groups)
        name = kinds.get(type(m).__name__, "conv" if g == 1 else "GConv")
        cin, cout = getattr(m, "in_channels", conv.in_channels), getattr(m, "out_channels", conv.out_channels)
        return f"{k}x{k} {name} {cin}->{cout}" + (f", g={g}" if g > 1 else "")
    return {nn.BatchNorm2d: "BN", nn.ReLU: "ReLU", nn.ReLU6: "ReLU6", nn.Dropout: "dropout"}.get(type(m))


def block_diagram(block, ax=None, title: str = ""):
    """The layers of one block (a residual unit, an inverted residual, a module) in the order a
    forward pass calls them (recorded with hooks), each box labelled from the module itself; the
    shortcut (projection or identity) drawn beside."""
    import torch
    from torch import nn

    shortcut = getattr(block, "shortcut", None)
    in_short = {id(m) for m in shortcut.modules()} if isinstance(shortcut, nn.Module) else set()
    main, short, handles, inside = [], [], [], set()
    for m in block.modules():
        label = _describe(m)
        if label is None or id(m) in inside:
            continue
        inside |= {id(c) for c in m.modules() if c is not m}
        target = short if id(m) in in_short else main
        handles.append(m.register_forward_hook(lambda mod, i, o, t=target, lab=label: t.append(lab)))
    first = next(m for m in block.modules() if hasattr(m, "in_channels") or hasattr(m, "num_features"))
    channels = getattr(first, "in_channels", None) or first.num_features
    device = next(block.parameters()).device
    try:
        with torch.no_grad():
            block.eval()(torch.zeros(1, channels, 8, 8, device=device))
    finally:
        for h in handles:
            h.remove()
    residual = hasattr(block, "shortcut") if not hasattr(block, "residual") else block.residual
    if not short and residual and (shortcut is None or isinstance(shortcut, nn.Identity)):
        short = ["identity"]
    ax = ax or plt.subplots(figsize=(4.4, 0.42 * (len(main) + 2)))[1]
    n = len(main)
    for i, label in enumerate(main):
        y = n - i
        ax.add_patch(plt.Rectangle((0.02, y - 0.35), 0.62, 0.7, fc="#dde8f4", ec="0.3"))
        ax.text(0.33, y, label, ha="center", va="center", fontsize=8)
        if i:
            ax.annotate("", (0.33, y + 0.35), (0.33, y + 0.65), arrowprops=dict(arrowstyle="<-", lw=0.8))
    if short:
        ax.add_patch(plt.Rectangle((0.68, n / 2 - 0.45), 0.31, 0.9, fc="#f4e8dd", ec="0.3"))
        ax.text(0.835, n / 2, "shortcut:\n" + "\n".join(short), ha="center", va="center", fontsize=7)
    ax.set(xlim=(0, 1), ylim=(0, n + 1), title=title)
    ax.title.set_fontsize(9)
    ax.axis("off")
    return ax
