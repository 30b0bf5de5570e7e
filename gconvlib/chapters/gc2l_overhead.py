"""GC-2L chapter: what the coarse structure costs, in MACs, time and energy.

The GC-2L paper says the coarse path adds "minimal computational cost", is "not a bottleneck",
that the fused implementation (fine + representatives in one grouped conv, Sec. 3.2) beats two
separate convs, and that convolution dominates training time. MACs are exact (counted on the
models) and judge the cost claim; the time claims are about a GPU and are judged on GPU
reference results (``gconv reference``, committed to ``data/results/reference/``): WRN-28-10 at
the paper's batch 128, GC vs GC-2L fused and unfused at g = 2..16, and the share of conv time in
a training step. The same steps timed on this machine are shown beside them as a proxy (measured
here, scaled-down), never as the GPU's time or energy.
"""
from __future__ import annotations

import pandas as pd

from ..measure import analysis as A
from ..measure import sources as S
from ..measure.experiments import GC2L_BATCH, GC2L_GROUPS, gc2l_overhead_cells
from ..measure.protocol import EpfProtocol
from ..measure.records import CONV_SHARE, EPF
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import ChapterResult, count_evidence, protocol_sentence
from ._claims import judge_chapter

NAME = "gc2l_overhead"
#: the GC-2L paper's models and the numbers of groups its tables print
PAPER_GROUPS = {"wrn28_10": (2, 4, 8, 16), "wrn34_2": (2, 4, 8, 16), "mobilenet_v2": (2, 4, 8)}
STEP_EVIDENCE = {"step_time": ("ms_per_step", "ms_std", 1e-3), "epf": ("epf_total_mj", "epf_std_mj", 1.0)}


def exact_costs(groups=GC2L_GROUPS, width: int = 10, store: ResultsStore | None = None) -> pd.DataFrame:
    """MACs and parameters of GC and GC-2L (WRN-28-``width``) at each g, and GC-2L's extra in %."""
    from ..complexity import count_spec

    rows = []
    for g in groups:
        c = {s: count_spec(ModelSpec(f"wrn28_{width}", f"{s}:{g}"), store) for s in ("gc", "gc2l")}
        rows.append(dict(model=f"wrn28_{width}", k=g, macs_gc_M=c["gc"]["macs"] / 1e6,
                         macs_gc2l_M=c["gc2l"]["macs"] / 1e6,
                         macs_extra_pct=100 * (c["gc2l"]["macs"] / c["gc"]["macs"] - 1),
                         params_gc_M=c["gc"]["params"] / 1e6, params_gc2l_M=c["gc2l"]["params"] / 1e6,
                         params_extra_pct=100 * (c["gc2l"]["params"] / c["gc"]["params"] - 1)))
    return pd.DataFrame(rows)


