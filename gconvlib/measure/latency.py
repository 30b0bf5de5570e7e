"""Inference latency (the VGG paper's Fig. 10: "inference time for processing one input").

A cell (:class:`LatencyCell`) is a model variant (a :class:`~gconvlib.models.ModelSpec`) and a
batch size. Eval mode, ``torch.no_grad``, warm-up calls, then ``repeats`` timed forward passes;
per-image latency = call latency / batch size, reported as median with quartiles, min and max
(latency distributions are skewed by the scheduler; the median is the robust centre) and a robust
spread (IQR / 1.349, the std of a normal distribution with that IQR). On a GPU each call is timed
with CUDA events and synchronised, so a number is one call's latency, not the throughput of a
pipelined queue. The cells of one call are timed interleaved (one call of each per round, in a
rotating order), so that load from other processes weighs on all variants alike. A cell that
fails is a result (``status: "failed: ..."``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..models.spec import ModelSpec
from .protocol import OK, MeasureCell, environment, failure_text, measuring, resolve_device, utc_now
from .step import MEMORY_FORMATS


LatencyCell = MeasureCell  # one configuration: a model variant and a batch size


@dataclass(frozen=True)
class LatencyProtocol:
    repeats: int = 30
    warmup: int = 5
    cudnn_benchmark: bool = True
    seed: int = 0
    memory_format: str = "contiguous"      # NCHW, PyTorch's default for inference and what the latency
                                           # chapter has measured (VGG13-BN has no depthwise layers, which
                                           # NCHW would send to a non-cuDNN kernel); recorded per result
    tf32: bool = False                     # full fp32, as the EPF steps (see EpfProtocol.tf32)

    def __post_init__(self):
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError(f"need repeats >= 1 and warmup >= 0, got {self.repeats} and {self.warmup}")
        if self.memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory_format must be one of {', '.join(MEMORY_FORMATS)}, got {self.memory_format!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def latency_summary(times_s: Sequence[float], batch_size: int) -> dict:
    """Median, quartiles, IQR, robust std, min and max of per-image latency (ms) from per-call times (s)."""
    if not len(times_s):
        raise ValueError("no timings")
    per_image = np.asarray(times_s, dtype=float) * 1000.0 / batch_size
    q1, med, q3 = np.percentile(per_image, [25, 50, 75])
    return {"ms_per_image_median": float(med), "ms_per_image_q1": float(q1), "ms_per_image_q3": float(q3),
            "ms_per_image_iqr": float(q3 - q1), "ms_per_image_std": float((q3 - q1) / 1.349),
            "ms_per_image_min": float(per_image.min()), "ms_per_image_max": float(per_image.max()),
            "ms_per_batch_median": float(med * batch_size), "images_per_s": float(1000.0 / med),
            "repeats": len(per_image)}


def _timer(device: str):
    """A function that runs one call and returns its seconds (CUDA events on a GPU)."""
    if str(device).startswith("cuda"):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def timed(call) -> float:
            start.record()
            call()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
        return timed

    def timed(call) -> float:
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0
    return timed


def time_inference(model, inputs, repeats: int, warmup: int, device: str = "cpu") -> list[float]:
    """Seconds per forward call (``repeats`` of them) in eval mode under no_grad; the model's
    train/eval mode is restored afterwards."""
    return time_interleaved([(model, inputs)], repeats, warmup, device)[0]


def time_interleaved(calls: Sequence[tuple], repeats: int, warmup: int, device: str = "cpu") -> list[list[float]]:
    """Seconds per forward call of each ``(model, inputs)``: ``warmup`` untimed calls each, then
    ``repeats`` rounds that time every pair once, in an order rotating by one each round, so that
    drift and other processes on a shared machine weigh on all of them alike. Eval mode and no_grad;
    each model's train/eval mode is restored afterwards."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    timed = _timer(device)
    modes = [model.training for model, _ in calls]
    times: list[list[float]] = [[] for _ in calls]
    try:
        for model, _ in calls:
            model.eval()
        with torch.no_grad():
            for model, x in calls:
                for _ in range(warmup):
                    model(x)
            if str(device).startswith("cuda"):
                torch.cuda.synchronize(device)
            n = len(calls)
            for r in range(repeats):
                for i in [(r + j) % n for j in range(n)]:
                    model, x = calls[i]
                    times[i].append(timed(lambda: model(x)))
    finally:
        for (model, _), mode in zip(calls, modes):
            model.train(mode)
    return times


def measure_latency(cells: Iterable[LatencyCell], protocol: LatencyProtocol | None = None, device: str = "cpu",
                    on_result: Callable[[LatencyCell, dict], Any] | None = None, *, threads: int | None = None,
                    log: Callable[[str], Any] | None = None) -> list[dict]:
    """Per-image inference latency of every cell; one result per cell, in order. The cells' models
    are built once per variant and timed interleaved (:func:`time_interleaved`). A cell whose model
    cannot be built or run is a result (``status: "failed: ..."``). Global state is restored."""
    protocol = protocol or LatencyProtocol()
    cells = list(cells)
    for c in cells:
        if not isinstance(c, LatencyCell):
            raise TypeError(f"cells must be LatencyCell, got {type(c).__name__}")
    device = resolve_device(device)
    say = log or (lambda msg: None)
    results: dict[int, dict] = {}
    fmt = MEMORY_FORMATS[protocol.memory_format]
    with measuring(device, protocol.cudnn_benchmark, threads, protocol.seed, protocol.tf32):
        env = {**environment(device), "memory_format": protocol.memory_format, "amp": None}
        models: dict[ModelSpec, Any] = {}
        runnable = []
        for i, cell in enumerate(cells):
            try:
                if cell.spec not in models:
                    torch.manual_seed(protocol.seed)
                    models[cell.spec] = cell.spec.build(device).to(memory_format=fmt)
                gen = torch.Generator().manual_seed(protocol.seed)
                size = cell.spec.input_size
                x = torch.randn(cell.batch_size, 3, size, size, generator=gen).to(device).contiguous(memory_format=fmt)
                with torch.no_grad():
                    models[cell.spec].eval()(x)  # fails here, not inside the timed rounds
                runnable.append((i, models[cell.spec], x))
            except Exception as exc:  # noqa: BLE001 - a failed cell is a result
                results[i] = {"status": failure_text(exc), **env, "measured_at": utc_now()}
                say(f"{cell.label}: {results[i]['status']}")
        if runnable:
            times = time_interleaved([(m, x) for _, m, x in runnable], protocol.repeats, protocol.warmup, device)
            for (i, _, _), t in zip(runnable, times):
                cell = cells[i]
                results[i] = {"status": OK, **env, **latency_summary(t, cell.batch_size), "warmup": protocol.warmup,
                              "measured_at": utc_now()}
                say(f"{cell.label}: {results[i]['ms_per_image_median']:.3f} ms/image "
                    f"(IQR {results[i]['ms_per_image_iqr']:.3f})")
        del models, runnable
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    out = [results[i] for i in range(len(cells))]
    if on_result is not None:
        for cell, result in zip(cells, out):
            on_result(cell, result)
    return out


__all__ = ["LatencyCell", "LatencyProtocol", "latency_summary", "measure_latency", "time_inference",
           "time_interleaved"]
