"""Published numbers of the three reproduced papers, from ``data/paper/values.csv``.

Every number printed in the tables of the three papers, and the numeric claims of
their text, is one row of ``data/paper/values.csv``::

    paper,ref,model,scheme,k,quantity,dataset,device,batch_size,unit,value,source,note

Columns
-------
paper
    ``e2gc`` | ``gc2l`` | ``vgg`` (see :data:`PAPERS`).
ref
    Where the number is printed: ``Table III``, ``Table IV`` (E2GC), ``Table 1`` ..
    ``Table 4`` (GC-2L), ``Abstract``, ``Sec. IV``, ``Sec. 5.1``, ... for text claims.
    (The VGG paper's Fig. 10 is a plot whose values are not in the text: it has no rows.)
    GC-2L Tables 1 and 3 repeat some rows; both copies are kept (different ``ref``).
model
    ``mobilenet_v1``, ``resnext50`` (E2GC); ``wrn28_10``, ``wrn34_2``,
    ``mobilenet_v2``, ``wrn28_40``/``wrn28_60``/``wrn28_80`` (GC-2L; Table 2 varies the
    WRN-28 width k); ``vgg13_bn``. Empty for dataset facts.
scheme
    E2GC: ``e2gc`` (constant group size G) | ``fggc`` (constant number of groups g).
    GC-2L: ``standard`` (printed "SC") | ``gc`` | ``gc2l`` | ``shuffle`` | ``flgc``.
    VGG: ``baseline`` | ``A`` .. ``E``. Empty where a claim covers several schemes
    (e.g. "vary from 0.062 to 0.086"), with the details in *note*.
k
    The group parameter: G for ``e2gc``, g for all other grouped schemes, 1 for
    ``standard``; in GC-2L Table 2 the number of processors (= g). Empty for VGG and
    where the paper does not say. Nullable ``Int64`` after loading.
quantity
    ``params``, ``macs``, ``epf`` (energy per frame, one forward + one backward pass),
    ``top1`` (top-1 accuracy), ``error`` (top-1 error), ``wall_clock`` (training time),
    ``train_loss``, ``val_loss``, ``val_acc_drop``, ``test_acc_drop``, ``macs_drop``,
    ``inference_time_drop`` (decreases vs the VGG baseline), ``energy_gain`` (E2GC "X%
    more energy-efficient"), ``dataset_size`` (split in *note*: train/val/test/total),
    ``num_classes``, and some added for text claims that fit nothing else: ``top1_gain``
    (E2GC Sec. V, relative top-1 gain G=1 -> G=2), ``macs_ratio`` and ``params_ratio``
    (E2GC Sec. IV, "≈5x MACs", "4x parameters"; GC-2L Sec. 4.1.2, "doubling cuts the number
    of parameters by half"), ``wall_clock_ratio`` (GC-2L Sec. 4.1.2, training time "reduced
    by about half" / "almost a third" / the ideal "quarter" when the processor count
    doubles; number words: half = 0.5, a third = 0.33, quarter = 0.25) and ``split_ratio``
    (VGG Sec. 3.2, the split "16:4:5", one row per split). See :data:`QUANTITIES`.
dataset
    ``ImageNet-1K``, ``Food-101``, ``CIFAR-10``, ``CIFAR-100``, ``ImageNet``,
    ``Kuzushiji``; empty where not applicable (params, MACs, EPF).
device
    ``P100`` | ``P4000`` (E2GC EPF and energy claims), ``Titan RTX`` (GC-2L wall clock).
batch_size
    1 / 4 / 16 for E2GC EPF rows, else empty. Nullable ``Int64`` after loading.
unit
    ``M`` / ``G`` (millions / billions, exactly as the table header: E2GC MobileNet-V1
    MACs x10^6, ResNeXt-50 MACs x10^9; ``M`` / ``K`` also for dataset sizes printed as
    "1.2M" and "50K", kept at their printed precision), ``mJ``, ``%``, ``s`` (wall clock converted from
    "49h 42m 57s"; the printed string is in *note*), ``count``, ``x`` (ratios), or empty
    (losses). See :data:`UNITS`.
value
    The number as printed (trailing zeros kept in the CSV, e.g. ``4.20``; a number word as
    its value, see ``wall_clock_ratio``). After loading ``value`` is a float and the
    printed string is kept in ``value_text``.
source
    ``text``: printed in the paper as a number; ``words``: printed as a number word ("about
    half", "almost a third", "quarter", GC-2L Sec. 4.1.2), the value being our reading of the
    word. Numbers computed here are never rows of this file: the VGG paper prints no Params
    or MACs (the vgg_complexity chapter computes them).
note
    Free text. For text claims it holds the sentence as ``printed: "..."`` (verbatim from
    the paper text), plus how the number relates to the tables; ambiguous numbers are
    flagged ``AMBIGUOUS``. For ``dataset_size`` and ``split_ratio`` rows it starts with the
    split (``train``/``val``/``test``/``total``); for ranges with ``min``/``max``.

Counting conventions (the book's methods page): E2GC counts parameters *without* BatchNorm,
GC-2L and VGG *with* it (:data:`PARAM_CONVENTION`). GC-2L Tables 1 and 3 head the column
"Parameters per processor" but print model totals.

Example::

    >>> from gconvlib.paper import load_values, lookup
    >>> lookup("e2gc", "Table III", "mobilenet_v1", "e2gc", 32, "epf", device="P100", batch_size=4)
    281.0
    >>> load_values("gc2l", ref="Table 4", quantity="error").shape[0]
    13
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "PAPERS",
    "CITATION",
    "COLUMNS",
    "QUANTITIES",
    "UNITS",
    "PARAM_CONVENTION",
    "values_path",
    "load_values",
    "decimals",
    "lookup",
]

PAPERS = {
    "e2gc": "E2GC: Energy-efficient Group Convolution in Deep Neural Networks",
    "gc2l": "Two-level Group Convolution",
    "vgg": "A Deep Analysis of Grouped Convolution Schemes for Improving Deep Learning Performance",
}

CITATION = {
    "e2gc": "Jha, Saini, Nag, Mittal: E2GC: Energy-efficient Group Convolution in Deep Neural Networks",
    "gc2l": "Lee, Park, Lee: Two-level Group Convolution. Neural Networks 154 (2022); arXiv:2110.05060",
    "vgg": "Gong, Li, Li, Meng: A Deep Analysis of Grouped Convolution Schemes for Improving "
    "Deep Learning Performance. CEUR Workshop Proceedings (2022)",
}

COLUMNS = (
    "paper", "ref", "model", "scheme", "k", "quantity", "dataset", "device",
    "batch_size", "unit", "value", "source", "note",
)

#: quantity -> (allowed units, description)
QUANTITIES: dict[str, tuple[frozenset[str], str]] = {
    "params": (frozenset({"M"}), "number of parameters"),
    "macs": (frozenset({"M", "G"}), "multiply-accumulates per image (conv + FC)"),
    "epf": (frozenset({"mJ"}), "energy per frame, one forward and one backward pass"),
    "top1": (frozenset({"%"}), "top-1 accuracy"),
    "error": (frozenset({"%"}), "top-1 error rate"),
    "wall_clock": (frozenset({"s"}), "training wall-clock time"),
    "train_loss": (frozenset({""}), "final training loss"),
    "val_loss": (frozenset({""}), "final validation loss"),
    "val_acc_drop": (frozenset({"%"}), "validation accuracy decrease vs baseline"),
    "test_acc_drop": (frozenset({"%"}), "test accuracy decrease vs baseline"),
    "macs_drop": (frozenset({"%"}), "MACs decrease vs baseline"),
    "inference_time_drop": (frozenset({"%"}), "inference time decrease vs baseline"),
    "energy_gain": (frozenset({"%"}), "'X% more energy-efficient' (EPF reduction)"),
    "top1_gain": (frozenset({"%"}), "relative top-1 accuracy gain"),
    "macs_ratio": (frozenset({"x"}), "ratio of MACs between two variants"),
    "params_ratio": (frozenset({"x"}), "ratio of parameters between two variants"),
    "wall_clock_ratio": (frozenset({"x"}), "ratio of training wall-clock times when the processor count doubles"),
    "split_ratio": (frozenset({""}), "a split's part of a printed train:val:test ratio (split in note)"),
    "dataset_size": (frozenset({"count", "M", "K"}), "number of samples in a split (split in note)"),
    "num_classes": (frozenset({"count"}), "number of classes"),
}

UNITS = frozenset().union(*(u for u, _ in QUANTITIES.values()))

#: How each paper counts parameters (E2GC without BatchNorm; GC-2L and VGG with it).
PARAM_CONVENTION = {"e2gc": "params_no_bn", "gc2l": "params", "vgg": "params"}

_INT_COLUMNS = ("k", "batch_size")


def values_path() -> Path:
    """Path of ``data/paper/values.csv`` (relative to the package, not the CWD)."""
    return Path(__file__).resolve().parent.parent / "data" / "paper" / "values.csv"


def _read() -> pd.DataFrame:
    path = values_path()
    return _read_cached(str(path), path.stat().st_mtime_ns).copy()


@lru_cache(maxsize=2)
def _read_cached(path: str, mtime_ns: int) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(raw.columns) != COLUMNS:
        raise ValueError(f"{values_path()}: columns {list(raw.columns)} != {list(COLUMNS)}")
    df = raw.copy()
    for col in _INT_COLUMNS:
        df[col] = pd.to_numeric(raw[col].replace("", None)).astype("Int64")
    df["value"] = raw["value"].astype(float)
    df.insert(df.columns.get_loc("value") + 1, "value_text", raw["value"])
    return df


def _mask(df: pd.DataFrame, col: str, want: Any) -> pd.Series:
    if col == "note_contains":
        return df["note"].str.contains(str(want), regex=False)
    if col not in df.columns:
        raise ValueError(f"unknown column {col!r}; columns are {list(df.columns)} (+ note_contains)")
    series = df[col]
    if isinstance(want, (list, tuple, set, frozenset)):
        return pd.concat([_mask(df, col, w) for w in want], axis=1).any(axis=1)
    if want is None:
        return series.isna() if col in _INT_COLUMNS else series.eq("")
    if col in _INT_COLUMNS:
        return series.eq(int(want)).fillna(False).astype(bool)
    if col == "value":
        return series.eq(float(want))
    return series.eq(str(want))


def load_values(paper: str | None = None, **filters: Any) -> pd.DataFrame:
    """Load the published values, optionally filtered.

    ``value`` is a float, ``value_text`` the string as printed, ``k`` and ``batch_size``
    are nullable ``Int64``; other empty cells are ``""``.

    Each keyword filters by equality on the column of that name (``None`` selects empty
    cells; a list/tuple/set selects any of its members). ``note_contains="..."`` filters
    by substring of ``note``.
    """
    df = _read()
    if paper is not None:
        if paper not in PAPERS:
            raise ValueError(f"unknown paper {paper!r}; expected one of {sorted(PAPERS)}")
        filters = {"paper": paper, **filters}
    for col, want in filters.items():
        df = df[_mask(df, col, want)]
    return df.reset_index(drop=True)


def decimals(value_text: str) -> int:
    """Number of decimals printed in ``value_text`` (``"4.20"`` -> 2, ``"689"`` -> 0)."""
    text = str(value_text).strip()
    if not re.fullmatch(r"[+-]?\d+(\.\d*)?", text):
        raise ValueError(f"not a plain decimal number: {value_text!r}")
    return len(text.split(".", 1)[1]) if "." in text else 0


def lookup(paper: str, ref: str, model: str | None, scheme: str | None, k: int | None,
           quantity: str, **extra: Any) -> float:
    """The one published value matching all arguments (``extra`` as in :func:`load_values`).

    Raises ``KeyError`` when no row or more than one row matches; the message names the
    columns that tell the candidates apart (e.g. ``dataset``, ``device``, ``batch_size``).
    """
    query = dict(ref=ref, model=model, scheme=scheme, k=k, quantity=quantity, **extra)
    df = load_values(paper, **query)
    desc = ", ".join(f"{key}={val!r}" for key, val in {"paper": paper, **query}.items())
    if len(df) == 0:
        raise KeyError(f"no published value for {desc} in {values_path()}")
    if len(df) > 1:
        varying = [c for c in COLUMNS if c not in ("value", "note") and df[c].nunique(dropna=False) > 1]
        varying = varying or ["note"]
        options = df[varying].astype(str).drop_duplicates().to_dict("records")
        raise KeyError(f"{len(df)} published values match {desc}; narrow by {varying}: {options}")
    return float(df["value"].iloc[0])
