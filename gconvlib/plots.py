"""Figure helpers the notebooks share (seaborn on matplotlib).

The book's look (seaborn's whitegrid style, notebook context, deep palette) is applied inside
:func:`theme` only: every helper here draws within it, and so does ``ChapterResult.figure``.
Importing this module leaves a user's matplotlib settings as they were.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .layers.factory import ConvScheme, kind_label

STYLE, CONTEXT, PALETTE = "whitegrid", "notebook", "deep"


@contextmanager
def theme():
    """The rcParams ``sns.set_theme(style, context, palette)`` would set, for the block only.

    Only those keys are put back afterwards. ``mpl.rc_context`` puts back every rcParam, the
    backend included: in a notebook that re-selects the inline backend, which closes the open
    figures and unhooks its display, so every later figure of the kernel was drawn and never shown
    (the book had the first figure of each chapter only)."""
    rc = {**sns.axes_style(STYLE), **sns.plotting_context(CONTEXT),
          "axes.prop_cycle": mpl.cycler(color=sns.color_palette(PALETTE))}
    before = {key: mpl.rcParams[key] for key in rc}
    mpl.rcParams.update(rc)
    try:
        yield
    finally:
        mpl.rcParams.update(before)


def themed(draw):
    """Draw inside :func:`theme` (a decorator for the figure helpers)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with theme():
            return draw(*args, **kwargs)
    return wrapper


def _kind(variant: str) -> str:
    """The scheme kind of a variant's text form (``gc2l:8:unfused`` -> ``gc2l``), read by ConvScheme."""
    return ConvScheme.parse(variant).kind


@themed
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


@themed
def training_curves(curves: pd.DataFrame, metrics=("train_loss", "val_loss", "train_acc", "val_acc"),
                    title: str = "", hue: str = "label", hue_order=None, col_wrap: int | None = None):
    """Per-epoch curves (VGG Figs. 3-8, GC-2L Fig. 4): one line per variant, the mean over seeds,
    the band the seeds' min to max. ``curves``: the long frame of
    :func:`gconvlib.chapters._runs.curves` (variant, label, seed, epoch, metric, value);
    accuracies are in %."""
    frame = curves[curves.metric.isin(metrics)]
    names = {"train_loss": "training loss", "val_loss": "validation loss", "train_acc": "training accuracy (%)",
             "val_acc": "validation accuracy (%)"}
    frame = frame.assign(metric=frame.metric.map(lambda m: names.get(m, m)))
    grid = sns.relplot(frame, x="epoch", y="value", hue=hue, hue_order=hue_order, col="metric",
                       col_order=[names.get(m, m) for m in metrics], col_wrap=col_wrap or min(len(metrics), 2),
                       kind="line", errorbar=("pi", 100), facet_kws=dict(sharey=False), height=2.8, aspect=1.4)
    grid.set_titles("{col_name}")
    grid.set_ylabels("")
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid


@themed
def metric_vs_groups(summary: pd.DataFrame, metric: str = "error", ylabel: str = "test error (%)",
                     title: str = "", paper: pd.DataFrame | None = None, reference: str | None = "standard",
                     x_label: str = "groups g", ax=None, paper_name: str | None = None):
    """Error (or top-1) against the group parameter, one line per scheme (GC-2L Figs. 5 and 7,
    E2GC top-1 against G and g): ours as mean ± std over seeds (columns variant, k,
    ``<metric>_mean``, ``<metric>_std``), the reference variant (SC) as a horizontal band, and the
    paper's printed values as dashed lines on a second axis when given (columns variant, k, value):
    scaled-down and published absolute values are not comparable, only their shapes. ``paper_name``:
    the paper whose names the legend uses (``e2gc``: FgGC for GC), see ``factory.kind_label``."""
    ax = ax or plt.subplots(figsize=(6.8, 3.8))[1]
    rows = summary.assign(kind=summary.variant.map(_kind))
    grouped = rows[rows.k.notna() & (rows.variant != reference)].sort_values("k")
    ours_handles = []
    for i, (kind, part) in enumerate(grouped.groupby("kind", sort=False)):
        h = ax.errorbar(part.k, part[f"{metric}_mean"], yerr=part[f"{metric}_std"].fillna(0), marker="o",
                        capsize=3, color=f"C{i}", label=f"{kind_label(kind, paper_name)} (ours)")
        ours_handles.append(h)
    if reference is not None and (rows.variant == reference).any():
        ref = rows[rows.variant == reference].iloc[0]
        m, s = ref[f"{metric}_mean"], 0 if pd.isna(ref[f"{metric}_std"]) else ref[f"{metric}_std"]
        ax.axhline(m, color="0.3", lw=1, label=f"{ref.label} (ours)")
        ax.axhspan(m - s, m + s, color="0.5", alpha=0.15)
    ax.set(xscale="log", xlabel=x_label, ylabel=f"{ylabel}, ours", title=title)
    ticks = set(grouped.k.dropna().astype(int)) | (set(paper.k.dropna().astype(int)) if paper is not None else set())
    ticks = sorted(ticks)
    if ticks:
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    handles, labels = ax.get_legend_handles_labels()
    if paper is not None and len(paper):
        right = ax.twinx()
        kinds = list(dict.fromkeys(grouped.kind))
        p = paper.assign(kind=paper.variant.map(_kind))
        for kind, part in p[p.k.notna()].sort_values("k").groupby("kind", sort=False):
            color = f"C{kinds.index(kind)}" if kind in kinds else f"C{len(kinds) + 1}"
            right.plot(part.k, part.value, "--", marker="x", color=color, alpha=0.6,
                       label=f"{kind_label(kind, paper_name)} (paper)")
        right.set_ylabel(f"{ylabel}, paper (dashed)")
        right.grid(False)
        h2, l2 = right.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize="x-small", ncol=2)
    ax.figure.tight_layout()
    return ax.figure


