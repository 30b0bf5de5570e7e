"""The accuracy chapters: which runs each one trains, and how their results meet the paper.

A chapter asks for a grid of :class:`~gconvlib.train.TrainSpec` (one per variant and seed),
trains it through :func:`gconvlib.train.run_many` (finished runs are read back from the store),
and compares the summary with the published accuracy/error values side by side. Each claim of
the paper gets a verdict computed here from the runs, never typed in.

Results made with stand-in data or fewer epochs are **scaled-down**; :func:`scaling_note`
says by how much, for every chapter.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import pandas as pd

from . import paper as paper_values
from .train import TrainSpec

E2GC_VARIANTS = [("e2gc", G) for G in (1, 2, 4, 8, 16, 32)] + [("fggc", g) for g in (2, 4, 8, 16, 32)]
GC2L_KINDS = ("gc", "shuffle", "flgc", "gc2l")


def label(scheme: str, k) -> str:
    names = {"standard": "SC", "gc": "GC", "e2gc": "E2GC", "fggc": "FgGC", "gc2l": "GC-2L",
             "shuffle": "Shuffle", "flgc": "FLGC"}
    if scheme == "standard" or k is None or (isinstance(k, float) and math.isnan(k)):
        return names.get(scheme, scheme)
    return f"{names[scheme]} {'G' if scheme == 'e2gc' else 'g'}={int(k)}"


def grid(model: str, variants: Iterable[tuple[str, int | None]], seeds: Iterable[int], *,
         width: int | None = None, width_mult: float | None = None, **common) -> list[TrainSpec]:
    """One spec per (scheme, k) and seed, all sharing ``common`` (task, sizes, epochs ...);
    ``width`` (WRN-28) and ``width_mult`` (VGG) go into the model variant."""
    return [TrainSpec.from_paper(model, s, k, width=width, width_mult=width_mult, seed=seed, **common)
            for s, k in variants for seed in seeds]


def _paper_scheme(model: str, scheme: str) -> str:
    """The scheme as the model's paper names it: GC is "fggc" for the E2GC paper's models."""
    from .models import model_entry

    return "fggc" if scheme == "gc" and model_entry(model).paper == "e2gc" else scheme


def summarize(records: list[dict]) -> pd.DataFrame:
    """Mean and spread over seeds per variant, with the paper's label (``variant`` column)."""
    from .train import summarize_runs

    summary = summarize_runs(records).rename(columns={"variant": "model_variant"})  # the model text
    summary["scheme"] = [_paper_scheme(m, s) for m, s in zip(summary.model, summary.scheme)]
    summary["variant"] = [label(s, k) for s, k in zip(summary.scheme, summary.k)]
    return summary


def scaling_note(records: list[dict]) -> str:
    """One sentence: how these runs differ from the paper's setting (data, epochs, size)."""
    if not records:
        return "No runs."
    s = records[0]["result"]["scaling"]
    data = records[0]["result"]["data"]
    parts = [f"data: {data['description']}"]
    if s.get("paper_train_images"):
        parts.append(f"{s['train_images']:,} training images vs {s['paper_train_images']:,} in the paper "
                     f"({s['train_images'] / s['paper_train_images']:.2%})")
    parts.append(f"{s['epochs']} epochs vs {s['paper_epochs']}")
    if s.get("paper_resolution"):
        parts.append(f"{s['resolution']}x{s['resolution']} pixels vs {s['paper_resolution']}x{s['paper_resolution']}")
    if s.get("width_ratio") and s["width_ratio"] != 1:
        parts.append(f"width {s['width']} vs {s['paper_width']}")
    if s.get("width_mult") not in (None, 1, 1.0):
        parts.append(f"channels and group counts x{s['width_mult']} (group sizes as in the paper)")
    seeds = len({r["spec"]["seed"] for r in records})
    parts.append(f"{seeds} seed{'s' if seeds > 1 else ''} per variant")
    kind = "scaled-down" if (data["source"] != "real" or s["epochs"] != s["paper_epochs"]) else "paper setting"
    return f"**{kind}**: " + "; ".join(parts) + "."


def side_by_side(summary: pd.DataFrame, paper: str, ref: str, model_key: str, quantity: str,
                 dataset: str | None = None) -> pd.DataFrame:
    """paper (quoted) | reproduced mean +- std | difference, per variant present in both."""
    published = paper_values.load_values(paper, ref=ref, model=model_key, quantity=quantity,
                                         **({"dataset": dataset} if dataset else {}))
    published = published.assign(variant=[label(s, k if pd.notna(k) else None)
                                           for s, k in zip(published.scheme, published.k)])
    ours = "top1_pct" if quantity == "top1" else "error_pct"
    merged = published[["variant", "value_text", "value"]].merge(
        summary[["variant", "seeds", f"{ours}_mean", f"{ours}_std"]], on="variant", how="left")
    merged = merged.rename(columns={"value_text": f"paper {quantity} % (quoted, {ref})",
                                    f"{ours}_mean": f"reproduced {quantity} % (scaled-down)",
                                    f"{ours}_std": "std over seeds"})
    merged["difference"] = merged[f"reproduced {quantity} % (scaled-down)"] - merged["value"]
    return merged.drop(columns="value")


# -- claims ------------------------------------------------------------------------------

