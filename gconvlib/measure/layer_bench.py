"""What GC-2L's coarse path costs in a training step: GC vs GC-2L fused vs GC-2L unfused.

Times one forward + backward (``loss.backward()``) of a whole WRN-28-``width`` (10 classes,
32x32 synthetic input, channels_last model and input) per variant and number of groups g. At
each g the three variants are interleaved step by step, in a rotating order, so that drift and
other processes on a shared machine affect all three alike; the median per variant is reported.
This is a benchmark, not a test: its numbers depend on the machine and its load.
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..models.spec import ModelSpec
from ..runtime import cpu_count

#: the three variants compared at each g, and their scheme text
VARIANTS = ("gc", "gc2l_fused", "gc2l_unfused")
SCHEMES = {"gc": "gc:{g}", "gc2l_fused": "gc2l:{g}", "gc2l_unfused": "gc2l:{g}:unfused"}
DEFAULT_GROUPS = (2, 4, 8)


def spec_for(variant: str, g: int, width: int) -> ModelSpec:
    """WRN-28-``width`` (10 classes, 32 px) with the variant's scheme at ``g`` groups."""
    return ModelSpec(f"wrn28_{width}", SCHEMES[variant].format(g=g), num_classes=10, input_size=32)


#: CPUs this process may run on: the library's one count (its affinity mask)
usable_cpus = cpu_count


@contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` torch threads (default: the CPUs this process may use), then restore."""
    if n is not None and n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n or usable_cpus())
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def benchmark_gc2l(width: int = 2, batch: int = 32, device: str = "cpu", repeats: int = 10,
                   warmup: int = 2, threads: int | None = None, groups=DEFAULT_GROUPS,
                   seed: int = 0, log=None) -> dict:
    """Median ms per forward+backward step of GC, GC-2L fused and GC-2L unfused at each g.

    Torch's thread count and random state are restored afterwards.

    Returns ``{"ms": {g: {variant: median}}, "fused_over_unfused": {g: ratio},
    "gc2l_over_gc": {g: ratio}, "summary": {...: median over g}, ...}``; GC-2L means the
    fused layer, the paper's implementation.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def build(variant: str, g: int):
        torch.manual_seed(seed)  # every variant from the same seed (and the same data)
        model = spec_for(variant, g, width).build().to(device, memory_format=torch.channels_last).train()
        x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
        return model, x, torch.randint(0, 10, (batch,), device=device)

    def step(model, x, y) -> float:
        model.zero_grad(set_to_none=True)
        sync()
        start = time.perf_counter()
        F.cross_entropy(model(x), y).backward()
        sync()
        return 1e3 * (time.perf_counter() - start)

    times = {}
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch_threads(threads) as n_threads, torch.random.fork_rng(devices=rng_devices):
        for g in groups:  # one g at a time: three models in memory, not 3 x len(groups)
            runs = {v: build(v, g) for v in VARIANTS}
            for v in VARIANTS:
                times[g, v] = []
                for _ in range(warmup):
                    step(*runs[v])
            for r in range(repeats):
                for v in VARIANTS[r % 3:] + VARIANTS[:r % 3]:  # interleaved, order rotating
                    times[g, v].append(step(*runs[v]))
            if log:
                log(f"g={g}: " + ", ".join(f"{v} {statistics.median(times[g, v]):.1f} ms" for v in VARIANTS))
            del runs

    ms = {g: {v: statistics.median(times[g, v]) for v in VARIANTS} for g in groups}
    fused_over_unfused = {g: ms[g]["gc2l_fused"] / ms[g]["gc2l_unfused"] for g in groups}
    gc2l_over_gc = {g: ms[g]["gc2l_fused"] / ms[g]["gc"] for g in groups}
    return {"model": f"wrn28-{width}", "batch": batch, "device": str(device), "threads": n_threads,
            "repeats": repeats, "warmup": warmup, "groups": list(groups), "ms": ms,
            "fused_over_unfused": fused_over_unfused, "gc2l_over_gc": gc2l_over_gc,
            "summary": {"fused_over_unfused": statistics.median(fused_over_unfused.values()),
                        "gc2l_over_gc": statistics.median(gc2l_over_gc.values())}}


def format_gc2l(result: dict) -> str:
    """A small table; the last line is ``fused_over_unfused=<x> gc2l_over_gc=<y>``."""
    lines = [f"{result['model']}, batch {result['batch']}, {result['device']}, {result['threads']} threads, "
             f"median of {result['repeats']} fwd+bwd steps (ms)",
             f"{'g':>3}{'GC':>10}{'GC-2L':>10}{'unfused':>10}{'fused/unf':>11}{'2L/GC':>8}"]
    for g in result["groups"]:
        ms = result["ms"][g]
        lines.append(f"{g:>3}{ms['gc']:>10.1f}{ms['gc2l_fused']:>10.1f}{ms['gc2l_unfused']:>10.1f}"
                     f"{result['fused_over_unfused'][g]:>11.3f}{result['gc2l_over_gc'][g]:>8.3f}")
    s = result["summary"]
    lines.append(f"fused_over_unfused={s['fused_over_unfused']:.3f} gc2l_over_gc={s['gc2l_over_gc']:.3f}")
    return "\n".join(lines)


__all__ = ["DEFAULT_GROUPS", "SCHEMES", "VARIANTS", "benchmark_gc2l", "format_gc2l", "spec_for", "torch_threads",
           "usable_cpus"]
