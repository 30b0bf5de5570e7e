"""Reproduce the papers' complexity cells: paper value | reproduced value | difference | verdict.

Every Params/MACs cell in ``data/paper/values.csv`` is mapped to a :class:`~gconvlib.models.ModelSpec`,
the model is built (on PyTorch's ``meta`` device where possible, so WRN-28-80's 2.3 B parameters cost no
memory) and counted by :mod:`gconvlib.complexity`. Counts are cached in the results store.

Verdicts, judged at the paper's printed precision:
* ``exact``      the reproduced value rounds to the printed one;
* ``truncated``  it does not round to it but truncates to it (the E2GC paper seems to truncate);
* ``off by 0.01``  one unit in the last printed digit away, in the other direction;
* ``differs``    anything else.
"""
from __future__ import annotations

import math

import pandas as pd

from . import paper as paper_values
from .complexity import count_spec
from .models import ModelSpec
from .store import ResultsStore

UNIT_SCALE = {"M": 1e6, "G": 1e9}
CSV_COLUMNS = ["paper", "table", "model", "variant", "quantity", "unit", "paper_value", "reproduced_value"]


def spec_for(model_key: str, scheme: str, k) -> ModelSpec:
    """The variant a ``values.csv`` row names (``wrn28_10``, ``fggc``, 8 ...), with the papers'
    class counts and input sizes, which are each architecture's defaults: ImageNet-1K (1000, 224 px)
    for E2GC, WRN-34-2 and MobileNetV2; CIFAR-10 (10, 32 px) for WRN-28-k (the tables give one
    count for CIFAR-10 and -100); 1,120 Kuzushiji classes at 224 px for VGG."""
    k = None if k is None or pd.isna(k) else int(k)
    return ModelSpec.from_paper(model_key, scheme, k)


def verdict(paper_text: str, reproduced: float) -> str:
    """Compare at the printed precision (see the module docstring)."""
    d = paper_values.decimals(paper_text)
    printed, unit = float(paper_text), 10.0 ** -d
    scaled = reproduced / unit
    if round(scaled) == round(printed / unit):
        return "exact"
    if math.floor(scaled + 1e-9) == round(printed / unit):
        return "truncated"
    if abs(round(scaled) - round(printed / unit)) == 1:
        return f"off by {unit:g}"
    return "differs"


def reproduce_complexity(paper: str | None = None, store: ResultsStore | None = None) -> pd.DataFrame:
    """One row per published Params/MACs cell (all three papers, or one)."""
    values = paper_values.load_values(paper)
    values = values[values["quantity"].isin(["params", "macs"])]
    rows = []
    for _, cell in values.iterrows():
        spec = spec_for(cell["model"], cell["scheme"], cell["k"])
        counted = count_spec(spec, store)
        if cell["quantity"] == "params":
            convention = paper_values.PARAM_CONVENTION[cell["paper"]]
            raw = counted[convention]
        else:
            convention, raw = "macs (conv + FC)", counted["macs"]
        reproduced = raw / UNIT_SCALE[cell["unit"]]
        rows.append(dict(paper=cell["paper"], table=cell["ref"], model=cell["model"],
                         variant=spec.label, quantity=cell["quantity"], unit=cell["unit"],
                         paper_value=float(cell["value_text"]), paper_text=cell["value_text"],
                         reproduced_value=round(reproduced, 6), counted=int(raw),
                         difference=round(reproduced - float(cell["value_text"]), 6),
                         verdict=verdict(cell["value_text"], reproduced),
                         convention=convention, source=cell["source"]))
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of verdicts per paper and table."""
    return (table.groupby(["paper", "table", "verdict"]).size().unstack("verdict", fill_value=0)
            .reset_index())


# -- the complexity side of the E2GC paper's observations ---------------------------------
# (model, variant a, variant b, quantity, relation the paper states, where)
COMPARABLE_WITHIN = 0.10  # "comparable" read as: within 10 % of each other
E2GC_COMPLEXITY_CLAIMS = [
    ("mobilenet_v1", "E2GC G=32", "FgGC g=8", "macs", "comparable", "Obs. 1"),
    ("mobilenet_v1", "E2GC G=32", "FgGC g=16", "params", "comparable", "Obs. 1"),
    ("resnext50", "E2GC G=8", "FgGC g=32", "macs", "comparable", "Obs. 1 (text says G=6; no such row, G=8 assumed)"),
    ("resnext50", "E2GC G=16", "FgGC g=32", "params", "comparable", "Obs. 1"),
    ("mobilenet_v1", "FgGC g=32", "E2GC G=8", "macs", "comparable", "Obs. 2"),
    ("mobilenet_v1", "FgGC g=32", "E2GC G=8", "params", "higher", "Obs. 2"),
    ("resnext50", "FgGC g=8", "E2GC G=8", "macs", "comparable", "Obs. 2"),
    ("resnext50", "FgGC g=8", "E2GC G=8", "params", "higher", "Obs. 2"),
    ("mobilenet_v1", "FgGC g=2", "E2GC G=1", "macs", "about 5x", "Obs. 4"),
    ("mobilenet_v1", "FgGC g=2", "E2GC G=1", "params", "about 4x", "Obs. 4"),
]


def e2gc_complexity_claims(table: pd.DataFrame) -> pd.DataFrame:
    """Judge each claim on our exact counts (and, beside it, on the paper's own numbers)."""
    rows = []
    for model, a, b, quantity, relation, where in E2GC_COMPLEXITY_CLAIMS:
        cells = table[(table.model == model) & (table.quantity == quantity)].set_index("variant")
        ours = cells.loc[a, "reproduced_value"] / cells.loc[b, "reproduced_value"]
        theirs = cells.loc[a, "paper_value"] / cells.loc[b, "paper_value"]
        if relation == "comparable":
            holds = abs(ours - 1) <= COMPARABLE_WITHIN
        elif relation == "higher":
            holds = ours > 1 + COMPARABLE_WITHIN
        else:  # "about Nx": within 10 % of N
            factor = float(relation.split()[1].rstrip("x"))
            holds = abs(ours / factor - 1) <= COMPARABLE_WITHIN
        rows.append(dict(where=where, model=model, claim=f"{a} has {relation} {quantity} vs {b}",
                         ratio_paper=round(theirs, 3), ratio_reproduced=round(ours, 3),
                         verdict="holds" if holds else "does not hold"))
    return pd.DataFrame(rows)
