"""Trained runs as evidence for the claims, and the note that says how far they are from the paper:
per variant the mean over seeds of each final quantity and curve (:func:`evidence`), the data-set
facts (:func:`dataset_evidence`), and one scaling sentence per setting (:func:`scaling_note`),
stating a paper value only where the paper gives one (:data:`PAPER_STATES`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ..claims.evidence import MIN_SEEDS
from ..train import TrainSpec
from ..value_kinds import EXACT, MEASURED_HERE, SCALED
from ._runs import (CURVES, FINAL, PAPER_MODEL, PERCENT, _num, by_setting, by_variant, dataset_name, dataset_title,
                    is_paper_setting, mean_std, our_model_name, paper_model_key, run_values)

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
    title = dataset_title(spec.task)
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
    for variant, runs in by_variant(records).items():
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
            # the title is a registry name ("Kuzushiji character dataset", "CIFAR-10"): kept in
            # parentheses, the sentence reads the same whatever it is
            head += (f" on an offline stand-in for the real data ({title}; synthetic images, whose accuracies say "
                     "nothing about the paper's)")
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
        parts.append(trained_text(recs))
        seeds = len({r["spec"]["seed"] for r in recs})
        parts.append(f"{seeds} seeds per variant (mean ± sample std)" if seeds > 1 else
                     f"1 seed per variant (no spread; a verdict needs {MIN_SEEDS})")
        notes.append(f"**{kind}**: {head}: " + "; ".join(parts) + ".")
    return "\n\n".join(notes)


def trained_text(records: Sequence[dict]) -> str:
    """Where, how and when these runs trained, from their records: ``trained here on cpu (AMD
    EPYC ...), 1 thread per run, 2026-12-07, commit 3b14e56c1d``. The thread count is not part of a
    run's key, and runs with other thread counts round differently: several are named as such."""
    prov = [r.get("provenance") or {} for r in records]
    runs = [r["result"].get("run") or {} for r in records]
    devices = sorted({str(run.get("device") or "?") for run in runs})
    # the device's name as the store's provenance recorded it: the CPU model, or the GPU's
    names = sorted({(p.get("device") or {}).get("cpu" if devices == ["cpu"] else "gpu") or "" for p in prov} - {""})
    where = ", ".join(devices) + (f" ({', '.join(names)})" if names else "")
    threads = sorted({run["threads"] for run in runs if run.get("threads")})
    how = (f"{threads[0]} thread{'s' if threads[0] != 1 else ''} per run" if len(threads) == 1 else
           f"{', '.join(map(str, threads))} threads per run (different runs: they round differently)"
           if threads else "threads not recorded")
    procs = sorted({run.get("processes") or 1 for run in runs})
    if procs != [1]:
        how += f", {'/'.join(map(str, procs))} processes per run"
    dates = sorted(p["created"][:10] for p in prov if p.get("created"))
    when = (dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}") if dates else "date not recorded"
    commits = sorted({(p.get("commit") or "unknown")[:10] + (" (dirty)" if p.get("dirty") else "") for p in prov})
    return f"trained here on {where}, {how}, {when}, commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"


def _share(x: float) -> str:
    """0.0003 -> '0.03 %', 0.25 -> '25 %' (two significant digits)."""
    return f"{100 * x:.2g} %" if x < 0.1 else f"{100 * x:.0f} %"


AUGMENTATIONS = {"pad_crop_flip": "4-pixel pad, random crop and flip", "resized_crop_flip":
                 "random-resized crop and flip", "none": "none"}

