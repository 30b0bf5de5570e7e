"""GC-2L chapter 2: standard vs one-level vs two-level convolution (Table 1 error rates, Fig. 4 loss).

WideResNet-28 on CIFAR (WRN-34-2 on ImageNet in the paper profile) with SC, GC and GC-2L at the
profile's g, several seeds each; the paper's error rates quoted beside ours; the claims judged on
the mean over seeds once the setting passed its sanity check (:func:`._sanity.sanity_check`).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..layers import ConvScheme
from ..layers.factory import kind_label
from ..store import ResultsStore
from ..train import TrainSpec
from . import _training as T
from ._base import ChapterResult
from ._claims import judge_chapter

NAME = "gc2l_ablation"
PAPER = "gc2l"
KINDS = ("gc", "gc2l")


def model_for(task: str, width: int) -> str:
    """The architecture a task trains in the paper: WRN-28-k on CIFAR, WRN-34-2 on ImageNet."""
    return "wrn34_2" if task == "imagenet" else f"wrn28_{width}"


def variants(groups: Sequence[int], kinds: Sequence[str] = KINDS) -> list[str]:
    return ["standard"] + [f"{kind}:{g}" for g in groups for kind in kinds]


def plan_specs(data: str = "auto", tasks: Sequence[str] = ("cifar10",), width: int = 1,
               groups: Sequence[int] = (16,), epochs: int | None = 10, limit: int | None = 500,
               image_size: int | None = 32, batch_size: int | None = 32, lr: float | None = 0.05,
               seeds: Sequence[int] = (0, 1, 2),
               profile: str | None = None) -> list[TrainSpec]:
    """Exactly the runs :func:`run` trains with these parameters (``None`` = the paper's value, e.g. all
    images, 200 epochs). ``profile`` changes nothing: it is accepted so that a profile's notebook
    parameters pass as they are."""
    out = []
    for task in tasks:
        out += T.specs(model_for(task, width), variants(groups), seeds, task=task, data_mode=data, epochs=epochs,
                       limit=limit, image_size=image_size, batch_size=batch_size, lr=lr)
    return out


def run(profile: str = "quick", data: str = "auto", tasks: Sequence[str] = ("cifar10",), width: int = 1,
        groups: Sequence[int] = (16,), epochs: int | None = 10, limit: int | None = 500,
        image_size: int | None = 32, batch_size: int | None = 32, lr: float | None = 0.05,
        seeds: Sequence[int] = (0, 1, 2), store: ResultsStore | None = None,
        progress: str = "auto") -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    plan = plan_specs(**r.arguments)
    summary, evidence = T.train_and_check(r, plan, PAPER, store, progress, reference="standard",
                                          curves_of=("train_loss",), name_setting=T.model_and_dataset)
    curves = r.data["curves"]

    T.add_wrn_error_tables(r, PAPER, "Table 1", "gc2l:16", summary, "; see the scaling note")
    r.add_table("runs", T.runs_table(summary, "error", "test error (%)"),
                "Every variant run in this profile: mean ± std over seeds")
    r.figures["fig4"] = lambda: figure_4(curves)
    judge_chapter(r, evidence, store)
    return r


def figure_4(curves: pd.DataFrame):
    """Fig. 4: training loss of SC, GC and GC-2L against the epoch (mean over seeds, band min-max),
    one panel per data set and g."""
    import matplotlib.pyplot as plt

    frame = curves[curves.metric == "train_loss"]
    if not len(frame):
        return None
    schemes = {v: ConvScheme.parse(v) for v in frame.variant.unique()}   # the one parser of scheme text
    frame = frame.assign(g=frame.variant.map(lambda v: None if schemes[v].k is None else str(schemes[v].k)),
                         scheme=frame.variant.map(lambda v: kind_label(schemes[v].kind)))
    panels = [(task, g) for task in frame.task.unique() for g in sorted(set(frame.g.dropna()), key=int)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (task, g) in zip(axes[0], panels):
        part = frame[(frame.task == task) & ((frame.g == g) | frame.g.isna())]
        for i, (scheme, rows) in enumerate(part.groupby("scheme", sort=False)):
            stats = rows.groupby("epoch").value.agg(["mean", "min", "max"])
            ax.plot(stats.index, stats["mean"], color=f"C{i}", label=scheme)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}", alpha=0.15)
        ax.set(title=f"{T.dataset_title(task)}, g = {g}", xlabel="epoch", ylabel="training loss")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
