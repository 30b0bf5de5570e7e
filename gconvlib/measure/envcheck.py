"""Part 1 of ``gconv reference``: the environment and meter check of one call.

Device, driver, torch, backend flags and commit; whether the energy counter can be read, how
often it moves and what one read costs (which sizes the work queued ahead of the device in every
EPF window); a CUDA-graph capture of a small training step (when it fails, the graph-mode parts
are skipped instead of storing every graph cell as failed); then active-idle power, measured
after that warm-up and a rest (a cold GPU right after CUDA's start-up idles lower than an active
one between trials), for several seconds, ``None`` when the counter does not move.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from .protocol import EpfCell, environment, failure_text, measuring, utc_now
from .window import idle_power


def check_environment(ctx, cell, check_s: float | None = None,
                      clock: Callable[[], float] = time.perf_counter) -> dict:
    """The part-1 record; sets ``ctx.counter_read_s``, ``ctx.graph_capture``, ``ctx.idle_power_w`` and
    ``ctx.idle_note`` (the EPF tasks then never measure idle power again in this call)."""
    meter = ctx.meter
    result = {"status": "ok", **environment(ctx.device, meter), "meter": meter.name,
              "meter_note": getattr(meter, "reason", None) or getattr(meter, "fallback_reason", None)}
    check_s = check_s if check_s is not None else (0.05 if ctx.smoke else 0.6)
    try:
        first = meter.counter()
    except Exception as exc:  # noqa: BLE001
        first, result["counter"] = None, f"unavailable: counter read failed: {exc}"
    if first is not None:
        reads, changes, last, t0 = 1, [], first, clock()
        while clock() - t0 < check_s:
            value = meter.counter()
            reads += 1
            if value != last:
                changes.append(clock())
                last = value
        gaps = [b - a for a, b in zip(changes, changes[1:])]
        ctx.counter_read_s = (clock() - t0) / reads
        result.update(counter="readable", counter_reads=reads, counter_read_ms=1000 * ctx.counter_read_s,
                      counter_updates=len(changes), counter_period_s=statistics.median(gaps) if gaps else None)
    elif "counter" not in result:
        result["counter"] = f"unavailable: {result['meter_note'] or 'no energy counter'}"
    t0 = time.perf_counter()
    ctx.graph_capture = result["graph_capture"] = graph_check(ctx, cell.graph_check)
    result["graph_check_s"] = time.perf_counter() - t0
    epf = ctx.sizes.epf
    with measuring(ctx.device, None, ctx.sizes.threads):
        if ctx.device.startswith("cuda"):
            torch.cuda.synchronize(ctx.device)
        watts, note = idle_power(meter, epf.idle_s, settle_s=epf.idle_settle_s)
    result.update(idle_power_w=watts, idle_note=note, idle_s=epf.idle_s, idle_settle_s=epf.idle_settle_s)
    ctx.idle_power_w, ctx.idle_note = watts, note or (None if watts is not None else "idle power unknown")
    result["measured_at"] = utc_now()
    return result


def graph_check(ctx, model: str) -> str:
    """``ok``, ``failed: ...`` or ``not checked (...)`` for a CUDA-graph capture of ``model``'s step."""
    if not ctx.device.startswith("cuda"):
        return "not checked (CUDA graphs need a GPU; graph-mode cells run eager on a CPU)"
    from .step import TrainStep

    epf = ctx.sizes.epf
    try:
        with measuring(ctx.device, True, None, tf32=epf.tf32):
            step = TrainStep(EpfCell(model, 2), ctx.device, "graph", 3, memory_format=epf.memory_format, amp=epf.amp)
            step.timed(3)
            del step
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return failure_text(exc)


def graph_capture_failed(ctx) -> bool:
    return str(getattr(ctx, "graph_capture", None) or "").startswith("failed")


def say_environment(result: dict, say) -> None:
    if not result:
        return
    idle = result.get("idle_power_w")
    say(f"  device {result.get('device')}, driver {result.get('driver')}, torch {result.get('torch')}, "
        f"CUDA {result.get('cuda')}, cuDNN {result.get('cudnn')}, commit {str(result.get('commit'))[:10]}"
        + (" (dirty)" if result.get("dirty") else ""))
    period = result.get("counter_period_s")
    say(f"  energy meter {result.get('meter')}: counter {result.get('counter')}"
        + (f", updates every {1000 * period:.0f} ms" if period else "")
        + (f", one read {result['counter_read_ms']:.1f} ms" if result.get("counter_read_ms") else "")
        + (f"; active idle {idle:.1f} W" if idle is not None else f"; active idle: {result.get('idle_note')}"))
    say(f"  CUDA graph capture: {result.get('graph_capture')}")


__all__ = ["check_environment", "graph_capture_failed", "graph_check", "say_environment"]