def run(profile: str = "quick", device: str = "cpu", width: int = 10, batch_size: int = 2, groups=GC2L_GROUPS,
        window_s: float | None = None, min_trials: int | None = None, max_trials: int | None = None,
        target_cv: float | None = None, warmup_steps: int = 1, threads: int | None = 1,
        store: ResultsStore | None = None, reference_store: ResultsStore | None = None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    exact = pd.concat([exact_costs(groups, w, store) for w in dict.fromkeys([10, width])], ignore_index=True)
    r.add_table("exact", exact, "What the coarse path adds to GC (exact, counted on the models): MACs and "
                "parameters of WRN-28-k with GC and GC-2L at each g")

    # GPU reference: WRN-28-10 steps at batch 128 (and the other schemes / MobileNetV2 when measured)
    paper_model = lambda s: ModelSpec.parse(s["model"]).name in PAPER_GROUPS  # noqa: E731
    ref = S.reference_rows(EPF, lambda s: paper_model(s) and s["batch_size"] == GC2L_BATCH, reference_store, "graph")
    ref = ref[ref["reduced"].isna()] if len(ref) else ref
    share = S.reference_rows(CONV_SHARE, paper_model, reference_store)
    r.notes["reference"] = S.reference_note(pd.concat([ref, share], ignore_index=True),
                                            f"training steps of the GC-2L paper's models at batch {GC2L_BATCH}")

    # this machine: the same comparison, smaller; None: the knob of the protocol gconv advise measures with
    protocol = EpfProtocol.measured_here(window_s, warmup_steps=warmup_steps, min_trials=min_trials,
                                         max_trials=max_trials, target_cv=target_cv)
    here, counts = S.measure_here(EPF, gc2l_overhead_cells(width, batch_size, groups), device,
                                  epf_protocol=protocol, threads=threads, store=store, profile=profile)
    reasons = S.scaled_reasons(here, {"width": (width, 10), "batch": (batch_size, GC2L_BATCH)})
    r.notes["here"] = S.here_note(here, counts, reasons, "time per training step") + (
        f"\n\n{protocol_sentence(protocol)} "
        f"Step time = the fastest window's (other processes on a shared machine only slow a window down); "
        f"spread across windows (CV of time per step): {S.spread(here)}. These CPU times are shown beside the GPU "
        "claims as a proxy and judge none of them.")
    r.data.update(reference=ref, conv_share=share, here=here, exact=exact, protocol=protocol.as_dict())

    tables = [A.overhead_table(here, "ms_fastest").assign(source=f"here ({S.here_kind(reasons)})", quantity="time")]
    for name, rows in S.per_device(ref, S.MEASURED):
        tables.append(A.overhead_table(rows, "ms_per_step").assign(source=name, quantity="time"))
        if rows["epf_total_mj"].notna().any():
            tables.append(A.overhead_table(rows, "epf_total_mj").assign(source=name, quantity="energy"))
    overhead = pd.concat(tables, ignore_index=True)
    r.data["overhead"] = overhead
    r.add_table("overhead", overhead[["source", "quantity", "model", "batch_size", "k", "gc", "gc2l", "gc2l_unfused",
                                      "fused_extra_pct", "unfused_extra_pct", "fused_vs_unfused_pct"]],
                "GC-2L in % of GC at the same g (time: ms per step; energy: mJ per frame), and fused vs unfused")
    if len(share):
        r.add_table("conv_share", share[["device", "model", "batch_size", "conv_time_share", "timed_on"]],
                    "Share of a training step's operator time spent in convolutions (standard networks)")
    r.figures["overhead"] = lambda: figure_overhead(r.data["overhead"], r.data["exact"], width)

    evidence = [count_evidence(m, [f"{s}:{g}" for g in ks for s in ("gc", "gc2l")], store)
                for m, ks in PAPER_GROUPS.items()]
    evidence = [e[e["quantity"] == "macs"] for e in evidence]
    if len(ref):
        evidence.append(A.evidence(ref, STEP_EVIDENCE, S.MEASURED))
    if len(share):
        evidence.append(A.evidence(share, {"conv_time_share": ("conv_time_share", None, 1.0)}, S.MEASURED))
    judge_chapter(r, evidence, store)
    return r


def figure_overhead(overhead: pd.DataFrame, exact: pd.DataFrame, width: int):
    """GC-2L's extra over GC (%) per g: time (and energy) per source, MACs (exact) as the line."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(overhead["source"] + ", " + overhead["quantity"])) or ["(nothing measured)"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        source, _, quantity = name.rpartition(", ")
        part = overhead[(overhead["source"] == source) & (overhead["quantity"] == quantity)].sort_values("k")
        x = range(len(part))
        ax.bar([i - 0.2 for i in x], part["fused_extra_pct"], 0.4, label="GC-2L fused")
        ax.bar([i + 0.2 for i in x], part["unfused_extra_pct"], 0.4, label="GC-2L unfused")
        model = part["model"].iloc[0] if len(part) else f"wrn28_{width}"
        macs = exact[exact["model"] == model].set_index("k").reindex(part["k"])["macs_extra_pct"]
        ax.plot(list(x), macs.to_numpy(), "k^--", label="MACs (exact)")
        ax.set_xticks(list(x), [str(k) for k in part["k"]])
        ax.set(title=f"{name}\n{model}", xlabel="groups g", ylabel="extra over GC (%)")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["NAME", "PAPER_GROUPS", "exact_costs", "figure_overhead", "run"]
