"""E2GC chapter 4: top-1 accuracy of MobileNet-V1 and ResNeXt-50 with E2GC and FgGC (Tables III-IV).

Each model is trained with E2GC modules (constant group size G) and FgGC modules (constant number
of groups g) on ImageNet-1K and Food-101 in the paper profile; the default profile trains the
variants its claims need on the offline stand-in, several seeds each. The paper's top-1 is
quoted beside ours; Sec. V's reading of the tables is judged on the mean over seeds once a
setting passed its sanity check (the training loss falls, no run diverges; the E2GC paper has no
standard-convolution model to compare with, see :func:`._sanity.sanity_check`).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from .. import plots
from ..layers.factory import ConvScheme, kind_label
from ..paper import load_values
from ..store import ResultsStore
from ..train import TrainSpec
from . import _training as T
from ._base import ChapterResult
from ._claims import judge_chapter

NAME = "e2gc_accuracy"
PAPER = "e2gc"
TABLES = {"mobilenet_v1": "Table III", "resnext50": "Table IV"}
DATASETS = ("ImageNet-1K", "Food-101")


def variants(group_sizes: Sequence[int], groups: Sequence[int]) -> list[str]:
    return [f"e2gc:{G}" for G in group_sizes] + [f"gc:{g}" for g in groups]


def plan_specs(data: str = "auto", tasks: Sequence[str] = ("imagenet",), models: Sequence[str] = ("mobilenet_v1",),
               group_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32), groups: Sequence[int] = (),
               epochs: int | None = 10, limit: int | None = 500, num_classes: int | None = 10,
               image_size: int | None = 32, batch_size: int | None = 64, lr: float | None = 0.02,
               augment: str | None = "pad_crop_flip", seeds: Sequence[int] = (0, 1, 2),
               profile: str | None = None) -> list[TrainSpec]:
    """Exactly the runs :func:`run` trains with these parameters (``None`` = the paper's value, or our
    recipe's where the paper gives none). ``profile`` changes nothing: it is accepted so that a
    profile's notebook parameters pass as they are."""
    out = []
    for task in tasks:
        for model in models:
            out += T.specs(model, variants(group_sizes, groups), seeds, task=task, data_mode=data, epochs=epochs,
                           limit=limit, num_classes=num_classes, image_size=image_size, batch_size=batch_size,
                           lr=lr, augment=augment)
    return out


def run(profile: str = "quick", data: str = "auto", tasks: Sequence[str] = ("imagenet",),
        models: Sequence[str] = ("mobilenet_v1",), group_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32),
        groups: Sequence[int] = (), epochs: int | None = 10, limit: int | None = 500,
        num_classes: int | None = 10, image_size: int | None = 32, batch_size: int | None = 64,
        lr: float | None = 0.02, augment: str | None = "pad_crop_flip", seeds: Sequence[int] = (0, 1, 2),
        store: ResultsStore | None = None, progress: str = "auto") -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    plan = plan_specs(**r.arguments)
    summary, evidence = T.train_and_check(r, plan, PAPER, store, progress, reference=None)
    for model, ref in TABLES.items():
        commands = {"ImageNet-1K": T.column_command(f"{model}/e2gc:2", "imagenet"),
                    "Food-101": T.column_command(f"{model}/e2gc:2", "food101")}
        r.add_table(ref, T.paper_columns(PAPER, ref, model, "top1", DATASETS, summary, commands),
                    f"{ref} ({T.PAPER_MODEL[model]}): top-1 accuracy (%), the paper (quoted) beside ours "
                    "(mean ± sample std over seeds, scaled-down)")
    r.add_table("runs", T.runs_table(summary, "top1", "top-1 (%)", "model"),
                "Every variant run in this profile: mean ± std over seeds")
    r.figures["top1"] = lambda: figure_top1(summary)
    judge_chapter(r, evidence, store)
    return r


def figure_top1(summary: pd.DataFrame):
    """Top-1 against G (E2GC, left) and g (FgGC, right) per model and data set: ours (mean ± std over
    seeds) and the paper's printed values (dashed, their own axis: absolute values of scaled-down runs
    are not comparable with printed ones, only the shapes)."""
    import matplotlib.pyplot as plt

    from ..models.spec import scheme_text

    if not len(summary):
        return None
    settings = [(m, t) for m in TABLES for t in summary[summary.model == m].task.unique()]
    fig, axes = plt.subplots(len(settings), 2, figsize=(12, 3.6 * len(settings)), squeeze=False)
    for row, (model, task) in zip(axes, settings):
        dataset = T.dataset_name(PAPER, task)
        ours = summary[(summary.model == model) & (summary.task == task)]
        printed = load_values(PAPER, ref=TABLES[model], model=model, quantity="top1", dataset=dataset)
        printed = printed.assign(variant=[scheme_text(s, None if pd.isna(k) else int(k))
                                          for s, k in zip(printed.scheme, printed.k)])
        for ax, family, x_label in ((row[0], "e2gc", "group size G"), (row[1], "gc", "groups g")):
            name = kind_label(family, PAPER)
            part = ours[ours.variant.map(lambda v: ConvScheme.parse(v).kind) == family]
            p = printed[printed.variant.map(lambda v: ConvScheme.parse(v).kind) == family][["variant", "k", "value"]]
            x_label = f"{x_label} ({name})"
            if not len(part):
                ax.text(0.5, 0.5, f"{name}: not run in this profile",
                        ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            plots.metric_vs_groups(part, "top1", "top-1 (%)", f"{T.PAPER_MODEL[model]}, {dataset} "
                                   f"({part.source.iloc[0]})", paper=p, reference=None, x_label=x_label, ax=ax,
                                   paper_name=PAPER)
    fig.tight_layout()
    return fig
