"""E2GC chapter 2: the optimum-group-size model (Sec. III, Eqs. 1-4) as code, fitted to the EPF tables.

Table I (standard convolution) beside Table II (grouped), the balanced g and G of Eqs. 2-4 per
layer of the two networks, and the model's energy reading fitted by least squares to the quoted
P100 and P4000 EPF tables (and to GPU reference results when they are committed): the fitted
constants with their standard errors, the predicted optimum G next to the printed one, and the
leave-one-variant-out prediction error. :mod:`gconvlib.group_size` holds the model and says what
had to be interpreted.

"On the machine that built this book": ``gconv advise`` (:mod:`gconvlib.advise`) run here, its
measurements (time per frame on a CPU, never energy), fit and recommendation, checked against the
full sweep of the paper's variants, with the advice that results contributed from other devices
(``data/results/reference/<device>/``) give. One claim of the chapter is judged on it, within that
scope.
"""
from __future__ import annotations

import pandas as pd

from .. import group_size as gs
from ..complexity import layer_stats
from ..layers import ConvScheme
from ..layers.factory import kind_label
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import EXACT, MEASURED_HERE, SCALED, ChapterResult
from ._claims import judge_chapter

NAME = "e2gc_group_size"
MODELS = ("mobilenet_v1", "resnext50")
#: the two families as the E2GC paper names them (GC is its FgGC), with their group parameter's letter
FAMILY = {fam: (kind_label(fam, "e2gc"), "G" if fam == "e2gc" else "g") for fam in gs.FAMILIES}
AXIS = " or ".join(f"{letter} ({name})" for name, letter in FAMILY.values())  # "G (E2GC) or g (FgGC)"
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
        table2_groups: int = 8, fit_by: str = "model,device,batch_size", here_model: str = "mobilenet_v1",
        here_device: str = "cpu", here_input_size: int | None = 112, here_batch_size: int = 1,
        here_budget_s: float = 180.0, here_window_s: float | None = None, here_threads: int | None = 1,
        store: ResultsStore | None = None, reference: pd.DataFrame | None = None,
        other_devices_root=None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
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
    r.add_table("fit", _scientific(fit[["source", *FIT_COLUMNS]], ("scale", "scale_se")),
                "Constants fitted by least squares, per "
                f"({', '.join(by)}), with standard errors; beta_in_paper_range: the paper allows 0 < beta <= 1")
    shown = optimum.assign(scheme=optimum.scheme.map(lambda kind: FAMILY[kind][0]))  # as the paper names them
    r.add_table("optimum", shown[["source", "device", "batch_size", "model", "scheme", "ks", "measured_k",
                                  "predicted_k", "agree", "predicted_k_extended", "extended_range"]],
                f"Optimum group parameter ({', '.join(f'{letter} for {name}' for name, letter in FAMILY.values())}): "
                "printed minimum vs the fitted model's")
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
    here = _here(r, here_model, here_device, here_input_size, here_batch_size, here_budget_s, here_window_s,
                 here_threads, store, profile)
    _other_devices(r, other_devices_root)
    judge_chapter(r, [evidence, here], store)
    return r


