"""E2GC chapter 2: the optimum-group-size model (Sec. III, Eqs. 1-4) as code, fitted to the EPF tables.

Table I (standard convolution) beside Table II (grouped), the balanced g and G of Eqs. 2-4 per
layer of the two networks, and the model's energy reading fitted by least squares to the quoted
P100 and P4000 EPF tables (and to GPU reference results when they are committed): the fitted
constants with their standard errors, the predicted optimum G next to the printed one, and the
leave-one-variant-out prediction error. :mod:`gconvlib.group_size` holds the model and says what
had to be interpreted.
"""
from __future__ import annotations

import pandas as pd

from .. import group_size as gs
from ..complexity import layer_stats
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import EXACT, ChapterResult
from ._claims import judge_chapter

NAME = "e2gc_group_size"
MODELS = ("mobilenet_v1", "resnext50")
FIT_COLUMNS = ["device", "model", "batch_size", "beta", "beta_se", "scale", "scale_se", "offset_mj", "offset_se",
               "r2", "mape_pct", "beta_in_paper_range", "offset_nonneg"]


def width_doubling(model_key: str) -> pd.DataFrame:
    """At every stride-2 grouped 3x3 layer: the next 1x1 conv's output channels / the block's input
    channels (Eq. 4's premise: n doubles where the feature map halves)."""
    spec = ModelSpec(model_key)
    stats = [s for s in layer_stats(spec.build("meta"), spec.input_size) if s.kind == "conv"]
    rows = []
    for i, s in enumerate(stats):
        if s.kernel == 3 and s.groups > 1 and s.stride == 2:
            nxt = next(t for t in stats[i + 1:] if t.kernel == 1)
            rows.append(dict(model=model_key, layer=s.name, in_channels=s.in_channels, hw=f"{s.out_hw[0]}",
                             next_1x1_out=nxt.out_channels, ratio=nxt.out_channels / s.in_channels))
    return pd.DataFrame(rows)


def run(profile: str = "quick", layer_m: int = 512, layer_n: int = 512, layer_kernel: int = 3, layer_hw: int = 14,
        table2_groups: int = 8, fit_by: str = "model,device,batch_size", store: ResultsStore | None = None,
        reference: pd.DataFrame | None = None) -> ChapterResult:
    r = ChapterResult(NAME, profile, dict(layer=f"m={layer_m}, n={layer_n}, {layer_kernel}x{layer_kernel}, "
                                                f"{layer_hw}x{layer_hw}", table2_groups=table2_groups, fit_by=fit_by))
    layer = gs.Layer(layer_m, layer_n, layer_kernel, layer_hw, layer_hw)
    r.add_table("tables_I_II", gs.tables_side_by_side(layer, table2_groups),
                f"Table I (standard convolution) beside Table II (grouped, g = {table2_groups}) for one layer")

    frames = {"paper (quoted)": gs.paper_epf_frame()}
    if reference is None:  # the committed GPU reference results, when there are any
        from ..measure.sources import e2gc_epf_reference

        reference = e2gc_epf_reference()
    if len(reference):
        frames["GPU reference (measured)"] = gs.normalize_frame(reference)
    by = tuple(s.strip() for s in fit_by.split(","))
    fits, optima, loos = [], [], []
    for source, frame in frames.items():
        fit = gs.fit_epf(frame, by=by)
        fits.append(fit.assign(source=source))
        optima.append(gs.optimum_table(frame, fit).assign(source=source))
        loos.append(gs.loo_summary(gs.leave_one_out(frame, by=by)).assign(source=source))
    fit, optimum, loo = (pd.concat(x, ignore_index=True) for x in (fits, optima, loos))
    r.data.update(fit=fit, frames=frames)
    r.add_table("fit", fit[["source", *FIT_COLUMNS]], "Constants fitted by least squares, per "
                f"({', '.join(by)}), with standard errors; beta_in_paper_range: the paper allows 0 < beta <= 1")
    r.add_table("optimum", optimum[["source", "device", "batch_size", "model", "scheme", "ks", "measured_k",
                                    "predicted_k", "agree", "predicted_k_extended", "extended_range"]],
                "Optimum group parameter (G for E2GC, g for FgGC): printed minimum vs the fitted model's")
    r.add_table("loo", loo, "Leave-one-variant-out: mean absolute % error of the model predicting a left-out "
                "variant, against two baselines (mean of the others; a line in MACs)")
    agree = optimum[optimum.source == "paper (quoted)"]
    r.notes["failures"] = _failures(fit[fit.source == "paper (quoted)"], agree)

    ref_fit = fit[(fit.source == "paper (quoted)") & (fit.device == "P100") & (fit.batch_size == 1)]
    per_layer = []
    for model in MODELS:
        row = ref_fit[ref_fit.model == model].iloc[0]
        constants = gs.Constants(beta=float(row.beta), scale=float(row.scale), offset=float(row.offset_mj))
        per_layer.append(gs.per_layer_optimum(model, constants, 1)[
            ["model", "layer", "m", "n", "h", "w", "eq2_G_rel", "eq3_G_rel", "energy_G_best"]])
    r.add_table("per_layer", pd.concat(per_layer, ignore_index=True),
                "Per grouped layer: Eq. 2's balanced G relative to the first layer (beta = the P100 B=1 fit), "
                "Eq. 3's (beta = 0.5), and the energy-optimal G of the fitted model")
    r.add_table("width", pd.concat([width_doubling(m) for m in MODELS], ignore_index=True),
                "Eq. 4's premise, read off the models: channels double where the feature map halves")
    r.figures["fit"] = lambda: _fit_figure(r.data["frames"], r.data["fit"], by)
    r.figures["grid"] = grid_figure

    width = pd.concat([width_doubling(m) for m in MODELS], ignore_index=True)
    evidence = pd.concat([width.assign(quantity=q, value=width[col].astype(float)) for q, col in
                          (("next_out_channels", "next_1x1_out"), ("in_channels", "in_channels"))])
    evidence = evidence.assign(part=evidence.layer, variant=None, kind=EXACT, source="read off the model's layers")[
        ["model", "variant", "quantity", "value", "part", "kind", "source"]]
    judge_chapter(r, [evidence], store)
    return r


