"""Resumable EPF sweeps and the configurations of the papers' measurements.

A sweep appends each configuration to its CSV as soon as it is finished (atomic rewrite of the
whole file) and, when run again, skips configurations already present for the same device,
mode and protocol. So a long sweep runs in pieces of a few minutes each (``time_budget_s``
stops between configurations), and an interrupted piece loses at most the configurations that
were still being measured.

Reference measurements made on GPUs are committed as ``data/results/reference/
<experiment>_<device slug>.csv`` (one file per experiment and device); :func:`load_reference`
reads all devices' files of an experiment into one frame.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..store import REFERENCE_DIR, atomic_write_text
from .protocol import EpfConfig, EpfProtocol, device_name, effective_mode, measure_epf, resolve_device
from .latency import VGG_VARIANTS

#: the columns every EPF sweep CSV starts with (more follow, see SWEEP_COLUMNS)
REQUIRED_COLUMNS = ["model", "scheme", "k", "batch_size", "epf_total_mj", "epf_dynamic_mj", "cv",
                    "ms_per_step", "avg_power_w", "idle_power_w", "trials", "window_s", "mode", "device",
                    "driver", "torch", "commit", "measured_at"]
SWEEP_COLUMNS = ["experiment", *REQUIRED_COLUMNS,
                 "frames_per_s", "cv_quantity", "cv_time", "num_classes", "input_size", "steps_per_trial",
                 "stop_reason", "energy_available", "unavailable_reason", "meter", "meter_approximate",
                 "idle_note", "requested_mode", "mode_note", "device_type", "cudnn", "cpu_threads", "dirty",
                 "temperatures", "throttle_reasons", "trial_epf_mj", "trial_ms_per_step", "telemetry",
                 "protocol", "protocol_key"]
LATENCY_COLUMNS = ["experiment", "model", "variant", "batch_size", "ms_per_image_median", "ms_per_image_q1",
                   "ms_per_image_q3", "ms_per_image_iqr", "ms_per_image_min", "ms_per_image_max",
                   "ms_per_batch_median", "images_per_s", "repeats", "warmup", "input_size", "num_classes",
                   "device", "device_type", "torch", "cpu_threads", "cudnn_benchmark", "commit", "dirty",
                   "measured_at"]
#: what makes two rows "the same measurement" for resuming
KEY_FIELDS = ("experiment", "model", "scheme", "k", "batch_size", "num_classes", "input_size",
              "device", "mode", "protocol_key")


# -- the papers' configurations -------------------------------------------------------------

E2GC_MODELS = ("mobilenet_v1", "resnext50")
E2GC_SIZES = (1, 2, 4, 8, 16, 32)     # E2GC: group size G
FGGC_GROUPS = (2, 4, 8, 16, 32)       # FgGC: number of groups g


def e2gc_configs(batch_sizes: Sequence[int] = (1, 4, 16), models: Sequence[str] = E2GC_MODELS) -> list[EpfConfig]:
    """E2GC Tables III/IV: per model, E2GC G in {1..32} and FgGC g in {2..32} (11 variants, 22 for
    both models) at each batch size; ImageNet shape (224 px, 1000 classes)."""
    out = []
    for model in models:
        if model not in E2GC_MODELS:
            raise ValueError(f"E2GC models are {', '.join(E2GC_MODELS)}, got {model!r}")
        for b in batch_sizes:
            out += [EpfConfig(model, "e2gc", g, b) for g in E2GC_SIZES]
            out += [EpfConfig(model, "fggc", g, b) for g in FGGC_GROUPS]
    return out


def gc2l_overhead_configs(batch_sizes: Sequence[int] = (128,), groups: Sequence[int] = (2, 4, 8, 16),
                          width: int = 10) -> list[EpfConfig]:
    """Cost of GC-2L's coarse path: WRN-28-10 (CIFAR shape) with GC, GC-2L fused (one conv for
    fine + representatives, the paper's implementation) and GC-2L unfused (two convs) at each g.
    Batch 128 is the paper's training batch."""
    return [EpfConfig(f"wrn28_{width}", kind, g, b, num_classes=10, input_size=32)
            for b in batch_sizes for g in groups for kind in ("gc", "gc2l", "gc2l_unfused")]


def vgg_latency_variants() -> tuple[str, ...]:
    """The VGG paper's schemes: baseline and A..E."""
    return VGG_VARIANTS


EXPERIMENTS: dict[str, Callable[..., list[EpfConfig]]] = {
    "e2gc": e2gc_configs,
    "gc2l_overhead": gc2l_overhead_configs,
}


# -- reference files ------------------------------------------------------------------------

def device_slug(name: str) -> str:
    """"NVIDIA H100 80GB HBM3" -> "nvidia_h100_80gb_hbm3"."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "unknown"


def reference_path(experiment: str, device_name: str, directory: Path | str | None = None) -> Path:
    """Where the committed results of ``experiment`` measured on ``device_name`` live."""
    return Path(directory if directory is not None else REFERENCE_DIR) / f"{experiment}_{device_slug(device_name)}.csv"


def _empty_columns(experiment: str) -> list[str]:
    return LATENCY_COLUMNS if experiment.startswith("latency") else SWEEP_COLUMNS


def load_reference(experiment: str, directory: Path | str | None = None):
    """All devices' reference rows of ``experiment`` as one DataFrame (empty, with the columns, if none)."""
    import pandas as pd

    folder = Path(directory if directory is not None else REFERENCE_DIR)
    frames = [pd.read_csv(p) for p in sorted(folder.glob(f"{experiment}_*.csv"))]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=_empty_columns(experiment))
    df = pd.concat(frames, ignore_index=True)
    if "experiment" in df.columns:  # "e2gc_*" could also match another experiment's prefix
        df = df[df["experiment"] == experiment].reset_index(drop=True)
    return df


