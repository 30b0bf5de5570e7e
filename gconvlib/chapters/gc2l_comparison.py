"""GC-2L chapter 3: GC vs Shuffle vs FLGC vs GC-2L (Tables 3-4, Figs. 5 and 7).

The same WideResNet settings as the ablation chapter (its SC, GC and GC-2L runs are store hits
here), plus channel shuffle and FLGC; MobileNetV2 on ImageNet (Table 4, Fig. 7) where the profile
runs it. SC is trained in every setting because the sanity check compares it with its grouped
variants (:func:`._sanity.sanity_check`).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from .. import plots
from ..paper import load_values
from ..store import ResultsStore
from ..train import TrainSpec
from . import _training as T
from ._base import ChapterResult
from ._claims import judge_chapter
from .gc2l_ablation import model_for

NAME = "gc2l_comparison"
PAPER = "gc2l"
SCHEMES = ("gc", "shuffle", "flgc", "gc2l")


def variants(groups: Sequence[int], schemes: Sequence[str] = SCHEMES) -> list[str]:
    return ["standard"] + [f"{kind}:{g}" for g in groups for kind in schemes]


def plan_specs(data: str = "auto", tasks: Sequence[str] = ("cifar10",), width: int = 1,
               groups: Sequence[int] = (16,), schemes: Sequence[str] = SCHEMES, epochs: int | None = 10,
               limit: int | None = 500, image_size: int | None = 32, batch_size: int | None = 32,
               lr: float | None = 0.05, seeds: Sequence[int] = (0, 1, 2), mobilenet_v2: bool = False,
               mobilenet_v2_groups: Sequence[int] = (2, 4, 8), mobilenet_v2_task: str = "imagenet",
               mobilenet_v2_image_size: int | None = None,
               profile: str | None = None) -> list[TrainSpec]:
    """Exactly the runs :func:`run` trains with these parameters (``None`` = the paper's value).
    ``profile`` changes nothing: it is accepted so that a profile's notebook parameters pass as they
    are."""
    common = dict(data_mode=data, epochs=epochs, limit=limit, batch_size=batch_size, lr=lr)
    out = []
    for task in tasks:
        out += T.specs(model_for(task, width), variants(groups, schemes), seeds, task=task,
                       image_size=image_size, **common)
    if mobilenet_v2:
        out += T.specs("mobilenet_v2", variants(mobilenet_v2_groups, schemes), seeds, task=mobilenet_v2_task,
                       image_size=mobilenet_v2_image_size, **common)
    return out


def run(profile: str = "quick", data: str = "auto", tasks: Sequence[str] = ("cifar10",), width: int = 1,
        groups: Sequence[int] = (16,), schemes: Sequence[str] = SCHEMES, epochs: int | None = 10,
        limit: int | None = 500, image_size: int | None = 32, batch_size: int | None = 32,
        lr: float | None = 0.05, seeds: Sequence[int] = (0, 1, 2), mobilenet_v2: bool = False,
        mobilenet_v2_groups: Sequence[int] = (2, 4, 8), mobilenet_v2_task: str = "imagenet",
        mobilenet_v2_image_size: int | None = None, store: ResultsStore | None = None,
        progress: str = "auto") -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    plan = plan_specs(**r.arguments)
    summary, evidence = T.train_and_check(r, plan, PAPER, store, progress, reference="standard",
                                          name_setting=T.model_and_dataset,
                                          dataset_options=dict(parts=T.SPLIT_NAMES[PAPER]))

    T.add_wrn_error_tables(r, PAPER, "Table 3", "shuffle:16", summary)
    r.add_table("Table 4", T.paper_columns(PAPER, "Table 4", "mobilenet_v2", "error", ("ImageNet",), summary,
                                           {"ImageNet": T.column_command("mobilenet_v2/gc2l:8", "imagenet")}),
                "Table 4 (MobileNetV2 on ImageNet): test error (%), the paper (quoted) beside ours")
    r.add_table("runs", T.runs_table(summary, "error", "test error (%)"),
                "Every variant run in this profile: mean ± std over seeds")
    r.figures["fig5"] = lambda: figure_errors(summary, ("wrn28_10", "wrn34_2"), "Table 3", "Fig. 5")
    r.figures["fig7"] = lambda: figure_errors(summary, ("mobilenet_v2",), "Table 4", "Fig. 7")
    judge_chapter(r, evidence, store)
    return r


def figure_errors(summary: pd.DataFrame, models: Sequence[str], ref: str, fig: str):
    """Figs. 5 and 7: error against g, one line per scheme (ours: mean ± std over seeds; SC as a
    band), the paper's values dashed on their own axis (scaled-down and printed absolute errors are
    not comparable, only the shapes). One panel per model and data set that ran; None when none did."""
    import matplotlib.pyplot as plt

    from ..models.spec import scheme_text

    if not len(summary):
        return None
    panels = [(m, t) for m in models for t in summary[summary.model == m].task.unique()]
    if not panels:
        return None
    fig_, axes = plt.subplots(1, len(panels), figsize=(6.8 * len(panels), 3.8), squeeze=False)
    for ax, (model, task) in zip(axes[0], panels):
        dataset = T.dataset_name(PAPER, task)
        ours = summary[(summary.model == model) & (summary.task == task)]
        printed = load_values(PAPER, ref=ref, model=model, quantity="error", dataset=dataset)
        printed = printed.assign(variant=[scheme_text(s, None if pd.isna(k) else int(k))
                                          for s, k in zip(printed.scheme, printed.k)])
        plots.metric_vs_groups(ours, "error", "test error (%)", f"{fig}: {ours.ran.iloc[0]}, {dataset} "
                               f"({ours.source.iloc[0]})", paper=printed[["variant", "k", "value"]], ax=ax)
    fig_.tight_layout()
    return fig_
