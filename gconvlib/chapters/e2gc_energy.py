"""E2GC chapter 3: energy per frame (EPF) of Tables III-IV and Fig. 1.

Three sources, each labelled: the paper's P100 and P4000 columns (quoted, ``values.csv``); GPU
reference results committed to ``data/results/reference/`` (measured: the EPF protocol of
:mod:`gconvlib.measure`, CUDA-graph step, windows aligned to the energy counter, made by
``gconv reference``); and a measurement made while the page runs (measured here, scaled-down
where sizes are reduced). On a CPU the latter is time per frame, never energy. The energy claims
are judged on GPU energy only: until reference results are committed they are *not yet
reproduced (no GPU reference results)*.
"""
from __future__ import annotations

import pandas as pd

from ..layers.factory import ConvScheme, kind_label
from ..measure import analysis as A
from ..measure import sources as S
from ..measure.experiments import E2GC_BATCH_SIZES, e2gc_cells
from ..measure.protocol import EpfProtocol
from ..measure.records import EPF
from ..measure.reference import by_model_and_batch
from ..paper import load_values
from ..store import ResultsStore
from ._base import ChapterResult, protocol_sentence
from ._claims import judge_chapter

NAME = "e2gc_energy"
TABLES = {"mobilenet_v1": "Table III", "resnext50": "Table IV"}
EPF_EVIDENCE = {"epf": ("epf_total_mj", "epf_std_mj", 1.0)}


def run(profile: str = "quick", batch_sizes=(1, 4, 16), reference_mode: str = "graph",
        reference_value: str = "epf_total_mj", device: str = "cpu", measure_mode: str = "graph",
        measure_models=("mobilenet_v1",), measure_variants=None, measure_batch_sizes=(1, 4),
        measure_input_size: int | None = 112, window_s: float | None = None, min_trials: int | None = None,
        max_trials: int | None = None, target_cv: float | None = None, warmup_steps: int | None = None,
        threads: int | None = 1, store: ResultsStore | None = None, reference_store: ResultsStore | None = None,
        other_devices_root=None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())

    # the GPU reference (committed) and this machine's measurement
    ref = S.e2gc_reference_rows(reference_mode, reference_store)
    r.notes["reference"] = S.reference_note(ref, f"EPF of Tables III-IV in {reference_mode} mode")
    cells = e2gc_cells(measure_models, measure_batch_sizes, measure_variants, measure_input_size)
    # None: the knob of the protocol gconv advise measures with, so that the two share their records
    protocol = EpfProtocol.measured_here(window_s, warmup_steps=warmup_steps, min_trials=min_trials,
                                         max_trials=max_trials, target_cv=target_cv, mode=measure_mode)
    here, counts = S.measure_here(EPF, cells, device, epf_protocol=protocol, threads=threads, store=store,
                                  profile=profile, group_of=by_model_and_batch)
    here["ms_per_frame"] = here["ms_fastest"] / here["batch_size"] if len(here) else None
    reasons = S.scaled_reasons(here, {"batch sizes": (sorted(set(measure_batch_sizes)), sorted(E2GC_BATCH_SIZES))})
    r.notes["here"] = S.here_note(here, counts, reasons, "time per frame") + (
        f"\n\n{protocol_sentence(protocol)} "
        f"Time per frame = the fastest window's step time / B (other processes on a shared machine only "
        f"slow a window down); spread across windows (CV of time per step): {S.spread(here)}.")
    here_kind = S.here_kind(reasons)
    r.data.update(reference=ref, here=here, protocol=protocol.as_dict())

    # Tables III-IV side by side
    paper = A.paper_epf_table(load_values("e2gc"))
    paper = paper[paper["batch_size"].isin(list(batch_sizes))]
    side, columns = paper.copy(), {"paper_P100": "P100 (quoted, mJ)", "paper_P4000": "P4000 (quoted, mJ)"}
    for device_name, rows in (ref.groupby("device", sort=False) if len(ref) else []):
        name = f"{device_name} (measured, mJ)"
        side = A.merge_measured(side, rows, reference_value, name)
        side = A.merge_measured(side, rows.assign(cv_pct=100 * rows["cv"]), "cv_pct", f"{device_name} CV %")
        columns.update({name: name, f"{device_name} CV %": f"{device_name} CV %"})
    here_energy = len(here) and here["ok"].any() and here.loc[here["ok"], "epf_total_mj"].notna().all()
    if here_energy:
        name = f"here: EPF ({here_kind}, mJ)"
        side, columns[name] = A.merge_measured(side, here, "epf_total_mj", name), name
    here_time = f"here: time per frame ({here_kind}, ms)"
    side, columns[here_time] = A.merge_measured(side, here, "ms_per_frame", here_time), here_time
    for name, rows in other_devices(other_devices_root):
        side, columns[name] = A.merge_measured(side, rows, "value", name), name
    side["variant_label"] = [_label(m, v) for m, v in zip(side["model"], side["variant"])]
    r.data["side"] = side
    for model, table in TABLES.items():
        wide = A.wide_by_batch(side[side["model"] == model], columns, index=("variant_label",))
        r.add_table(table, wide.rename(columns={"variant_label": "variant"}),
                    f"{table}: {model}, energy per frame: the paper (quoted), GPU reference results (measured) and "
                    "this machine (measured here: time per frame unless energy was measured); empty: not measured")
    r.figures["fig1"] = lambda: figure_1(r.data["side"], columns, batch_sizes)

    # claims: on GPU energy only (reference results; this machine's when it is a GPU measuring energy)
    evidence = [A.evidence(ref, {"epf": (reference_value, "epf_std_mj", 1.0)}, S.MEASURED)] if len(ref) else []
    if here_energy and str(here["device_type"].iloc[0]) == "cuda":
        evidence.append(A.evidence(here, EPF_EVIDENCE, here_kind))
    judge_chapter(r, evidence, store)
    return r


