"""Inference latency (the VGG paper's Fig. 10: "inference time for processing one input").

Eval mode, ``torch.no_grad``, warm-up calls, then ``repeats`` timed forward passes at each
batch size; per-image latency = batch latency / batch size, reported as median with IQR, min
and max (latency distributions are skewed by the scheduler; the median is the robust centre).
On a GPU each call is timed with CUDA events and synchronised, so a number is one call's
latency, not the throughput of a pipelined queue.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from .protocol import cpu_name, device_name, is_vgg, model_kwargs, resolve_device, utc_now

VGG_VARIANTS = ("baseline", "A", "B", "C", "D", "E")


def parse_variant(model: str, variant: str) -> tuple[str, int | None]:
    """``(scheme_kind, k)`` from a variant name: a VGG letter ("A"), or "kind[:k]" ("e2gc:4")."""
    if is_vgg(model):
        return variant, None
    kind, _, k = variant.partition(":")
    if k and not k.isdigit():
        raise ValueError(f"variant {variant!r}: k must be an integer (e.g. 'e2gc:4')")
    return kind, int(k) if k else None


def latency_summary(times_s: Sequence[float], batch_size: int) -> dict:
    """Median, quartiles, IQR, min and max of per-image latency (ms) from per-call times (s)."""
    import numpy as np

    if not len(times_s):
        raise ValueError("no timings")
    per_image = np.asarray(times_s, dtype=float) * 1000.0 / batch_size
    q1, med, q3 = np.percentile(per_image, [25, 50, 75])
    return {"ms_per_image_median": float(med), "ms_per_image_q1": float(q1), "ms_per_image_q3": float(q3),
            "ms_per_image_iqr": float(q3 - q1), "ms_per_image_min": float(per_image.min()),
            "ms_per_image_max": float(per_image.max()),
            "ms_per_batch_median": float(med * batch_size), "images_per_s": float(1000.0 / med)}


def time_inference(model, inputs, repeats: int, warmup: int, device: str = "cpu") -> list[float]:
    """Seconds per forward call (``repeats`` of them) in eval mode under no_grad.

    The model's train/eval mode is restored afterwards, so a caller's training model is unchanged.
    """
    import torch

    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    cuda = str(device).startswith("cuda")
    was_training = model.training
    model.eval()
    times: list[float] = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(inputs)
            if cuda:
                torch.cuda.synchronize(device)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                for _ in range(repeats):
                    start.record()
                    model(inputs)
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / 1000.0)
            else:
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    model(inputs)
                    times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return times


def measure_latency(model_name: str = "vgg13_bn", variants: Sequence[str] | None = None,
                    batch_sizes: Sequence[int] = (1, 8), device: str = "cpu", repeats: int = 30,
                    warmup: int = 5, *, num_classes: int | None = None, input_size: int | None = None,
                    cudnn_benchmark: bool = True, seed: int = 0,
                    on_result: Callable[[dict], Any] | None = None,
                    log: Callable[[str], Any] | None = None) -> list[dict]:
    """Per-image inference latency of each variant at each batch size; one row per pair.

    ``variants``: VGG letters (default baseline, A..E) or "kind[:k]" for the other models.
    ``num_classes``/``input_size``: ``None`` keeps the model's defaults (VGG: 1120 classes, 224 px).
    """
    import torch

    from ..models import create_model
    from ..store import git_state

    device = resolve_device(device)
    batch_sizes = list(batch_sizes)
    if not batch_sizes or any(not isinstance(b, int) or b < 1 for b in batch_sizes):
        raise ValueError(f"batch sizes must be integers >= 1, got {batch_sizes}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    if variants is None:
        variants = VGG_VARIANTS if is_vgg(model_name) else ("standard",)
    # validate every variant before building anything (VGG-13 alone is 133 M parameters)
    built = [(v, *model_kwargs(model_name, *parse_variant(model_name, v))) for v in variants]
    say = log or (lambda msg: None)
    extra = {k: v for k, v in (("num_classes", num_classes), ("input_size", input_size)) if v is not None}
    name = device_name(device) if device.startswith("cuda") else cpu_name()
    git = git_state()
    prev_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    rows = []
    try:
        for variant, registry_name, kwargs in built:
            torch.manual_seed(seed)
            model = create_model(registry_name, **kwargs, **extra).to(device)
            size = getattr(model, "input_size", input_size or 224)
            linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
            classes = linears[-1].out_features if linears else num_classes
            for b in batch_sizes:
                x = torch.randn(b, 3, size, size, generator=torch.Generator().manual_seed(seed)).to(device)
                times = time_inference(model, x, repeats, warmup, device)
                row = {"model": model_name, "variant": variant, "batch_size": b,
                       **latency_summary(times, b), "repeats": repeats, "warmup": warmup,
                       "input_size": size, "num_classes": classes, "device": name,
                       "device_type": device.split(":")[0], "torch": torch.__version__,
                       "cpu_threads": torch.get_num_threads(), "cudnn_benchmark": cudnn_benchmark,
                       "commit": git["commit"], "dirty": git["dirty"], "measured_at": utc_now()}
                rows.append(row)
                say(f"{model_name} {variant} B={b}: {row['ms_per_image_median']:.3f} ms/image "
                    f"(IQR {row['ms_per_image_iqr']:.3f})")
                if on_result is not None:
                    on_result(row)
            del model
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    finally:
        torch.backends.cudnn.benchmark = prev_benchmark
    return rows
