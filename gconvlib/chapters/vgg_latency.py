"""VGG chapter 2: inference time of Fig. 10 (and the training time of Sec. 5.2).

Fig. 10 plots, for VGG13-BN with the baseline and grouping schemes A-E, the MACs and the
"inference time for processing one input"; the text prints the scheme-E reduction three times,
differently (Sec. 5.1, the abstract and Sec. 6; all in ``data/paper/values.csv``), and Sec. 5.2 says
the more layers are grouped,
the faster training runs. The paper names no device for these times, so they are judged on every
device measured, each separately: this machine (measured here; scaled-down where the input or
the network is smaller) and GPU reference results when committed (measured, ``gconv reference``).
MACs are exact (counted on the models).
"""
from __future__ import annotations

import pandas as pd

from ..complexity import count_spec
from ..measure import analysis as A
from ..measure import sources as S
from ..measure.experiments import VGG_VARIANTS, vgg_latency_cells, vgg_train_cells
from ..measure.latency import LatencyProtocol
from ..measure.protocol import EpfProtocol
from ..measure.records import EPF, LATENCY
from ..measure.reference import by_model_and_batch
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import ChapterResult, protocol_sentence
from ._claims import judge_chapter

NAME = "vgg_latency"
PAPER_BATCH = 20   # Sec. 3.3: batch size 20
LATENCY_EVIDENCE = {"latency": ("ms_per_image_median", "ms_per_image_std", 1e-3)}
TRAIN_EVIDENCE = {"train_step_time": ("ms_per_step", "ms_std", 1e-3)}


def run(profile: str = "quick", device: str = "cpu", input_size: int = 224, batch_sizes=(1,), repeats: int = 10,
        warmup: int = 2, train_variants=("A", "B", "C", "D"), train_batch_size: int = PAPER_BATCH,
        train_input_size: int = 32, width_mult: float | None = None, window_s: float | None = None,
        min_trials: int | None = None, max_trials: int | None = None, threads: int | None = 1,
        store: ResultsStore | None = None, reference_store: ResultsStore | None = None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    vgg = lambda spec: spec["model"].startswith("vgg13_bn/")  # noqa: E731
    ref = S.reference_rows(LATENCY, vgg, reference_store)
    ref_train = S.reference_rows(EPF, vgg, reference_store, "graph")
    r.notes["reference"] = S.reference_note(pd.concat([ref, ref_train], ignore_index=True),
                                            "VGG13-BN inference latency and training steps",
                                            "the claims below are judged on this machine's times alone (the paper "
                                            "names no device) and the tables have no GPU rows.")

    here, counts = S.measure_here(LATENCY, vgg_latency_cells(batch_sizes, VGG_VARIANTS, input_size=input_size,
                                                                   width_mult=width_mult),
                                  device, latency_protocol=LatencyProtocol(repeats=repeats, warmup=warmup),
                                  threads=threads, store=store, profile=profile)
    reasons = S.scaled_reasons(here, {})
    r.notes["here"] = S.here_note(here, counts, reasons, "time") + (
        f"\n\nPer image: the median of {repeats} timed calls after {warmup} warm-up calls, divided by B; spread "
        "= IQR / 1.349.")
    kind = S.here_kind(reasons)
    # None: the knob of the protocol gconv advise measures with (measure.protocol.HERE)
    protocol = EpfProtocol.measured_here(window_s, warmup_steps=1, min_trials=min_trials, max_trials=max_trials)
    train, train_counts = S.measure_here(EPF, vgg_train_cells(train_variants, train_batch_size, train_input_size,
                                                                   width_mult=width_mult),
                                         device, epf_protocol=protocol, threads=threads, store=store, profile=profile,
                                         group_of=by_model_and_batch)
    train_reasons = S.scaled_reasons(train, {})
    r.notes["train"] = S.here_note(train, train_counts, train_reasons, "time per training step") + (
        f"\n\n{protocol_sentence(protocol)}")
    train_kind = S.here_kind(train_reasons)
    r.data.update(here=here, reference=ref, train=train, reference_train=ref_train, protocol=protocol.as_dict())

    macs = pd.DataFrame([dict(variant=v, macs_G=count_spec(ModelSpec("vgg13_bn", v), store)["macs"] / 1e9)
                         for v in VGG_VARIANTS])  # the paper's 224 px network, as Fig. 10 plots
    latency = pd.concat([A.reduction_table(rows).assign(source=name) for name, rows in
                         [(f"here ({kind})", here), *S.per_device(ref, S.MEASURED)]], ignore_index=True)
    latency = latency.rename(columns={"value": "ms_per_image"}).merge(macs, on="variant", how="left")
    r.data["latency"] = latency
    r.add_table("latency", latency[["source", "device", "batch_size", "variant", "macs_G", "ms_per_image",
                                    "reduction_pct"]],
                "Inference time per image (median) and its reduction against the baseline, with the MACs (exact, "
                "G) of each scheme")
    steps = pd.concat([rows.assign(source=name) for name, rows in
                       [(f"here ({train_kind})", train), *S.per_device(ref_train, S.MEASURED)] if len(rows)],
                      ignore_index=True)
    if len(steps):
        r.add_table("train", steps[["source", "device", "batch_size", "variant", "spec", "ms_per_step", "ms_std",
                                    "trials"]],
                    f"One training step (forward + backward) at batch {train_batch_size}: mean over windows and its "
                    "std")
    r.figures["fig10"] = lambda: figure_10(r.data["latency"])

    evidence = [A.evidence(here, LATENCY_EVIDENCE, kind), A.evidence(train, TRAIN_EVIDENCE, train_kind)]
    if len(ref):
        evidence.append(A.evidence(ref, LATENCY_EVIDENCE, S.MEASURED))
    if len(ref_train):
        evidence.append(A.evidence(ref_train, TRAIN_EVIDENCE, S.MEASURED))
    judge_chapter(r, evidence, store)
    return r


def figure_10(latency: pd.DataFrame):
    """Fig. 10 redrawn: MACs (exact) and inference time per image of each scheme, per source."""
    import matplotlib.pyplot as plt

    groups = list(latency.groupby(["source", "batch_size"], sort=False))
    fig, axes = plt.subplots(1, 1 + len(groups), figsize=(3.6 * (1 + len(groups)), 3.2), squeeze=False)
    first = latency.drop_duplicates("variant")
    axes[0][0].bar(first["variant"], first["macs_G"], color="0.6")
    axes[0][0].set(title="MACs (exact)", ylabel="GMACs per image")
    for ax, ((source, b), part) in zip(axes[0][1:], groups):
        ax.bar(part["variant"], part["ms_per_image"], color="C0")
        ax.set(title=f"{source}, B={b}", ylabel="ms per image")
        ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig


__all__ = ["NAME", "figure_10", "run"]