def other_devices(root=None) -> list[tuple[str, pd.DataFrame]]:
    """Results contributed from other devices (``data/results/reference/<device>/``, written by
    ``gconv advise --out``), one column each: EPF where every cell has it, else time per frame; the
    input size in the name, since a contribution need not be at the paper's 224 px."""
    from ..advise import other_devices as contributed

    rows = contributed(root)
    out = []
    for (folder, size), part in (rows.groupby(["folder", "input_size"], sort=True) if len(rows) else []):
        energy = part.loc[part["ok"], "epf_mj"].notna().all()
        what = "EPF, mJ" if energy else "time per frame, ms"
        name = f"{part['device'].iloc[0]} ({size} px, {what}; contributed: {folder})"
        out.append((name, part.assign(value=part["epf_mj"] if energy else part["time_ms"])))
    return out


def _label(model: str, variant: str) -> str:
    from ..models.spec import ModelSpec

    return ModelSpec(model, variant).label


def figure_1(side: pd.DataFrame, columns: dict, batch_sizes):
    """EPF against g (FgGC) and G (E2GC) per batch size: the paper's two GPUs, each GPU reference,
    and this machine (time per frame where no energy was measured)."""
    import matplotlib.pyplot as plt

    panels = [c for c in columns if not c.endswith("CV %")]
    models = list(TABLES)
    fig, axes = plt.subplots(len(models), len(panels), figsize=(3.2 * len(panels), 2.9 * len(models)), squeeze=False)
    colors = {b: f"C{i}" for i, b in enumerate(batch_sizes)}
    kinds = side["variant"].map(lambda v: ConvScheme.parse(v).kind)
    for i, model in enumerate(models):
        for j, col in enumerate(panels):
            ax, drawn = axes[i][j], False
            for b in batch_sizes:
                for family, style, letter in (("gc", "-o", "g"), ("e2gc", "--s", "G")):
                    part = side[(side["model"] == model) & (side["batch_size"] == b)
                                & (kinds == family)].dropna(subset=[col])
                    if len(part):
                        ax.plot(part["k"], part[col], style, color=colors[b], ms=3.5,
                                label=f"{kind_label(family, 'e2gc')} ({letter}), B={b}")
                        drawn = True
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
            ax.set_title(f"{model}\n{columns[col]}", fontsize=8)
            ax.set_xlabel("g or G", fontsize=8)
            ax.tick_params(labelsize=7)
            if not drawn:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set_yticks([])
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return fig


__all__ = ["NAME", "figure_1", "run"]