# -- CSV ------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    """One CSV cell: missing -> empty (NaN for pandas, never 0); structures -> JSON."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _norm(value: Any) -> str:
    text = _cell(value)
    if re.fullmatch(r"-?\d+\.0+", text):  # "4.0" and "4" are the same k
        text = text.split(".")[0]
    return text


def read_csv_rows(path: Path | str) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows (as strings, exactly as stored) of a CSV; empty if it does not exist."""
    path = Path(path)
    if not path.exists():
        return [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_csv_rows(path: Path | str, rows: Iterable[dict], columns: Sequence[str]) -> None:
    """Atomically (re)write ``path``: ``columns`` first, then any other keys the rows carry."""
    rows = list(rows)
    cols = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r[c] if isinstance(r.get(c), str) else _cell(r.get(c)) for c in cols})
    atomic_write_text(Path(path), buf.getvalue())


def row_key(row: dict) -> tuple[str, ...]:
    return tuple(_norm(row.get(f)) for f in KEY_FIELDS)


# -- sweeps -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepSummary:
    out_csv: Path
    measured: int            # configurations measured by this call
    skipped: int             # already in the CSV for this device, mode and protocol
    remaining: int           # still missing after this call
    stopped_by_budget: bool


def estimate_config_seconds(protocol: EpfProtocol, setup_s: float = 10.0) -> float:
    """Shortest plausible time of one configuration inside an interleaved group (before anything
    has been measured; afterwards the sweep uses the observed time per configuration)."""
    return setup_s + protocol.min_trials * (protocol.window_s * protocol.window_margin + protocol.cooldown_s)


def _group_key(c: EpfConfig) -> tuple:
    return (c.model, c.batch_size, c.num_classes, c.input_size)


def run_sweep(name: str, configs: Sequence[EpfConfig], protocol: EpfProtocol | None = None,
              device: str = "cuda", out_csv: Path | str | None = None, time_budget_s: float | None = None,
              *, measure: Callable[..., list[dict]] = measure_epf, meter=None,
              log: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.monotonic,
              setup_estimate_s: float = 10.0) -> SweepSummary:
    """Measure the configurations of ``configs`` missing from ``out_csv`` and append them to it.

    Configurations are measured in interleaved groups of the same model and batch size (the
    variants compared with each other share thermal conditions). With ``time_budget_s`` a group
    (or the part of it that fits) is started only if its estimated duration fits in what is
    left, so the call returns cleanly between configurations; noisy configurations that need
    more than ``min_trials`` can still overrun the estimate. ``measure`` has the signature of
    :func:`measure_epf` (tests inject a fake one).
    """
    if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"sweep name must be a non-empty word (letters, digits, _ . -), got {name!r}")
    if time_budget_s is not None and time_budget_s < 0:
        raise ValueError(f"time_budget_s must be >= 0, got {time_budget_s}")
    protocol = protocol if protocol is not None else EpfProtocol()
    device = resolve_device(device)
    say = log or (lambda msg: None)
    identity = {"experiment": name, "device": device_name(device),
                "mode": effective_mode(protocol.mode, device)[0], "protocol_key": protocol.key()}
    out = Path(out_csv) if out_csv is not None else reference_path(name, identity["device"])

    columns, stored = read_csv_rows(out)
    done = {row_key(r) for r in stored}

    def key_of(c: EpfConfig) -> tuple:
        return row_key({**c.fields(), **identity})

    pending, seen = [], set()
    for c in configs:
        k = key_of(c)
        if k not in done and k not in seen:
            pending.append(c)
            seen.add(k)
    skipped = sum(1 for c in configs if key_of(c) in done)
    say(f"{name}: {len(pending)} to measure, {skipped} already in {out}")

    measured = 0

    def save(row: dict) -> None:
        nonlocal measured
        row = {**row, "experiment": name}
        for f in ("device", "mode", "protocol_key"):
            if row.get(f) in (None, ""):
                row[f] = identity[f]
        k = row_key(row)
        if k in done:
            return
        stored.append(row)
        done.add(k)
        measured += 1
        write_csv_rows(out, stored, list(dict.fromkeys([*SWEEP_COLUMNS, *columns])))

    groups: dict[tuple, list[EpfConfig]] = {}
    for c in pending:
        groups.setdefault(_group_key(c), []).append(c)

    start = clock()
    per_config_s: float | None = None
    stopped = False
    for group in groups.values():
        while group and not stopped:
            take = len(group)
            if time_budget_s is not None:
                left = time_budget_s - (clock() - start) - protocol.idle_s - protocol.cooldown_s
                each = per_config_s or estimate_config_seconds(protocol, setup_estimate_s)
                take = min(take, int(left // each)) if left > 0 else 0
                if take < 1:
                    say(f"time budget: {max(0.0, time_budget_s - (clock() - start)):.0f} s left, "
                        f"a configuration needs ~{each:.0f} s; stopping")
                    stopped = True
                    break
            chunk, group[:] = group[:take], group[take:]
            t0 = clock()
            for row in measure(chunk, protocol, device, meter=meter, on_result=save, log=log):
                save(row)  # a measure function that does not call on_result still gets saved
            observed = (clock() - t0) / len(chunk)
            per_config_s = max(per_config_s or 0.0, observed)
        if stopped:
            break
    remaining = sum(1 for c in pending if key_of(c) not in done)
    say(f"{name}: measured {measured}, {remaining} remaining -> {out}")
    return SweepSummary(out, measured, skipped, remaining, stopped)
