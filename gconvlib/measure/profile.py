"""Share of a training step's time spent in convolutions (GC-2L abstract: "convolution
dominates training time"), read with the PyTorch profiler.

A few eager training steps (zero grads, forward, cross-entropy, backward) of a cell are profiled
after warm-up. The share is the self time of the convolution operators (forward and backward:
every operator whose name contains ``conv``) over the self time of all operators, on the device
that ran them (CUDA kernel time on a GPU, CPU time on a CPU). A cell that fails is a result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..models.spec import ModelSpec
from .protocol import OK, environment, failure_text, measuring, resolve_device, utc_now


@dataclass(frozen=True)
class ConvShareCell:
    spec: ModelSpec
    batch_size: int

    def __post_init__(self):
        object.__setattr__(self, "spec", ModelSpec.parse(self.spec))

    @property
    def label(self) -> str:
        return f"{self.spec.text} B={self.batch_size}"

    def key(self) -> dict:
        return {"model": self.spec.text, "batch_size": self.batch_size}


def conv_share(averages: Iterable, device_type: str) -> tuple[float, float, float]:
    """(share, conv seconds, total seconds) from profiler ``key_averages()`` rows: self time of
    operators whose name contains "conv" over the self time of all operators. Only operator rows
    (run on the CPU) count: on a GPU their self device time is the time of the kernels they
    launched, and the kernels' own rows would count those twice."""
    attr = "self_device_time_total" if device_type == "cuda" else "self_cpu_time_total"
    conv = total = 0.0
    for row in averages:
        if not str(getattr(row, "device_type", "CPU")).upper().endswith("CPU"):
            continue
        t = float(getattr(row, attr, 0.0) or 0.0)
        total += t
        if "conv" in str(row.key).lower():
            conv += t
    if total <= 0:
        raise ValueError("the profiler recorded no operator time")
    return conv / total, conv / 1e6, total / 1e6


def measure_conv_share(cells: Iterable[ConvShareCell], device: str = "cpu", steps: int = 3, warmup: int = 2,
                       on_result: Callable[[ConvShareCell, dict], Any] | None = None, *,
                       threads: int | None = None, seed: int = 0,
                       log: Callable[[str], Any] | None = None) -> list[dict]:
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    device = resolve_device(device)
    cuda = device.startswith("cuda")
    say = log or (lambda msg: None)
    results = []
    with measuring(device, True, threads, seed):
        env = environment(device)
        for cell in cells:
            result = {"status": OK, **env, "steps": steps}
            try:
                spec = cell.spec
                model = spec.build(device).train()
                gen = torch.Generator().manual_seed(seed)
                x = torch.randn(cell.batch_size, 3, spec.input_size, spec.input_size, generator=gen).to(device)
                y = torch.randint(0, spec.num_classes, (cell.batch_size,), generator=gen).to(device)

                def step():
                    model.zero_grad(set_to_none=False)
                    F.cross_entropy(model(x), y).backward()

                for _ in range(warmup):
                    step()
                if cuda:
                    torch.cuda.synchronize(device)
                activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
                with profile(activities=activities) as prof:
                    for _ in range(steps):
                        step()
                    if cuda:
                        torch.cuda.synchronize(device)
                share, conv_s, total_s = conv_share(prof.key_averages(), "cuda" if cuda else "cpu")
                result.update(conv_time_share=share, conv_seconds=conv_s, total_seconds=total_s,
                              timed_on="CUDA kernels" if cuda else "CPU operators")
                say(f"{cell.label}: convolutions {100 * share:.1f} % of the step's operator time")
                del model
            except Exception as exc:  # noqa: BLE001
                result["status"] = failure_text(exc)
                say(f"{cell.label}: {result['status']}")
            result["measured_at"] = utc_now()
            results.append(result)
            if on_result is not None:
                on_result(cell, result)
            if cuda:
                torch.cuda.empty_cache()
    return results


__all__ = ["ConvShareCell", "conv_share", "measure_conv_share"]