def _scientific(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``columns`` as text with three significant digits: the fitted scales (~1e-4 mJ per unit of
    Eq.-1 cost) would read 0.000 at the tables' fixed precision."""
    return frame.assign(**{c: [f"{v:.3g}" if pd.notna(v) else "" for v in frame[c]] for c in columns})


def _here(r: ChapterResult, model, device, input_size, batch_size, budget_s, window_s, threads, store,
          profile) -> pd.DataFrame:
    """``gconv advise`` on this machine, every paper variant measured for the check; returns the
    claims evidence (step time of each variant, seconds)."""
    import statistics

    from .. import advise as AD
    from ..measure.protocol import EpfProtocol
    from ..models import ModelSpec

    protocol = EpfProtocol.measured_here(window_s)   # None: gconv advise's window
    advice = AD.advise(model, device, batch_size, input_size, budget_s=budget_s, threads=threads, protocol=protocol,
                       complete=True, store=store, profile=profile)
    r.data.update(advice=advice, protocol=protocol.as_dict())
    paper_size = ModelSpec(model).input_size
    reasons = [f"input {advice.input_size} px instead of {paper_size}"] if advice.input_size != paper_size else []
    kind = SCALED if reasons else MEASURED_HERE
    unit = advice.unit
    table = advice.table().rename(columns={"measured": f"measured ({unit})", "spread": f"trial spread ({unit})",
                                           "predicted": f"fitted ({unit})", "predicted_se": "fitted se",
                                           "order": "search order", "cv_pct": "CV %"})
    r.add_table("here", table.drop(columns=["time_ms"]) if advice.metric == "time" else table,
                f"gconv advise {model} --device {device} --input-size {advice.input_size} --batch-size {batch_size} "
                f"on {advice.device} ({kind}): each variant's {advice.metric} per frame, the order the search measured "
                "them in (empty: measured afterwards for the check), and the model fitted to the search's measurements")
    row, rec, best, fg = advice.state.row, advice.recommended, advice.measured_best, advice.gc_best
    G = lambda v: ConvScheme.parse(v).k if v else "none"  # noqa: E731
    e2gc, fggc = FAMILY["e2gc"][0], FAMILY["gc"][0]
    threads_text = f", {threads} thread(s)" if device == "cpu" and threads else ""
    full = len([v for v in advice.candidates if v in advice.measured])
    r.notes["here"] = "\n\n".join(x for x in [
        f"**Measured here** ({kind}{': ' + '; '.join(reasons) if reasons else ''}): {model}, B = {batch_size}, "
        f"on {advice.device}{threads_text}; the EPF protocol of the energy chapter (fastest of "
        f"{protocol.min_trials}-{protocol.max_trials} windows of {protocol.window_s:g} s; CV per variant in "
        f"the table). {advice.new} variants measured now, {advice.cached} read "
        "from this machine's results store (shared with the energy chapter where it measures the same cells with the "
        "same settings)."
        + (" **Time, not energy**: this machine has no energy counter, so every number here is time per "
           "frame of a training step, and nothing here stands in for the paper's GPU energy." if advice.metric == "time"
           else " Energy per frame from the GPU's counter."),
        f"**The search** measured {len(advice.order)} of {len(advice.candidates)} variants "
        f"({', '.join(advice.order)}) and stopped: {advice.stop_reason}. **Fit** (to those): beta = "
        f"{row['beta']:.2f} ± {row['beta_se']:.2f}, scale = {row['scale']:.3g} ± {row['scale_se']:.2g}, offset = "
        f"{row['offset_mj']:.3g} ± {row['offset_se']:.2g} {unit}; leave-one-out error {advice.loo_error_pct:.1f} %.",
        f"**Recommendation: {e2gc} G = {G(rec)}**; saving against G = 1: predicted "
        f"{advice.saving_pct(AD.REFERENCE, True):.1f} %, measured {advice.saving_pct(AD.REFERENCE, False):.1f} %"
        + (f"; against {fggc}'s best g = {G(fg)}: predicted {advice.saving_pct(fg, True):.1f} %, measured "
           f"{advice.saving_pct(fg, False):.1f} %" if fg else "") + ".",
        f"**Check against the measured best** ({full} of {len(advice.candidates)} variants measured): the fastest "
        f"{e2gc} variant is G = {G(best)} ({advice.noise_note()}); the recommendation "
        + ("is the measured best." if rec == best else f"G = {G(rec)} is not the measured best"
           + (", but within noise of it." if rec in advice.tied() else ", and not within noise of it.")),
        advice.per_layer_note() or "",
        f"`{advice.summary_line()}`"] if x)
    r.figures["here"] = lambda: _here_figure(r.data["advice"], r.data.get("others", []))
    evidence = []
    source = f"{advice.device}, gconv advise, {advice.input_size} px"
    for v in advice.candidates:
        m = advice.measured.get(v)
        if m is None or not m.ok("time"):
            continue
        sd = statistics.stdev(m.time_trials) if len(m.time_trials) >= 2 else float("nan")
        evidence.append(dict(model=model, variant=v, quantity="step_time", value=m.time_ms * batch_size / 1000,
                             std=sd * batch_size / 1000, n=max(len(m.time_trials), 1), kind=kind,
                             device=advice.device, batch_size=batch_size, source=source,
                             spec=ModelSpec(model, v, input_size=input_size).text, sanity=None))
    return pd.DataFrame(evidence)


def _other_devices(r: ChapterResult, root) -> None:
    """The advice that results contributed from other devices give (nothing measured here)."""
    from .. import advise as AD

    rows = AD.other_devices(root)
    advices = []
    for _, part in (rows[rows["ok"]].groupby(["folder", "model", "batch_size", "input_size"]) if len(rows) else []):
        if len(part) < 5:
            continue
        metric = "energy" if part["epf_mj"].notna().all() else "time"
        try:
            advices.append((part["folder"].iloc[0], AD.replay(part, metric)))
        except ValueError:
            continue  # too few usable variants for a fit
    r.data["others"] = advices
    r.add_table("other_devices", pd.DataFrame([dict(
        folder=f, device=a.device, model=a.model, batch_size=a.batch_size, input_px=a.input_size, metric=a.metric,
        variants=len(a.measured), recommended_G=str(ConvScheme.parse(a.recommended).k),
        measured_best_G=str(ConvScheme.parse(a.measured_best).k) if a.measured_best else None,
        saving_vs_G1_pct=a.saving_pct(AD.REFERENCE, False), loo_error_pct=a.loo_error_pct) for f, a in advices],
        columns=["folder", "device", "model", "batch_size", "input_px", "metric", "variants", "recommended_G",
                 "measured_best_G", "saving_vs_G1_pct", "loo_error_pct"]),
        "Other devices: the advice their contributed results give (data/results/reference/<device>/, written "
        "by gconv advise --out or gconv reference)")
    r.notes["other_devices"] = (
        f"{len(advices)} other device(s) contributed results." if advices else
        "No other device has contributed results yet. To add yours (a pull request):\n\n```bash\n"
        "python -m gconvlib.cli advise mobilenet_v1 --device cuda --out data/results/reference/<your-device>/\n```\n\n"
        "commits the records and a CSV of every measured variant; the group-size and energy chapters show "
        "them as one more curve / column.")


def _here_figure(advice, others):
    """Left: this machine's measurements and the fitted model. Right: each device's cost relative to
    its own E2GC G = 1 (this machine and every contributed one)."""
    import matplotlib.pyplot as plt

    from ..advise import REFERENCE

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    schemes = {v: ConvScheme.parse(v) for v in advice.candidates}
    for i, (fam, (name, letter)) in enumerate(FAMILY.items()):
        color, name = f"C{i}", f"{name} ({letter})"
        vs = [v for v, sc in schemes.items() if sc.kind == fam]
        ks = [schemes[v].k for v in vs]
        meas = [advice.measured[v].value(advice.metric) if v in advice.measured else float("nan") for v in vs]
        a.plot(ks, meas, "o", color=color, label=f"{name} measured")
        a.plot(ks, [advice.state.mu[v] for v in vs], "-", color=color, lw=1, label=f"{name} fitted")
    a.set(xlabel="G or g", ylabel=advice.unit, title=f"{advice.device}: {advice.model}, "
          f"B={advice.batch_size}, {advice.input_size} px")
    a.set_xscale("log", base=2)
    a.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
    a.legend(fontsize=7)
    for i, (name, adv) in enumerate([("this machine", advice), *others]):
        vs = [v for v in adv.candidates
              if ConvScheme.parse(v).kind == "e2gc" and v in adv.measured and adv.measured[v].ok(adv.metric)]
        base = adv.measured.get(REFERENCE)
        if base is None or not base.ok(adv.metric):
            continue
        b.plot([ConvScheme.parse(v).k for v in vs], [adv.measured[v].value(adv.metric) / base.value(adv.metric)
                                                     for v in vs], "o-", color=f"C{i}", ms=3,
               label=f"{name} ({adv.device}, {adv.metric})")
    b.set_xscale("log", base=2)
    b.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
    b.set(xlabel=f"{FAMILY['e2gc'][0]} G", ylabel="cost / cost at G = 1",
          title=f"{FAMILY['e2gc'][0]} per device (measured)")
    b.legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)  # shown once, by the notebook's display (no second copy from the inline backend)
    return fig