def _verdict(ok: bool | None, why_not: str = "") -> str:
    if ok is None:
        return f"not yet reproduced ({why_not})" if why_not else "not yet reproduced"
    return "holds" if ok else "does not hold"


def slope_vs_log2_groups(summary: pd.DataFrame, scheme: str, metric: str = "error_pct_mean") -> float | None:
    """Least-squares slope of the metric against log2(g): how fast it grows with the groups."""
    rows = summary[(summary.scheme == scheme) & summary.k.notna()]
    if len(rows) < 2:
        return None
    x = rows.k.astype(float).map(math.log2)
    y = rows[metric].astype(float)
    return float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())


def gc2l_claims(summary: pd.DataFrame, where: str) -> pd.DataFrame:
    """GC-2L's claims on our runs: lower error than GC at every g; the smallest slope of error vs g;
    FLGC the worst of the four (where those schemes were run)."""
    rows = []
    by = summary.set_index(["scheme", "k"])["error_pct_mean"]
    for g in sorted(summary[summary.scheme == "gc2l"].k.dropna().unique()):
        ok = None
        if ("gc", g) in by.index:
            ok = bool(by[("gc2l", g)] < by[("gc", g)])
        rows.append(dict(where=where, claim=f"GC-2L error < GC error at g={int(g)}",
                         reproduced=f"{by.get(('gc2l', g), float('nan')):.2f} vs {by.get(('gc', g), float('nan')):.2f}",
                         verdict=_verdict(ok, "GC not run")))
    slopes = {s: slope_vs_log2_groups(summary, s) for s in GC2L_KINDS}
    present = {s: v for s, v in slopes.items() if v is not None}
    if "gc2l" in present and len(present) > 1:
        smallest = min(present, key=present.get)
        rows.append(dict(where=where, claim="GC-2L's error grows most slowly with g (slope vs log2 g)",
                         reproduced=", ".join(f"{label(s, None)} {v:+.2f} %/doubling" for s, v in present.items()),
                         verdict=_verdict(smallest == "gc2l")))
    if "flgc" in present and len(present) > 1:
        mean_err = summary[summary.k.notna()].groupby("scheme")["error_pct_mean"].mean()
        rows.append(dict(where=where, claim="FLGC has the highest error of the grouped variants",
                         reproduced=", ".join(f"{label(s, None)} {v:.2f}" for s, v in mean_err.items()),
                         verdict=_verdict(mean_err.idxmax() == "flgc")))
    return pd.DataFrame(rows)


def vgg_claims(summary: pd.DataFrame) -> pd.DataFrame:
    """VGG paper: grouping costs a little test accuracy (D: -3.03, E: -2.49 points) - read as
    'every scheme within 5 points of the baseline, and D and E below it'."""
    acc = summary.set_index("scheme")["top1_pct_mean"]
    rows = []
    if "baseline" not in acc.index:
        return pd.DataFrame([dict(claim="grouped schemes vs baseline", reproduced="",
                                  verdict=_verdict(None, "baseline not run"))])
    for scheme, value in (("D", 3.03), ("E", 2.49)):
        if scheme in acc.index:
            drop = acc["baseline"] - acc[scheme]
            rows.append(dict(claim=f"scheme {scheme} loses test accuracy vs baseline (paper: -{value} points)",
                             paper=-value, reproduced=round(-drop, 2), verdict=_verdict(bool(drop > 0))))
    drops = {s: acc["baseline"] - acc[s] for s in acc.index if s != "baseline"}
    if drops:
        worst = max(drops.values())
        rows.append(dict(claim="every grouped scheme stays within 5 points of the baseline",
                         paper="", reproduced=f"largest drop {worst:.2f} points",
                         verdict=_verdict(bool(worst <= 5))))
    return pd.DataFrame(rows)


def e2gc_claims(summary: pd.DataFrame, model: str, dataset: str) -> pd.DataFrame:
    """E2GC Sec. V on our runs: top-1 rises from G=1 to G=2; with FgGC, accuracy falls with g for
    MobileNet-V1 and rises with g for ResNeXt-50 on ImageNet; on Food-101 it falls with G."""
    acc = summary.set_index(["scheme", "k"])["top1_pct_mean"]
    rows = []
    if ("e2gc", 1) in acc.index and ("e2gc", 2) in acc.index:
        gain = acc[("e2gc", 2)] - acc[("e2gc", 1)]
        rows.append(dict(claim=f"{model}: top-1 rises from E2GC G=1 to G=2", reproduced=f"{gain:+.2f} points",
                         verdict=_verdict(bool(gain > 0))))
    fg = summary[summary.scheme == "fggc"]
    if len(fg) >= 2:
        slope = slope_vs_log2_groups(summary, "fggc", "top1_pct_mean")
        expected_up = model == "resnext50" and dataset == "ImageNet-1K" or dataset == "Food-101"
        rows.append(dict(claim=f"{model}: FgGC top-1 {'rises' if expected_up else 'falls'} with g ({dataset})",
                         reproduced=f"{slope:+.2f} points per doubling of g",
                         verdict=_verdict(bool(slope > 0) == expected_up)))
    return pd.DataFrame(rows)


def with_seed(specs: list[TrainSpec], seed: int) -> list[TrainSpec]:
    return [dataclasses.replace(s, seed=seed) for s in specs]
