"""The runs of the accuracy chapters and the numbers read off them: which runs (one TrainSpec per
variant and seed), what makes runs comparable (a setting), the names a run is shown and filed
under, the final values of a run and their mean and sample std over seeds, and the per-variant
summary and curves. The sanity checks (:mod:`._sanity`), the evidence and scaling note
(:mod:`._evidence`) and the chapters' tables (:mod:`._training`) build on these.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import recipes as R
from ..datasets.tasks import TASKS
from ..store import ResultsStore
from ..train import TrainSpec

PAPER_PROFILE_COMMAND = "make reproduce PROFILE=paper"

# How values.csv names a data set where the paper does not use the task's title (``Task.title``):
# the E2GC paper writes ImageNet-1K, the VGG paper calls the Kuzushiji character dataset Kuzushiji.
DATASETS = {"e2gc": {"imagenet": "ImageNet-1K"}, "gc2l": {}, "vgg": {"kuzushiji": "Kuzushiji"}}


def dataset_name(paper: str, task: str) -> str:
    """The data set as ``paper`` names it in values.csv."""
    return DATASETS[paper].get(task) or dataset_title(task)


def dataset_title(task: str) -> str:
    """What the task's real data is called (the task registry's title)."""
    return TASKS[task].title if task in TASKS else task



# what the papers train: model (as they name it), width, classes (for the scaling note)
PAPER_MODEL = {"wrn28": "WRN-28-10", "wrn34_2": "WRN-34-2", "mobilenet_v2": "MobileNetV2",
               "mobilenet_v1": "MobileNet-V1", "resnext50": "ResNeXt-50", "vgg13_bn": "VGG13-BN"}


def paper_model_key(spec: TrainSpec) -> str:
    """The values.csv model key a run stands for: WRN-28-k stands for the paper's WRN-28-10."""
    v = spec.variant
    if v.model == "wrn28":
        return f"wrn28_{R.PAPER_WIDTH['wrn28']}"
    return v.model


def our_model_name(spec: TrainSpec) -> str:
    v = spec.variant
    if v.model == "wrn28":
        return f"WRN-28-{v.width}"
    name = PAPER_MODEL.get(v.model, v.model)
    if v.width_mult not in (None, 1, 1.0):
        name += f" (channels and group counts x{v.width_mult:g}, group sizes kept)"
    return name


# -- the runs ---------------------------------------------------------------------------------------

def specs(model: str, variants: Iterable[str], seeds: Iterable[int], **common) -> list[TrainSpec]:
    """One TrainSpec per variant and seed: ``model`` is the architecture text without the scheme
    (``wrn28_1``, ``mobilenet_v1``, ``vgg13_bn``), a variant its scheme text (``gc2l:4``, ``E``).
    ``common`` are TrainSpec fields (None = the paper's default); ``width_mult`` goes into the model.
    Seeds vary fastest, so the seeds of one variant train one after the other."""
    width_mult = common.pop("width_mult", None)
    suffix = f"/width_mult={width_mult:g}" if width_mult not in (None, 1, 1.0) else ""
    fields = {k: v for k, v in common.items() if v is not None}
    return [TrainSpec(model=f"{model}/{variant}{suffix}", seed=int(seed), **fields)
            for variant in variants for seed in seeds]


def train_runs(plan: Sequence[TrainSpec], store: ResultsStore | None = None, profile: str | None = None,
               progress: str = "auto") -> list[dict]:
    """Train (or read back) every planned run."""
    from ..train import run_many

    return run_many(list(plan), store=store, profile=profile, progress=progress) if plan else []


def train_command(spec: TrainSpec) -> str:
    """The ``gconv train`` line that trains ``spec`` (one seed)."""
    parts = [f"gconv train --model {spec.model}", f"--task {spec.task}"]
    if spec.data_mode != "auto":
        parts.append(f"--data {spec.data_mode}")
    for name in ("epochs", "limit", "image_size", "num_classes", "batch_size", "lr"):
        value = getattr(spec, name)
        if value is not None:
            parts.append(f"--{name.replace('_', '-')} {value:g}" if isinstance(value, float)
                         else f"--{name.replace('_', '-')} {value}")
    if spec.seed:
        parts.append(f"--seed {spec.seed}")
    return " ".join(parts)


def column_command(model: str, task: str) -> str:
    """How to run a paper column this profile does not: the paper profile, or one run of it."""
    return f"{PAPER_PROFILE_COMMAND}, or one run: {train_command(TrainSpec(model=model, task=task, data_mode='real'))}"


def setting_key(spec: TrainSpec | dict) -> tuple:
    """What makes runs comparable: everything but the scheme and the seed."""
    s = spec if isinstance(spec, TrainSpec) else TrainSpec.from_record(spec)
    v = s.variant
    return (v.model, v.width, v.width_mult, s.task, s.data_mode, s.image_size, s.limit, s.num_classes,
            s.recipe, s.epochs, s.batch_size, s.lr, s.weight_decay, s.augment, s.data_seed)