def _failures(fit: pd.DataFrame, optimum: pd.DataFrame) -> str:
    inside = int(fit.beta_in_paper_range.sum())
    fg, e2 = optimum[optimum.scheme == "gc"], optimum[optimum.scheme == "e2gc"]
    fggc, e2gc = FAMILY["gc"][0], FAMILY["e2gc"][0]
    return (f"**Where the model fails.** With beta free, {inside} of {len(fit)} fits land inside the paper's "
            f"range 0 < beta <= 1 (fitted beta {fit.beta.min():.2f} to {fit.beta.max():.2f}); "
            f"{int((~fit.offset_nonneg).sum())} fits need a negative offset (energy below zero for an empty "
            f"network), which no physical reading allows. It places the {fggc} optimum where the paper measured it "
            f"in {int(fg.agree.sum())} of {len(fg)} device/batch/model cases; the {e2gc} optimum (G = 32, the edge "
            f"of the printed grid) it reproduces in {int(e2.agree.sum())} of {len(e2)}, which a model whose cost "
            "just falls with G would too.")


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
            for n, (scheme, (name, _)) in enumerate(FAMILY.items()):
                s = part[part.scheme == scheme].sort_values("k")
                ax.plot(s.k, s.epf, "so"[n], color=f"C{n}", label=f"{name} printed")
                ax.plot(s.k, s.predicted, "-", color=f"C{n}", lw=1, label=f"{name} model")
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
            ax.set_title(f"{model}, {device}, B={b}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6)
    fig.supxlabel(AXIS)
    fig.supylabel("EPF (mJ)")
    fig.tight_layout()
    plt.close(fig)  # shown once, by the notebook's display (no second copy from the inline backend)
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
            for n, (scheme, (name, letter)) in enumerate(FAMILY.items()):
                part = gs.network_curves(model, gs.Constants(beta=beta), b, scheme=scheme)
                ax.plot(part.k, part.epf_model_mj / part.epf_model_mj.min(), "o-", color=f"C{n}", ms=3,
                        label=f"{name} ({letter})")
            ax.set_xscale("log", base=2)
            ax.set_title(f"beta = {beta}, B = {b}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel(AXIS)
    fig.supylabel(f"{model}: model EPF / its minimum")
    fig.tight_layout()
    plt.close(fig)  # shown once, by the notebook's display (no second copy from the inline backend)
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
        for scheme, (name, _) in FAMILY.items():
            part = gs.network_curves(model, gs.Constants(beta=beta), batch_size, scheme=scheme)
            b.plot(part.k, part.epf_model_mj, "o-", label=name)
        b.set(xscale="log", xlabel="G or g", title=f"{model}: model EPF (arbitrary scale)")
        b.legend(fontsize="small")
        plt.show()

    return widgets.interact(draw, beta=(0.1, 3.0, 0.05), batch_size=[1, 4, 16, 64], m=[64, 128, 256, 512, 1024],
                            n=[64, 128, 256, 512, 1024], hw=[7, 14, 28, 56])