def _failures(fit: pd.DataFrame, optimum: pd.DataFrame) -> str:
    inside = int(fit.beta_in_paper_range.sum())
    fg = optimum[optimum.scheme == "fggc"]
    return (f"**Where the model fails.** With beta free, {inside} of {len(fit)} fits land inside the paper's "
            f"range 0 < beta <= 1 (fitted beta {fit.beta.min():.2f} to {fit.beta.max():.2f}); "
            f"{int((~fit.offset_nonneg).sum())} fits need a negative offset (energy below zero for an empty "
            f"network), which no physical reading allows. It places the FgGC optimum where the paper measured it "
            f"in {int(fg.agree.sum())} of {len(fg)} device/batch/model cases; the E2GC optimum (G = 32, the edge "
            f"of the printed grid) it reproduces in {int(optimum[optimum.scheme == 'e2gc'].agree.sum())} of "
            f"{int((optimum.scheme == 'e2gc').sum())}, which a model whose cost just falls with G would too.")


def _fit_figure(frames: dict, fit: pd.DataFrame, by):
    """Printed (or measured) EPF against G / g, with the fitted model's curve, per device and batch."""
    import matplotlib.pyplot as plt

    frame, fitted = frames["paper (quoted)"], fit[fit.source == "paper (quoted)"]
    devices, batches = sorted(frame.device.unique()), sorted(frame.batch_size.unique())
    fig, axes = plt.subplots(len(devices) * len(MODELS), len(batches), figsize=(3.2 * len(batches),
                             2.4 * len(devices) * len(MODELS)), squeeze=False)
    predicted = gs.predict_epf(fitted, frame)
    data = frame.assign(predicted=predicted.values)
    for i, (device, model) in enumerate((d, m) for d in devices for m in MODELS):
        for j, b in enumerate(batches):
            ax = axes[i][j]
            part = data[(data.device == device) & (data.model == model) & (data.batch_size == b)]
            for scheme, style, name in (("e2gc", "s", "E2GC"), ("fggc", "o", "FgGC")):
                s = part[part.scheme == scheme].sort_values("k")
                ax.plot(s.k, s.epf, style, color="C0" if scheme == "e2gc" else "C1", label=f"{name} printed")
                ax.plot(s.k, s.predicted, "-", color="C0" if scheme == "e2gc" else "C1", lw=1, label=f"{name} model")
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
            ax.set_title(f"{model}, {device}, B={b}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6)
    fig.supxlabel("G (E2GC) or g (FgGC)")
    fig.supylabel("EPF (mJ)")
    fig.tight_layout()
    return fig


def grid_figure(model: str = "mobilenet_v1", betas=(0.5, 1.0, 1.5, 2.0), batch_sizes=(1, 16)):
    """The model's EPF reading against G and g for a grid of beta and B (what the sliders of
    :func:`interactive` show live), on an arbitrary energy scale."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(batch_sizes), len(betas), figsize=(2.8 * len(betas), 2.4 * len(batch_sizes)),
                             squeeze=False, sharex=True)
    for i, b in enumerate(batch_sizes):
        for j, beta in enumerate(betas):
            ax = axes[i][j]
            for scheme, color in (("e2gc", "C0"), ("fggc", "C1")):
                part = gs.network_curves(model, gs.Constants(beta=beta), b, scheme=scheme)
                ax.plot(part.k, part.epf_model_mj / part.epf_model_mj.min(), "o-", color=color, ms=3,
                        label="E2GC (G)" if scheme == "e2gc" else "FgGC (g)")
            ax.set_xscale("log", base=2)
            ax.set_title(f"beta = {beta}, B = {b}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel("G (E2GC) or g (FgGC)")
    fig.supylabel(f"{model}: model EPF / its minimum")
    fig.tight_layout()
    return fig


def interactive(model: str = "mobilenet_v1"):
    """Sliders (JupyterLab with ipywidgets) for beta, batch size and the layer shape: redraws the
    Eq. 1 cost and its parts against G for one layer, and the network EPF reading for ``model``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def draw(beta=1.5, batch_size=1, m=512, n=512, hw=14):
        layer = gs.Layer(m, n, 3, hw, hw)
        Gs = [G for G in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if m % G == 0]
        curves = gs.cost_curves(layer, gs.Constants(beta=beta), batch_size, Gs)
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
        for col in ("macs_rel", "memory_accesses_rel", "eq1_cost_rel"):
            a.plot(curves.G, curves[col], "o-", label=col)
        a.set(xscale="log", yscale="log", xlabel="G", title=f"one layer, beta={beta}, B={batch_size}")
        a.legend(fontsize="small")
        for scheme in ("e2gc", "fggc"):
            part = gs.network_curves(model, gs.Constants(beta=beta), batch_size, scheme=scheme)
            b.plot(part.k, part.epf_model_mj, "o-", label=scheme)
        b.set(xscale="log", xlabel="G or g", title=f"{model}: model EPF (arbitrary scale)")
        b.legend(fontsize="small")
        plt.show()

    return widgets.interact(draw, beta=(0.1, 3.0, 0.05), batch_size=[1, 4, 16, 64], m=[64, 128, 256, 512, 1024],
                            n=[64, 128, 256, 512, 1024], hw=[7, 14, 28, 56])
