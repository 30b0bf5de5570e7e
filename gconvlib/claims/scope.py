"""Scope: what can decide a claim, and which evidence lies outside it.

A claim states what can decide it through its evidence kind (``claims.yaml``): energy and time
measured on GPUs (``gpu_energy``, ``gpu_latency``), a multi-GPU run (``parallel_time``), trained
runs on the paper's data (``training``), counts (``exact``), time on any device (``cpu_time``).
Each piece of evidence carries its device, its data (real or stand-in) and what its replicates
are (:mod:`.evidence`). The rules, one function each:

* :func:`device_rule`  a measured (not counted) value from a device that is not a GPU is outside
  a GPU claim: two gloo processes on a 2-core CPU say nothing about Titan RTX GPUs;
* :func:`data_rule`    a trained value or data-set fact from the synthetic stand-in is outside
  every claim: the stand-in's images are not the paper's, and its accuracies say nothing about them;
* replicates: timing trials never count as seeds (:attr:`.evidence.Cell.needs_seeds`).

Evidence outside a claim's scope never decides it either way: the evaluator runs on the evidence
inside it; when that decides nothing and the outside evidence shows something, the verdict is
``not testable here (<why outside>; seen there: <what it showed>)``.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from .evidence import EXACT, QUOTED, STAND_IN, TRAINED, Evidence

#: evidence kinds of claims that only a GPU can decide
GPU_CLAIMS = frozenset({"gpu_energy", "gpu_latency", "parallel_time"})
_GPU_WORDS = ("cuda", "gpu", "nvidia", "tesla", "titan", "p100", "p4000", "h100", "h200", "a100", "rtx")
#: quantities that describe the data rather than a measurement (a stand-in's are not the paper's)
DATA_FACTS = frozenset({"dataset_size", "num_classes"})


def device_class(device: str | None) -> str | None:
    """``gpu`` | ``cpu`` | None (unnamed) of a device text (``NVIDIA H200``, ``cuda:0``, ``cpu``, ``P100``)."""
    if device is None or (isinstance(device, float) and pd.isna(device)):
        return None
    text = str(device).lower()
    if text.startswith("cpu"):
        return "cpu"
    return "gpu" if any(w in text for w in _GPU_WORDS) else None


def device_rule(claim_evidence: str, row: dict) -> str | None:
    """Why a measured value cannot decide a GPU claim (None: it may)."""
    if claim_evidence not in GPU_CLAIMS or row["kind"] in (EXACT, QUOTED) or row["quantity"] in TRAINED:
        return None
    if device_class(row["device"]) == "gpu":
        return None
    where = row["device"] or "an unnamed device"
    what = "a multi-GPU run" if claim_evidence == "parallel_time" else "GPUs"
    return f"measured on {where}; the claim is about {what}"


def data_rule(claim_evidence: str, row: dict) -> str | None:
    """Why a value from stand-in data cannot decide a claim (None: it may)."""
    if row["data"] != STAND_IN or not (row["quantity"] in TRAINED or row["quantity"] in DATA_FACTS):
        return None
    on = f" of {row['dataset']}" if row["dataset"] else ""
    return f"trained on the synthetic stand-in{on}, not the paper's data"


RULES: tuple[Callable[[str, dict], str | None], ...] = (device_rule, data_rule)


def split(claim_evidence: str, evidence: Evidence) -> tuple[Evidence, Evidence, str]:
    """(inside, outside, why outside) of the evidence for a claim of this evidence kind."""
    if not len(evidence):
        return evidence, Evidence.empty(), ""
    frame = evidence.frame
    reasons = []
    for row in frame[["kind", "quantity", "device", "data", "dataset"]].to_dict("records"):
        reasons.append(next((why for rule in RULES if (why := rule(claim_evidence, row))), None))
    out = pd.Series([r is not None for r in reasons], index=frame.index)
    if not out.any():
        return evidence, Evidence.empty(), ""
    why = "; ".join(dict.fromkeys(r for r in reasons if r))
    return Evidence(frame[~out]), Evidence(frame[out]), why
