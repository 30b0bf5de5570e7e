"""Evidence: every result a claim can be judged on, as ONE long table.

Chapters build it from the results store (exact counts, GPU reference results, runs of this
machine, scaled-down training runs); :meth:`Evidence.from_values` turns the paper's own printed
numbers (``data/paper/values.csv``) into *quoted* evidence, so every claim is also checked on the
paper's tables.

Columns (missing = NaN / None)
------------------------------
model       the model key the claim talks about (values.csv naming: ``mobilenet_v1``, ``resnext50``,
            ``wrn28_10``, ``wrn34_2``, ``mobilenet_v2``, ``vgg13_bn``, ``wrn28_40`` ...). A scaled-down
            run standing in for a paper model (WRN-28-1 for WRN-28-10) is filed under the paper's
            model with ``kind="scaled-down"`` and what actually ran in ``spec``. A single conv layer
            is filed under :func:`layer_model` (``conv(m=512,n=512,k=3,h=14,w=14)``); dataset facts
            and structural facts of no model have no model.
variant     canonical scheme text (``standard``, ``gc:8``, ``e2gc:4``, ``gc2l:4``, ``gc2l:4:unfused``,
            ``shuffle:2``, ``flgc:2``; VGG ``baseline``, ``A`` .. ``E``); None for facts of no variant.
quantity    as in the claims' args (``params``, ``macs``, ``epf``, ``top1``, ``error``, ``train_loss``,
            ``val_acc``, ``test_acc``, ``latency``, ``step_time``, ``wall_clock`` ...).
value       float in the quantity's BASE unit (:data:`BASE_UNITS`): plain counts for params/MACs
            (not M or G), mJ for energy, % for accuracies, errors and drops, seconds for times,
            bytes for memory, plain numbers for ratios and fractions. The mean over seeds/trials.
std         sample std over seeds/trials (NaN for one value and for exact counts).
n           number of seeds/trials (1 for exact and quoted values).
kind        ``exact`` | ``measured here`` | ``measured`` (committed GPU reference results) |
            ``quoted`` (the paper's own numbers) | ``scaled-down``.
device      the device measured on (``NVIDIA H200``, ``cpu``, the paper's ``P100`` ...).
batch_size  the batch size of a measurement; NaN where it does not apply.
dataset     the dataset the CLAIM talks about (values.csv naming: ``ImageNet-1K``, ``CIFAR-10``,
            ``Kuzushiji`` ...); what a scaled-down run actually used is said in ``spec``/``source``.
epoch       NaN for final values; a curve has one row per epoch.
source      a short human description ("NVIDIA H200, graph mode, 2026-12-01, commit 1a2b3c").
spec        the ModelSpec text (or other description) of what actually ran.
sanity      None when the setting passed its sanity check, else the reason it failed.
part        (optional; added by this implementation) the part of the model or dataset a value
            belongs to: a layer name (``per: layer`` claims), a data split (``train``/``val``/
            ``test``/``total``), ``min``/``max`` of a printed range.
data        ``real`` | ``stand-in`` (synthetic images generated offline); where not given, read
            from ``spec`` (the training chapters write ``<task> (standin)`` there); None: no data.
replicates  what ``n`` counts: ``seeds`` (trained values) | ``trials`` (repeated timings or
            energy windows of one setting); where not given, ``seeds`` for trained quantities
            (:data:`TRAINED`) and ``trials`` for other measured values. Only seeds count toward
            :data:`MIN_SEEDS`: timing trials say how steady a clock is, not how a result varies
            with the initialisation.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..value_kinds import EXACT, MEASURED, MEASURED_HERE, QUOTED, SCALED  # noqa: E402  (named once there)
#: evidence kinds; when several rows give the same cell, the first kind in this order is used
KINDS = (EXACT, MEASURED, MEASURED_HERE, SCALED, QUOTED)

REQUIRED = ("model", "variant", "quantity", "value", "kind")
COLUMNS = ("model", "variant", "quantity", "value", "std", "n", "kind", "device", "batch_size", "dataset",
           "epoch", "source", "spec", "sanity", "part", "data", "replicates")
_TEXT = ("model", "variant", "quantity", "kind", "device", "dataset", "source", "spec", "sanity", "part", "data",
         "replicates")
REAL, STAND_IN = "real", "stand-in"
SEEDS, TRIALS = "seeds", "trials"
_KEY = ("model", "variant", "quantity", "device", "batch_size", "dataset", "part", "epoch")

#: quantities of trained runs: their scaled-down or measured values are means over seeds, and a
#: verdict on them needs at least MIN_SEEDS seeds.
TRAINED = frozenset({"top1", "error", "train_loss", "val_loss", "train_acc", "val_acc", "test_acc",
                     "train_acc_drop", "val_acc_drop", "test_acc_drop", "top1_gain"})
MIN_SEEDS = 3

#: base unit of each quantity in ``value`` (for display; values.csv units are converted to these)
BASE_UNITS = {
    "params": "count", "params_per_processor": "count", "train_params": "count", "macs": "count",
    "macs_per_group": "count", "activations": "count", "out_channels": "count", "dataset_size": "count",
    "num_classes": "count", "epf": "mJ", "top1": "%", "error": "%", "train_acc": "%", "val_acc": "%",
    "test_acc": "%", "val_acc_drop": "%", "test_acc_drop": "%", "macs_drop": "%", "inference_time_drop": "%",
    "energy_gain": "%", "top1_gain": "%", "latency": "s", "step_time": "s", "train_step_time": "s",
    "wall_clock": "s", "peak_memory": "bytes", "gpu_utilization": "%", "conv_time_share": "fraction",
    "coarse_dim_fraction": "fraction", "comm_volume": "count", "train_loss": "", "val_loss": "",
    "ai": "", "macs_ratio": "x", "params_ratio": "x", "wall_clock_ratio": "x", "split_ratio": "",
    "receptive_field": "px",
}
#: values.csv unit -> factor to the base unit
UNIT_SCALE = {"K": 1e3, "M": 1e6, "G": 1e9}
PARTS = ("train", "val", "test", "total", "min", "max")


def layer_model(m: int, n: int, k: int, h: int, w: int | None = None) -> str:
    """The ``model`` key of a single conv layer (E2GC Fig. 3's layer: ``layer_model(512, 512, 3, 14)``)."""
    w = h if w is None else w
    return f"conv(m={int(m)},n={int(n)},k={int(k)},h={int(h)},w={int(w)})"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str | None:
    return None if _missing(value) or str(value) == "" else str(value)


def _int_or_none(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if _missing(value) else float(value)


@dataclass(frozen=True)
class Cell:
    """One value of the evidence, as an evaluator uses it."""

    model: str | None
    variant: str | None
    quantity: str
    value: float
    std: float
    n: int
    kind: str
    device: str | None = None
    batch_size: int | None = None
    dataset: str | None = None
    epoch: float | None = None
    source: str | None = None
    spec: str | None = None
    sanity: str | None = None
    part: str | None = None
    data: str | None = None
    replicates: str | None = None

    @property
    def spread(self) -> float:
        """The std used by the seed rule: 0 for a deterministic value."""
        return 0.0 if _missing(self.std) else float(self.std)

    @property
    def needs_seeds(self) -> bool:
        """A mean over seeds of a trained run: judged only with at least MIN_SEEDS seeds (timing
        trials are not seeds and never count toward them)."""
        return self.replicates == SEEDS and self.kind in (SCALED, MEASURED, MEASURED_HERE)

    @property
    def deterministic(self) -> bool:
        return self.kind in (EXACT, QUOTED)


class Evidence:
    """The long results table (columns in the module docstring), validated and indexed."""

    def __init__(self, frame: pd.DataFrame | Evidence | None = None):
        if isinstance(frame, Evidence):
            frame = frame.frame
        if frame is None:
            frame = pd.DataFrame(columns=list(COLUMNS))
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(list(frame))
        self._frame = self._validate(frame)
        self._index: dict[tuple, list[int]] | None = None
        self._cells: list[Cell] | None = None

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def _validate(frame: pd.DataFrame) -> pd.DataFrame:
        unknown = [c for c in frame.columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"evidence: unknown column(s) {unknown}; the columns are {list(COLUMNS)}")
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing and len(frame):
            raise ValueError(f"evidence: missing column(s) {missing}; required are {list(REQUIRED)}")
        df = frame.copy().reset_index(drop=True)
        for col in COLUMNS:
            if col not in df.columns:
                df[col] = None
        df = df[list(COLUMNS)]
        for col in _TEXT:
            df[col] = pd.Series([_text(v) for v in df[col]], index=df.index, dtype=object)
        df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
        df["std"] = pd.to_numeric(df["std"], errors="coerce").astype(float)
        df["n"] = pd.to_numeric(df["n"], errors="coerce").fillna(1)
        df["batch_size"] = pd.to_numeric(df["batch_size"], errors="coerce").astype(float)
        df["epoch"] = pd.to_numeric(df["epoch"], errors="coerce").astype(float)
        problems = []
        std_missing = df["std"].isna()
        deterministic = df["kind"].isin([EXACT, QUOTED])
        tests = [
            (~df["kind"].isin(KINDS), lambda r: f"kind {r['kind']!r} is not one of {', '.join(KINDS)}"),
            (df["quantity"].isna(), lambda r: "no quantity"),
            (~np.isfinite(df["value"]), lambda r: "value is not a finite number"),
            ((df["n"] < 1) | (df["n"] != df["n"].round()), lambda r: f"n must be a positive integer, got {r['n']}"),
            (~std_missing & (df["std"] < 0), lambda r: "negative std"),
            ((df["n"] >= 2) & std_missing, lambda r: f"a mean over {int(r['n'])} values needs its std"),
            (deterministic & ((df["n"] != 1) | ~std_missing),
             lambda r: f"{r['kind']} values are single numbers (n = 1, std NaN)"),
            ((df["quantity"] == "dataset_size") & df["part"].notna() & ~df["part"].isin(PARTS),
             lambda r: f"a dataset split is one of {', '.join(PARTS)}"),
        ]
        for mask, say in tests:
            for i in df.index[mask.fillna(True) if mask.dtype == object else mask]:
                r = df.loc[i]
                problems.append(f"row {i} ({r['model']}, {r['variant']}, {r['quantity']}): {say(r)}")
        if problems:
            raise ValueError("evidence: " + "; ".join(problems[:10]) +
                             (f"; +{len(problems) - 10} more" if len(problems) > 10 else ""))
        df["n"] = df["n"].astype(int)
        df["data"] = pd.Series([d if d is not None else _data_of(spec) for d, spec in zip(df["data"], df["spec"])],
                               index=df.index, dtype=object)
        df["replicates"] = pd.Series([r if r is not None else _replicates_of(q, k)
                                      for r, q, k in zip(df["replicates"], df["quantity"], df["kind"])],
                                     index=df.index, dtype=object)
        bad = sorted({str(d) for d in df["data"] if d not in (None, REAL, STAND_IN)} |
                     {str(r) for r in df["replicates"] if r not in (None, SEEDS, TRIALS)})
        if bad:
            raise ValueError(f"evidence: data is {REAL} or {STAND_IN}, replicates {SEEDS} or {TRIALS}; got {bad}")
        return df

    @classmethod
    def empty(cls) -> Evidence:
        return cls(pd.DataFrame(columns=list(COLUMNS)))

    @classmethod
    def concat(cls, *items: Evidence | pd.DataFrame | Iterable) -> Evidence:
        """One evidence table from several (Evidence objects, frames, or lists of them)."""
        frames = []
        for item in items:
            if isinstance(item, (list, tuple)):
                frames.extend(cls(i).frame for i in item if i is not None)
            elif item is not None:
                frames.append(cls(item).frame)
        frames = [f for f in frames if len(f)]
        if not frames:
            return cls.empty()
        return cls(pd.concat(frames, ignore_index=True))

    @classmethod
    def from_values(cls, values: pd.DataFrame) -> Evidence:
        """The paper's printed numbers (rows of :func:`gconvlib.paper.load_values`) as quoted evidence.

        Scheme + k become the canonical variant text (``fggc``, 8 -> ``gc:8``); M/G units become plain
        counts; ``part`` is read off the note (``train``/``val``/``test``/``total``/``min``/``max``).
        A number printed twice (GC-2L Tables 1 and 3) is one row, its sources joined.
        """
        from ..models.spec import scheme_text

        rows = []
        for r in values.itertuples(index=False):
            k = None if _missing(r.k) else int(r.k)
            scheme = str(r.scheme or "")
            if not scheme:
                variant = None
            elif k is None and scheme.lower() not in ("standard", "sc") and not _is_vgg(scheme):
                variant = None  # a grouped scheme whose k the text does not give
            else:
                variant = scheme_text(scheme, k)
            note = str(getattr(r, "note", "") or "")
            head = note.split(";", 1)[0].split(" ", 1)[0].strip()
            rows.append(dict(model=_text(r.model), variant=variant, quantity=r.quantity,
                             value=float(r.value) * UNIT_SCALE.get(str(r.unit), 1.0), std=math.nan, n=1,
                             kind=QUOTED, device=_text(r.device), batch_size=_float_or_none(r.batch_size),
                             dataset=_text(r.dataset), epoch=math.nan,
                             source=f"{PAPER_NAMES.get(r.paper, r.paper)} {r.ref}", spec=None, sanity=None,
                             part=head if head in PARTS else None))
        if not rows:
            return cls.empty()
        frame = pd.DataFrame(rows)
        key = [c for c in _KEY if c != "epoch"] + ["value"]
        grouped = frame.astype({c: object for c in key}).where(frame.notna(), None)
        grouped["_key"] = [tuple(r) for r in grouped[key].itertuples(index=False)]
        sources = grouped.groupby("_key", sort=False)["source"].agg(_join_sources)
        frame = frame[~grouped["_key"].duplicated()].copy()
        frame["source"] = [sources[k] for k in grouped.loc[frame.index, "_key"]]
        return cls(frame.reset_index(drop=True))

    # -- access -----------------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """A copy of the table."""
        return self._frame.copy()

    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        kinds = self._frame["kind"].value_counts().to_dict()
        return f"Evidence({len(self)} rows: {kinds})"

    def where(self, **filters: Any) -> Evidence:
        """Rows whose columns equal the filters (a list/tuple/set = any of; None = missing)."""
        df = self._frame
        mask = pd.Series(True, index=df.index)
        for col, want in filters.items():
            if col not in COLUMNS:
                raise ValueError(f"unknown evidence column {col!r}")
            wants = list(want) if isinstance(want, (list, tuple, set, frozenset)) else [want]
            hit = pd.Series(False, index=df.index)
            for w in wants:
                hit |= df[col].isna() if w is None else df[col].eq(w)
            mask &= hit
        return Evidence(df[mask])

    def without(self, kind: str) -> Evidence:
        return Evidence(self._frame[self._frame["kind"] != kind])

    def _build_index(self) -> None:
        self._cells, self._index = [], {}
        for i, row in enumerate(self._frame.itertuples(index=False)):
            cell = Cell(model=_text(row.model), variant=_text(row.variant), quantity=_text(row.quantity),
                        value=float(row.value), std=float(row.std), n=int(row.n), kind=_text(row.kind),
                        device=_text(row.device), batch_size=_int_or_none(row.batch_size),
                        dataset=_text(row.dataset), epoch=_float_or_none(row.epoch), source=_text(row.source),
                        spec=_text(row.spec), sanity=_text(row.sanity), part=_text(row.part),
                        data=_text(row.data), replicates=_text(row.replicates))
            self._cells.append(cell)
            key = (cell.model, cell.variant, cell.quantity, cell.device, cell.batch_size, cell.dataset,
                   cell.part, cell.epoch)
            self._index.setdefault(key, []).append(i)
            self._index.setdefault(("by_mq", cell.model, cell.quantity), []).append(i)

    def cells(self, model: str | None = None, quantity: str | None = None) -> list[Cell]:
        """Every cell of a model and quantity (all variants, contexts, epochs and parts)."""
        if self._index is None:
            self._build_index()
        return [self._cells[i] for i in self._index.get(("by_mq", model, quantity), [])]

    def cell(self, model: str | None, variant: str | None, quantity: str, device: str | None = None,
             batch_size: int | None = None, dataset: str | None = None, part: str | None = None,
             epoch: float | None = None) -> Cell | None:
        """The one cell of these coordinates (None where missing); when several kinds give it, the
        first of :data:`KINDS` wins."""
        if self._index is None:
            self._build_index()
        hits = self._index.get((model, variant, quantity, device, _int_or_none(batch_size), dataset, part,
                                _float_or_none(epoch)), [])
        if not hits:
            return None
        found = [self._cells[i] for i in hits]
        return min(found, key=lambda c: KINDS.index(c.kind))

    def variants(self, model: str | None, quantity: str) -> set[str]:
        return {c.variant for c in self.cells(model, quantity) if c.variant is not None}

    def contexts(self, model: str | None, quantity: str) -> set[tuple]:
        """(device, batch_size, dataset) of the final values of a model and quantity."""
        return {(c.device, c.batch_size, c.dataset) for c in self.cells(model, quantity) if c.epoch is None}


PAPER_NAMES = {"e2gc": "E2GC", "gc2l": "GC-2L", "vgg": "VGG"}


def _join_sources(sources) -> str:
    """"GC-2L Table 1" + "GC-2L Table 3" -> "GC-2L Table 1 / Table 3"."""
    sources = list(dict.fromkeys(sources))
    heads = {s.split(" ", 1)[0] for s in sources}
    if len(sources) > 1 and len(heads) == 1:
        return sources[0] + "".join(" / " + s.split(" ", 1)[1] for s in sources[1:])
    return " / ".join(sources)


def _data_of(spec: str | None) -> str | None:
    """What data a spec names: the training chapters write ``<task> (standin)`` / ``(real)``, the
    parallel chapter ``standin data`` / ``real data``; None where it names none."""
    if spec is None:
        return None
    if re.search(r"\(standin\)|\bstandin data\b", spec):
        return STAND_IN
    return REAL if re.search(r"\(real\)|\breal data\b", spec) else None


def _replicates_of(quantity: str | None, kind: str | None) -> str | None:
    if kind in (EXACT, QUOTED):
        return None
    return SEEDS if quantity in TRAINED else TRIALS


def _is_vgg(scheme: str) -> bool:
    return scheme in ("baseline", "A", "B", "C", "D", "E")


def pooled_sd(s1: float, n1: int, s2: float, n2: int) -> float:
    """Pooled sample std of two means: sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2)); a side
    without a spread (None, NaN: deterministic) contributes nothing; 0 when neither has one."""
    s1, s2 = (0.0 if _missing(s) else float(s) for s in (s1, s2))
    den = n1 + n2 - 2
    if den <= 0:
        return math.sqrt((s1 ** 2 + s2 ** 2) / 2)
    return math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / den)


def pooled_std(a: Cell, b: Cell) -> float:
    """:func:`pooled_sd` of two cells."""
    return pooled_sd(a.spread, a.n, b.spread, b.n)


def relative_pooled_std(a: Cell, b: Cell) -> float:
    """Pooled relative std (s / |mean|) of two means, for ratios."""
    ra = a.spread / abs(a.value) if a.value else 0.0
    rb = b.spread / abs(b.value) if b.value else 0.0
    return pooled_sd(ra, a.n, rb, b.n)


__all__ = ["Evidence", "Cell", "KINDS", "COLUMNS", "REQUIRED", "TRAINED", "MIN_SEEDS", "BASE_UNITS",
           "EXACT", "MEASURED_HERE", "MEASURED", "QUOTED", "SCALED", "REAL", "STAND_IN", "SEEDS", "TRIALS",
           "layer_model", "pooled_std",
           "relative_pooled_std"]
