"""What the four accuracy chapters share: which runs, how they become evidence, and the checks
a scaled-down setting must pass before it judges anything.

A chapter lists its runs with :func:`specs` (one :class:`~gconvlib.train.TrainSpec` per variant
and seed; its ``plan_specs`` returns exactly these), trains them with :func:`train_runs` (stored
runs are read back), and turns the records into

* a summary per variant (:func:`summarize`: mean and sample std over seeds, n),
* evidence for the claims (:func:`evidence`: one long table, filed under the paper's model key,
  kind ``scaled-down`` unless the run is the paper's setting),
* the sanity verdict of each setting (:func:`sanity_check`): a setting whose training loss does not
  fall, a run that diverges, or a standard convolution worse than its own grouped variants by more
  than the seed spread is *not testable here*: every evidence row of that setting carries the reason
  in its ``sanity`` column, and the judge says so instead of a verdict,
* one scaling note per setting (:func:`scaling_note`): how far it is from the paper's setting,
  stating the paper's value only where the paper gives one (:data:`PAPER_STATES`),
* the paper's column beside ours (:func:`paper_columns`), and for a column this profile does not
  run, "not run in this profile" with the command that runs it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import recipes as R
from ..claims.evidence import EXACT, MEASURED_HERE, MIN_SEEDS, SCALED
from ..store import ResultsStore
from ..train import TrainSpec

PAPER_PROFILE_COMMAND = "make reproduce PROFILE=paper"

# The data set names of values.csv, per paper (the E2GC paper writes ImageNet-1K).
DATASETS = {
    "e2gc": {"imagenet": "ImageNet-1K", "food101": "Food-101"},
    "gc2l": {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet"},
    "vgg": {"kuzushiji": "Kuzushiji"},
}


def dataset_name(paper: str, task: str) -> str:
    return DATASETS[paper].get(task, task)


# -- what each paper states about its training (and what it does not) ------------------------------

@dataclass(frozen=True)
class Stated:
    """A recipe value as the paper gives it: the number, or None and what the paper says instead."""

    value: float | int | None
    where: str          # citation when given; otherwise what the text says (or that it says nothing)

    def text(self, fmt: str = "{}") -> str:
        return f"paper: {fmt.format(self.value)}" if self.value is not None else f"paper: {self.where}"


# recipe name -> quantity -> what the paper says. Our recipe's choices for the values a paper does
# not give are in gconvlib/recipes.py (``notes``); here only what the papers print.
PAPER_STATES: dict[str, dict[str, Stated]] = {
    "e2gc": {
        "epochs": Stated(None, "no epoch count; only \"reduced to 1/10th after every 30 epochs\" "
                               "(90 is our reading of that schedule)"),
        "batch_size": Stated(None, "not stated"),
        "lr": Stated(0.1, "Sec. IV"),
        "augment": Stated(None, "not stated (our recipe: random-resized crop and flip)"),
    },
    "gc2l_cifar": {
        "epochs": Stated(200, "Sec. 4"),
        "batch_size": Stated(128, "Sec. 4"),
        "lr": Stated(None, "lost in the text extraction (our recipe: 0.1)"),
        "augment": Stated("pad_crop_flip", "Sec. 4"),
    },
    "gc2l_imagenet": {
        "epochs": Stated(None, "lost in the text extraction (our reading: 90, steps at 30 and 60)"),
        "batch_size": Stated(128, "Sec. 4, \"same as the CIFAR case\""),
        "lr": Stated(None, "lost in the text extraction (our recipe: 0.1)"),
        "augment": Stated("resized_crop_flip", "Sec. 4"),
    },
    "vgg_kuzushiji": {
        "epochs": Stated(25, "Sec. 5.1"),
        "batch_size": Stated(20, "Sec. 5.1"),
        "lr": Stated(None, "not stated (our recipe: 0.01)"),
        "augment": Stated(None, "not stated (our recipe: none)"),
    },
}

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


def train_and_check(r, plan: Sequence[TrainSpec], paper: str, store: ResultsStore | None, progress: str, *,
                    reference: str | None, curves_of: Sequence[str] = (), name_setting=None,
                    dataset_options: dict | None = None) -> tuple[pd.DataFrame, list]:
    """What every training chapter does first: train (or read) the runs of ``plan``, store records,
    summary and curves in ``r.data``, run the sanity checks per setting (against ``reference``, the
    dense variant) and add their table and the scaling note to ``r``. Returns the summary and the
    evidence for the chapter's claims (one frame per setting, then the data-set sizes).
    ``name_setting(records)`` names a setting in the sanity table (default: its data source)."""
    records = train_runs(plan, store, r.profile, progress)
    r.data.update(records=records, plan=plan, summary=summarize(records), curves=curves(records))
    frames, sanity_rows = [], []
    for recs in by_setting(records).values():
        sanity = sanity_check(recs, reference=reference)
        frames.append(evidence(recs, paper, sanity.reason, curves_of=tuple(curves_of)))
        sanity_rows.append(sanity.checks.assign(setting=(name_setting or source_text)(recs)))
    frames.append(dataset_evidence(records, paper, **(dataset_options or {})))
    columns = ["setting", "check", "passed", "detail"]
    r.add_table("sanity", pd.concat(sanity_rows, ignore_index=True)[columns] if sanity_rows
                else pd.DataFrame(columns=columns),
                "Sanity checks of each scaled-down setting: a setting that fails one judges no claim (its "
                "claims are 'not testable here', with the reason)")
    r.notes["scaling"] = scaling_note(records)
    return r.data["summary"], frames


# GC-2L Tables 1 and 3: the WideResNet each data set was trained with in the paper
WRN_TABLE_MODELS = {"wrn28_10": ("WRN-28-10", ("CIFAR-10", "CIFAR-100")), "wrn34_2": ("WRN-34-2", ("ImageNet",))}


def add_wrn_error_tables(r, paper: str, ref: str, scheme: str, summary: pd.DataFrame, caption_tail: str = "") -> None:
    """GC-2L Tables 1 and 3: per WideResNet (WRN-28-10 on CIFAR, WRN-34-2 on ImageNet) the paper's
    error column (quoted) beside ours, each column with the command that trains its paper setting."""
    commands = {"CIFAR-10": column_command(f"wrn28_10/{scheme}", "cifar10"),
                "CIFAR-100": column_command(f"wrn28_10/{scheme}", "cifar100"),
                "ImageNet": column_command(f"wrn34_2/{scheme}", "imagenet")}
    for model, (name, datasets) in WRN_TABLE_MODELS.items():
        r.add_table(f"{ref} {model}", paper_columns(paper, ref, model, "error", datasets, summary, commands),
                    f"{ref} ({name}): test error (%), the paper (quoted) beside ours (mean ± "
                    f"sample std over seeds, scaled-down{caption_tail})")


def model_and_dataset(records: Sequence[dict]) -> str:
    """"WRN-28-1, CIFAR-10": the model that ran and the data set, for a sanity-table row."""
    return f"{our_model_name(TrainSpec.from_record(records[0]))}, {dataset_title(records[0]['spec']['task'])}"


def runs_table(summary: pd.DataFrame, metric: str, header: str, model_header: str = "model (ran)") -> pd.DataFrame:
    """Every variant a chapter trained: its headline ``metric`` (``top1`` or ``error``, mean ± std over
    seeds, under ``header``), the losses that the sanity checks read, and the training time."""
    if not len(summary):
        return pd.DataFrame()
    def stat(name: str, digits: int = 2) -> list[str]:
        return [value_text(m, s, n, digits) for m, s, n in
                zip(summary[f"{name}_mean"], summary[f"{name}_std"], summary.seeds)]
    return pd.DataFrame({
        model_header: summary.ran, "data": summary.task + " (" + summary.source + ")", "variant": summary.label,
        "seeds": summary.seeds, header: stat(metric), "final training loss": stat("train_loss", 3),
        "final validation loss": stat("val_loss", 3), "highest validation loss": summary.val_loss_peak.round(2),
        "training time, all seeds (s)": summary.wall_s.round(0)})


def summarize(records: Iterable[dict]) -> pd.DataFrame:
    """One row per setting and variant: mean, std and n over seeds of every final quantity, the
    highest validation loss of any epoch and run, and the wall time of all seeds."""
    rows = []
    for key, recs in by_setting(records).items():
        variants: dict[str, list[dict]] = {}
        for rec in recs:
            variants.setdefault(TrainSpec.from_record(rec).variant.scheme, []).append(rec)
        for variant, runs in variants.items():
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


# -- sanity ----------------------------------------------------------------------------------------

LOSS_FALLS = 0.95      # the mean final training loss must be below 95 % of the first epoch's
DIVERGED = 1.5         # a run diverged: a loss is not finite, or its final validation loss is above
                       # 1.5 x the larger of its first epoch's and chance level (ln K)
FITTED = 0.5           # trained, not just started: the mean final training loss of every variant is at
                       # most half of chance level (ln K). Relations between runs that are still far from
                       # fitting their training data measure how fast each variant starts to learn (which
                       # the initialisation of grouped convs skews, see the gc2l_ablation chapter), not
                       # the trained models the papers compare. (Full-scale runs end far below: ~0.01 for
                       # WRN-28-10 on CIFAR, 0.06 for VGG in the VGG paper.)


@dataclass
class Sanity:
    """The sanity verdict of one setting: ``reason`` is None when it passed."""

    reason: str | None
    checks: pd.DataFrame   # check, passed, detail

    @property
    def passed(self) -> bool:
        return self.reason is None


def sanity_check(records: Sequence[dict], reference: str | None = "standard",
                 metric: str = "error") -> Sanity:
    """Does this setting (runs that differ only in scheme and seed) behave like training at all?

    1. the training loss falls: for every variant, the mean over seeds of the final epoch's
       training loss is below LOSS_FALLS x the mean of the first epoch's;
    2. the runs fit their training data: for every variant, the mean final training loss is at
       most FITTED x ln K (half of chance level);
    3. no run diverges: every loss finite, and no final validation loss above DIVERGED x
       max(first epoch's validation loss, ln K);
    4. the reference (``standard`` for WideResNet, ``baseline`` for VGG; None: no such check) is
       not worse than any of its own grouped variants by more than the spread: its mean ``metric``
       (error, %) minus the variant's is at most 2 pooled std of the seeds.

    A failed check makes ``reason`` say which one, with the numbers.
    """
    rows, reasons = [], []
    by_variant: dict[str, list[dict]] = {}
    for rec in records:
        by_variant.setdefault(TrainSpec.from_record(rec).variant.scheme, []).append(rec)

    # 1. training loss falls
    bad = []
    for variant, runs in by_variant.items():
        first = np.mean([_num(r["result"]["curves"]["train_loss"][0]) for r in runs])
        last = np.mean([_num(r["result"]["curves"]["train_loss"][-1]) for r in runs])
        if not (np.isfinite(first) and np.isfinite(last) and last < LOSS_FALLS * first):
            bad.append(f"{variant} {first:.3g} -> {last:.3g}")
    rows.append(dict(check="training loss falls (final below 95 % of the first epoch's, mean over seeds)",
                     passed=not bad, detail="; ".join(bad) or "every variant"))
    if bad:
        reasons.append(f"training loss does not fall ({'; '.join(bad[:3])})")

    # 2. the runs fit their training data
    bad = []
    for variant, runs in by_variant.items():
        last = np.mean([_num(r["result"]["curves"]["train_loss"][-1]) for r in runs])
        chance = math.log(max(2, int(runs[0]["result"]["data"]["num_classes"])))
        if not (np.isfinite(last) and last <= FITTED * chance):
            bad.append(f"{variant} {last:.3g}")
    chance = math.log(max(2, int(records[0]["result"]["data"]["num_classes"]))) if records else math.nan
    rows.append(dict(check=f"the runs fit their training data (final training loss at most half of chance, "
                           f"{FITTED * chance:.3g}, mean over seeds)", passed=not bad,
                     detail="; ".join(bad) or "every variant"))
    if bad:
        reasons.append(f"training stopped far from fitting the training data (final training loss above "
                       f"{FITTED * chance:.3g} = ln K / 2: {'; '.join(bad[:3])}{'; ...' if len(bad) > 3 else ''})")

    # 3. no run diverges
    bad = []
    for variant, runs in by_variant.items():
        for r in runs:
            c = r["result"]["curves"]
            losses = [_num(x) for x in c["train_loss"] + c["val_loss"]]
            chance = math.log(max(2, int(r["result"]["data"]["num_classes"])))
            vl = [_num(x) for x in c["val_loss"]]
            if not all(np.isfinite(losses)):
                bad.append(f"{variant} seed {r['spec']['seed']}: a loss is not finite")
            elif vl and vl[-1] > DIVERGED * max(vl[0], chance):
                bad.append(f"{variant} seed {r['spec']['seed']}: final validation loss {vl[-1]:.3g} "
                           f"(first epoch {vl[0]:.3g}, chance {chance:.3g})")
    rows.append(dict(check="no run diverges (losses finite; final validation loss at most 1.5 x "
                           "max(first epoch's, ln K))", passed=not bad, detail="; ".join(bad) or "no run"))
    if bad:
        reasons.append(f"a run diverges ({'; '.join(bad[:2])})")

    # 4. the reference is not worse than its own grouped variants by more than the spread
    if reference is not None and reference in by_variant:
        ref = [run_values(r)[metric] for r in by_variant[reference]]
        rm, rs, rn = mean_std(ref)
        worst = None
        for variant, runs in by_variant.items():
            if variant == reference:
                continue
            vm, vs, vn = mean_std([run_values(r)[metric] for r in runs])
            sd = _pooled(rs, rn, vs, vn)
            excess = (rm - vm) - 2 * sd
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, variant, vm, vs, rm - vm, sd)
        name = {"standard": "SC", "baseline": "the baseline"}.get(reference, reference)
        if worst is None:
            rows.append(dict(check=f"{name} not worse than its grouped variants by more than 2 pooled std",
                             passed=True, detail=f"{name} {metric} {value_text(rm, rs, rn)}"))
        else:
            _, variant, vm, vs, diff, sd = worst
            detail = (f"{name}'s {metric} {rm:.1f} % is {diff:.1f} points above {variant}'s {vm:.1f} % "
                      f"(2 pooled std = {2 * sd:.1f})")
            rows.append(dict(check=f"{name} not worse than its grouped variants by more than 2 pooled std",
                             passed=False, detail=detail))
            reasons.append(detail)
    return Sanity("; ".join(reasons) if reasons else None, pd.DataFrame(rows))


def _pooled(s1: float, n1: int, s2: float, n2: int) -> float:
    """Pooled sample std of two means (a side without a spread contributes nothing)."""
    s1 = 0.0 if not np.isfinite(s1) else s1
    s2 = 0.0 if not np.isfinite(s2) else s2
    den = n1 + n2 - 2
    if den <= 0:
        return math.sqrt((s1 ** 2 + s2 ** 2) / 2)
    return math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / den)


# -- evidence ---------------------------------------------------------------------------------------

def spec_text(spec: TrainSpec, source: str, seeds: Sequence[int]) -> str:
    """What actually ran, in one line (the evidence's ``spec``)."""
    bits = [spec.model, f"{spec.task} ({source})"]
    for name in ("image_size", "limit", "num_classes", "epochs", "batch_size", "lr"):
        value = getattr(spec, name)
        if value is not None:
            bits.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    bits.append("seeds " + ",".join(str(s) for s in sorted(seeds)))
    return ", ".join(bits)


def source_text(records: Sequence[dict]) -> str:
    """``WRN-28-1 on a CIFAR-10 stand-in, 1,000 images, 15 epochs, 3 seeds`` (the evidence's ``source``)."""
    rec = records[0]
    spec = TrainSpec.from_record(rec)
    res = rec["result"]
    title = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet", "food101": "Food-101",
             "kuzushiji": "Kuzushiji"}.get(spec.task, spec.task)
    data = f"the {title} stand-in" if res["data"]["source"] == "standin" else title
    seeds = len({r["spec"]["seed"] for r in records})
    return (f"{our_model_name(spec)} on {data}, {res['data']['sizes'].get('train', 0):,} images, "
            f"{res['image_size'] if 'image_size' in res else res['data']['image_size']} px, "
            f"{res['recipe']['epochs']} epochs, {seeds} seed{'s' if seeds != 1 else ''} ({res['run']['device']})")


def evidence(records: Sequence[dict], paper: str, sanity: str | None = None,
             curves_of: Sequence[str] = CURVES) -> pd.DataFrame:
    """The evidence rows of one setting's runs: per variant the mean over seeds (std, n) of every
    final quantity and, per epoch, of the curves in ``curves_of``; filed under the paper's model key
    and data set name, kind scaled-down (or measured here for a paper-setting run)."""
    if not records:
        return pd.DataFrame()
    spec0 = TrainSpec.from_record(records[0])
    model = paper_model_key(spec0)
    dataset = dataset_name(paper, spec0.task)
    kind = MEASURED_HERE if all(is_paper_setting(r) for r in records) else SCALED
    source = source_text(records)
    rows = []
    by_variant: dict[str, list[dict]] = {}
    for rec in records:
        by_variant.setdefault(TrainSpec.from_record(rec).variant.scheme, []).append(rec)
    for variant, runs in by_variant.items():
        seeds = [r["spec"]["seed"] for r in runs]
        text = spec_text(TrainSpec.from_record(runs[0]), runs[0]["result"]["data"]["source"], seeds)
        # no device: a trained value holds for the setting, whatever ran it (the device is in ``source``)
        common = dict(model=model, variant=variant, kind=kind, dataset=dataset, source=source,
                      spec=text, sanity=sanity)
        values = [run_values(r) for r in runs]
        for q in FINAL:
            m, s, n = mean_std([v[q] for v in values])
            if n:
                rows.append(dict(common, quantity=q, value=m, std=s, n=n))
        epochs = min(len(r["result"]["curves"]["epoch"]) for r in runs)
        for q in curves_of:
            for i in range(epochs):
                vals = [_num(r["result"]["curves"][q][i]) for r in runs]
                m, s, n = mean_std([100 * x if q in PERCENT else x for x in vals])
                if n:
                    rows.append(dict(common, quantity=q, value=m, std=s, n=n, epoch=float(i + 1)))
    return pd.DataFrame(rows)


# How each paper names the splits of its data sets, from our loader's train / val / test: CIFAR,
# Food-101 and ImageNet hold our val out of the official train split, and our test is the official
# test split (E2GC calls it "validation"); the VGG paper's 16:4:5 split is ours.
SPLIT_NAMES = {
    "e2gc": {"train": ("train", "val"), "val": ("test",)},
    "gc2l": {"train": ("train", "val"), "test": ("test",)},
    "vgg": {"train": ("train",), "val": ("val",), "test": ("test",)},
}


def dataset_evidence(records: Sequence[dict], paper: str, parts: dict | None = None) -> pd.DataFrame:
    """Dataset facts (split sizes, classes, total) of the data the runs used, for the papers'
    data-set claims, named as the paper names its splits (``parts``, default :data:`SPLIT_NAMES`):
    counted (exact) when the runs read the whole real data set. For a stand-in or a subset only the
    split sizes are filed, with ``sanity`` saying why they cannot decide (the claims evaluators then
    judge the data-set claims *not testable here*, with that reason)."""
    parts = parts or SPLIT_NAMES[paper]
    rows = []
    seen = set()
    for rec in records:
        spec = TrainSpec.from_record(rec)
        data = rec["result"]["data"]
        dataset = dataset_name(paper, spec.task)
        if dataset in seen:
            continue
        seen.add(dataset)
        sanity = None
        if data["source"] != "real":
            sanity = f"the runs used the offline stand-in, not the files of {dataset}"
        elif spec.limit is not None or spec.num_classes is not None:
            sanity = f"the runs used a subset of {dataset} (limit {spec.limit}, classes {spec.num_classes})"
        sizes = dict(data["sizes"])
        common = dict(model=None, variant=None, kind=EXACT, dataset=dataset, sanity=sanity,
                      source=data["description"].split(" — ")[0][:160], spec=f"{spec.task} ({data['source']})")
        for part, ours in parts.items():
            rows.append(dict(common, quantity="dataset_size", value=float(sum(sizes.get(o, 0) for o in ours)),
                             part=part))
        rows.append(dict(common, quantity="dataset_size", value=float(sum(sizes.values())), part="total"))
        if sanity is None:
            rows.append(dict(common, quantity="num_classes", value=float(data["num_classes"])))
    return pd.DataFrame(rows)


# -- the scaling note -------------------------------------------------------------------------------

def scaling_note(records: Sequence[dict]) -> str:
    """How these runs differ from the paper's setting, one sentence per setting. A paper value is
    printed only where the paper gives it (:data:`PAPER_STATES`); otherwise what the paper says."""
    if not records:
        return "No runs in this profile."
    notes = []
    for recs in by_setting(records).values():
        rec = recs[0]
        res, spec = rec["result"], TrainSpec.from_record(rec)
        s, data = res["scaling"], res["data"]
        stated = PAPER_STATES.get(s["recipe"], {})
        kind = "paper setting" if all(is_paper_setting(r) for r in recs) else "scaled-down"
        what = our_model_name(spec)
        paper_model = PAPER_MODEL.get(spec.variant.model, spec.variant.model)
        head = f"{what} (paper: {paper_model})" if what != paper_model else what
        title = dataset_title(spec.task)
        if data["source"] == "standin":
            head += f" on the offline {title} stand-in (synthetic images: its accuracies say nothing about {title})"
        else:
            head += f" on {title}"
        parts = []
        if s.get("paper_train_images"):
            parts.append(f"{s['train_images']:,} training images (paper: {s['paper_train_images']:,}; "
                         f"{_share(s['train_images'] / s['paper_train_images'])})")
        if s.get("paper_num_classes") and s["num_classes"] != s["paper_num_classes"]:
            parts.append(f"{s['num_classes']} classes (paper: {s['paper_num_classes']:,})")
        if s.get("paper_resolution"):
            parts.append(f"{s['resolution']}x{s['resolution']} px (paper: {s['paper_resolution']}x"
                         f"{s['paper_resolution']})")
        ep = stated.get("epochs")
        steps = (f"lr divided by 10 after epoch{'s' if len(s['milestones']) > 1 else ''} "
                 f"{', '.join(str(m) for m in s['milestones'])}" if s["milestones"] else "constant lr")
        parts.append(f"{s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}, {steps} "
                     f"({ep.text() if ep else 'paper: ' + str(s['paper_epochs'])})")
        bs = stated.get("batch_size")
        parts.append(f"batch {s['batch_size']} ({bs.text() if bs else 'paper: ' + str(s['paper_batch_size'])})")
        lr = stated.get("lr")
        parts.append(f"initial lr {res['recipe']['lr']:g} ({lr.text('{:g}') if lr else ''})")
        aug = stated.get("augment")
        paper_aug = "" if aug is None else (f"paper: {AUGMENTATIONS.get(aug.value, aug.value)}" if aug.value
                                            else aug.text())
        parts.append(f"augmentation: {AUGMENTATIONS.get(res['recipe']['augment'], res['recipe']['augment'])} "
                     f"({paper_aug})")
        seeds = len({r["spec"]["seed"] for r in recs})
        parts.append(f"{seeds} seeds per variant (mean ± sample std)" if seeds > 1 else
                     f"1 seed per variant (no spread; a verdict needs {MIN_SEEDS})")
        notes.append(f"**{kind}**: {head}: " + "; ".join(parts) + ".")
    return "\n\n".join(notes)


def _share(x: float) -> str:
    """0.0003 -> '0.03 %', 0.25 -> '25 %' (two significant digits)."""
    return f"{100 * x:.2g} %" if x < 0.1 else f"{100 * x:.0f} %"


def dataset_title(task: str) -> str:
    return {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet", "food101": "Food-101",
            "kuzushiji": "Kuzushiji"}.get(task, task)


# -- the paper's column beside ours -----------------------------------------------------------------

NOT_RUN = "not run in this profile"
AUGMENTATIONS = {"pad_crop_flip": "4-pixel pad, random crop and flip", "resized_crop_flip":
                 "random-resized crop and flip", "none": "none"}


def paper_columns(paper: str, ref: str, model: str, quantity: str, datasets: Sequence[str],
                  summary: pd.DataFrame, commands: dict[str, str], digits: int = 2) -> pd.DataFrame:
    """One row per variant the paper prints (``ref``, ``model``), per data set two columns: the
    paper's value (quoted) and ours (mean ± std over seeds, with n; scaled-down unless the paper's
    setting ran), or "not run in this profile" where this profile did not train it. A last row
    gives, per data set, the command that runs its column."""
    from ..models.spec import scheme_text
    from ..paper import load_values

    published = load_values(paper, ref=ref, model=model, quantity=quantity)
    published = published.assign(vtext=[scheme_text(s, None if pd.isna(k) else int(k))
                                         for s, k in zip(published.scheme, published.k)])
    variants = list(dict.fromkeys(published.vtext))
    mine = summary[summary.model == model] if len(summary) else summary
    rows = []
    for variant in variants:
        row = {"variant": _label(paper, variant)}
        for ds in datasets:
            p = published[(published.dataset == ds) & (published.vtext == variant)]
            row[f"{ds}: paper (quoted)"] = p.value_text.iloc[0] if len(p) else "—"
            ours = mine[(mine.variant == variant) & (mine.task.map(lambda t: dataset_name(paper, t)) == ds)] \
                if len(mine) else mine
            if len(ours):
                o = ours.iloc[0]
                row[f"{ds}: ours"] = value_text(o[f"{quantity}_mean"], o[f"{quantity}_std"], int(o.seeds), digits)
            else:
                row[f"{ds}: ours"] = NOT_RUN
        rows.append(row)
    how = {"variant": "to run a column"}
    for ds in datasets:
        how[f"{ds}: paper (quoted)"] = ""
        how[f"{ds}: ours"] = commands.get(ds, PAPER_PROFILE_COMMAND)
    rows.append(how)
    return pd.DataFrame(rows)


def _label(paper: str, variant: str) -> str:
    from ..models.spec import ModelSpec

    model = {"e2gc": "mobilenet_v1", "gc2l": "wrn28_1", "vgg": "vgg13_bn"}[paper]
    try:
        return ModelSpec(f"{model}/{variant}").label if variant != "standard" or paper != "e2gc" else "SC"
    except ValueError:
        return variant