@themed
def accuracy_bars(summary: pd.DataFrame, metric: str = "test_acc", order=None, ylabel: str = "test accuracy (%)",
                  title: str = "", printed: dict | None = None):
    """VGG Fig. 9: one bar per scheme, mean ± std over seeds; the paper's printed change against the
    baseline (``printed``: variant -> points) written above the bars it exists for."""
    order = order or list(summary.variant)
    rows = summary.set_index("variant").loc[[v for v in order if v in set(summary.variant)]]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar(rows.index, rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0), capsize=4, color="C2",
           alpha=0.8)
    base = rows[f"{metric}_mean"].get("baseline")
    for i, (variant, row) in enumerate(rows.iterrows()):
        text = ""
        if base is not None and variant != "baseline":
            text = f"{row[f'{metric}_mean'] - base:+.1f}"
        if printed and variant in printed:
            text += f"\n(paper {printed[variant]:+.2f})"
        if text:
            ax.text(i, row[f"{metric}_mean"] + (row[f"{metric}_std"] if pd.notna(row[f"{metric}_std"]) else 0) + 1,
                    text, ha="center", va="bottom", fontsize=7)
    ax.set(ylabel=ylabel, xlabel="", title=title, ylim=(0, min(100, rows[f"{metric}_mean"].max() * 1.25 + 5)))
    fig.tight_layout()
    return fig


@themed
def samples_grid(images, labels, title: str = "", per_class: int = 4, classes: int = 8, names=None):
    """A grid of images (VGG Fig. 1): ``per_class`` samples of each of the first ``classes`` classes,
    one column per class. ``images``: (N, C, H, W) uint8 or float in [0, 1]."""
    import numpy as np

    labels = np.asarray(labels)
    picked = [c for c in sorted(set(labels.tolist()))][:classes]
    fig, axes = plt.subplots(per_class, len(picked), figsize=(1.1 * len(picked), 1.1 * per_class + 0.4),
                             squeeze=False)
    for j, c in enumerate(picked):
        idx = np.flatnonzero(labels == c)[:per_class]
        for i in range(per_class):
            ax = axes[i][j]
            ax.axis("off")
            if i < len(idx):
                img = np.asarray(images[idx[i]], dtype=float)
                img = img / 255 if img.max() > 1.5 else img
                img = img.transpose(1, 2, 0)
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        axes[0][j].set_title(str(names[c]) if names is not None else str(c), fontsize=7)
    if title:
        import textwrap

        fig.suptitle("\n".join(textwrap.wrap(title, 15 * len(picked))), fontsize=9)
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


@themed
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


@themed
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

    kinds = {"TwoLevelConv2d": kind_label("gc2l"), "ShuffleConv2d": "GConv+shuffle", "FLGCConv2d": kind_label("flgc")}
    if isinstance(m, nn.Conv2d) or type(m).__name__ in kinds:
        conv = m if isinstance(m, nn.Conv2d) else next(c for c in m.modules() if isinstance(c, nn.Conv2d))
        k, g = conv.kernel_size[0], getattr(m, "groups", conv.groups)
        name = kinds.get(type(m).__name__, "conv" if g == 1 else "GConv")
        cin, cout = getattr(m, "in_channels", conv.in_channels), getattr(m, "out_channels", conv.out_channels)
        return f"{k}x{k} {name} {cin}->{cout}" + (f", g={g}" if g > 1 else "")
    return {nn.BatchNorm2d: "BN", nn.ReLU: "ReLU", nn.ReLU6: "ReLU6", nn.Dropout: "dropout"}.get(type(m))


@themed
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