def by_variant(records: Iterable[dict]) -> dict[str, list[dict]]:
    """The records of each variant (scheme text), in order of appearance."""
    out: dict[str, list[dict]] = {}
    for rec in records:
        out.setdefault(TrainSpec.from_record(rec).variant.scheme, []).append(rec)
    return out


def by_setting(records: Iterable[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for rec in records:
        out.setdefault(setting_key(rec), []).append(rec)
    return out


def is_paper_setting(record: dict) -> bool:
    """Real data, all of it, at the paper's resolution, width, classes and schedule."""
    res, spec = record["result"], record["spec"]
    s = res["scaling"]
    return (res["data"]["source"] == "real" and spec.get("limit") is None and s["same_task"]
            and s["epochs"] == s["paper_epochs"]
            and (s["paper_resolution"] is None or s["resolution"] == s["paper_resolution"])
            and (s["paper_num_classes"] is None or s["num_classes"] == s["paper_num_classes"])
            and (s["width_ratio"] in (None, 1, 1.0)) and s.get("width_mult") in (None, 1, 1.0))


# -- per-run numbers, summaries ---------------------------------------------------------------------

FINAL = ("top1", "error", "train_loss", "val_loss", "train_acc", "val_acc", "test_acc")
CURVES = ("train_loss", "val_loss", "train_acc", "val_acc")
PERCENT = {"top1", "error", "train_acc", "val_acc", "test_acc"}


def run_values(record: dict) -> dict[str, float]:
    """The final values of one run in the evidence's units (% for accuracies and errors)."""
    res = record["result"]
    c = res["curves"]
    acc = res.get("test_accuracy", res["test"]["accuracy"])
    last = {k: (c[k][-1] if c[k] else None) for k in CURVES}
    return {"top1": 100 * acc, "error": 100 * (1 - acc), "test_acc": 100 * acc,
            "train_loss": _num(last["train_loss"]), "val_loss": _num(last["val_loss"]),
            "train_acc": 100 * _num(last["train_acc"]), "val_acc": 100 * _num(last["val_acc"])}


def _num(x) -> float:
    return math.nan if x is None else float(x)


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof = 1; NaN for one value) and n of the finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if not len(v):
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v)


def summarize(records: Iterable[dict]) -> pd.DataFrame:
    """One row per setting and variant: mean, std and n over seeds of every final quantity, the
    highest validation loss of any epoch and run, and the wall time of all seeds."""
    rows = []
    for key, recs in by_setting(records).items():
        for variant, runs in by_variant(recs).items():
            spec = TrainSpec.from_record(runs[0])
            row = dict(model=paper_model_key(spec), ran=our_model_name(spec), variant=variant,
                       label=runs[0]["result"]["label"], k=runs[0]["result"]["k"], task=spec.task,
                       source=runs[0]["result"]["data"]["source"], seeds=len(runs),
                       setting=key)
            values = [run_values(r) for r in runs]
            for q in FINAL:
                row[f"{q}_mean"], row[f"{q}_std"], _ = mean_std([v[q] for v in values])
            peaks = [max((x for x in r["result"]["curves"]["val_loss"] if x is not None), default=math.nan)
                     for r in runs]
            row["val_loss_peak"] = max(peaks) if peaks else math.nan
            row["wall_s"] = sum(r["result"]["timing"]["wall_s"] for r in runs)
            rows.append(row)
    return pd.DataFrame(rows)


def curves(records: Iterable[dict]) -> pd.DataFrame:
    """Per-epoch curves of every run: variant, label, seed, epoch, metric, value (accuracies in %)."""
    rows = []
    for rec in records:
        res = rec["result"]
        spec = TrainSpec.from_record(rec)
        for i, epoch in enumerate(res["curves"]["epoch"]):
            for m in CURVES:
                v = res["curves"][m][i]
                rows.append(dict(model=paper_model_key(spec), task=spec.task, variant=spec.variant.scheme,
                                 label=res["label"], seed=spec.seed, epoch=epoch, metric=m,
                                 value=math.nan if v is None else (100 * v if m in PERCENT else v)))
    return pd.DataFrame(rows, columns=["model", "task", "variant", "label", "seed", "epoch", "metric", "value"])


def value_text(mean: float, std: float, n: int, digits: int = 2) -> str:
    """``45.21 ± 3.10 (n = 3)``; a single run has no spread."""
    if n == 0 or mean is None or not np.isfinite(mean):
        return "—"
    if n == 1 or not np.isfinite(std):
        return f"{mean:.{digits}f} (n = 1)"
    return f"{mean:.{digits}f} ± {std:.{digits}f} (n = {n})"


