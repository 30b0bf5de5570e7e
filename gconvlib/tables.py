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
                         convention=convention, source=cell["source"], spec=spec.text))
    return pd.DataFrame(rows, columns=[*CSV_COLUMNS, "paper_text", "counted", "difference", "verdict",
                                       "convention", "source", "spec"])
