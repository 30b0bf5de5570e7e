"""One training step ready to be measured: the :class:`~gconvlib.measure.window.Runner` of an EPF window.

One step = zero the grads + forward + cross-entropy on synthetic labels + backward, on a batch
already on the device (the E2GC paper's "one forward and one backward pass"; no optimizer).

* **Memory format**: channels_last by default, as the training path runs; on a GPU in NCHW,
  depthwise convolutions run PyTorch's native kernel instead of cuDNN's, so the format changes
  what is measured and is a protocol knob recorded with every result.
* **AMP**: ``None`` (fp32) or ``"bf16"`` autocast around forward and loss (the autocast cache is
  off: a CUDA graph must not capture cached casts of weights).
* **CUDA graphs** (``mode="graph"``): capture follows the torch docs for whole-network capture:
  static input/target tensors, warm-up iterations on a side stream (lazy init, cuDNN autotuning and
  the ``.grad`` buffers happen there, outside the graph), then capture of zeroing the grads +
  forward + loss + backward. The side stream is the measurement run's, one for all its cells, so
  the allocator reuses the blocks warmed up for one cell in the next; cached blocks are released
  before each capture, so that the allocator never has to free memory (an out-of-memory retry)
  inside a capture, which fails it.
"""
from __future__ import annotations

import contextlib
import gc
import time

import torch
import torch.nn.functional as F

MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
AMP_DTYPES = {None: None, "bf16": torch.bfloat16}


def side_stream(device: str, mode: str):
    """The side stream of one measurement run (graph mode on a GPU), else ``None``."""
    if mode == "graph" and device.startswith("cuda"):
        return torch.cuda.Stream(device=device)
    return None


def free_memory(device: str, collect: bool = False) -> None:
    """Return the allocator's cached blocks to the device; ``collect``: first collect unreachable
    objects (a full collection takes 0.1-0.3 s with torch loaded: once per run, not per cell; a
    finished cell's model and graph have no reference cycles and go when their last reference does)."""
    if collect:
        gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


class TrainStep:
    """One cell ready to run: model, static synthetic batch, and (graph mode) the captured CUDA
    graph of the whole step (see the module doc). ``cell`` has ``spec`` and ``batch_size``."""

    def __init__(self, cell, device: str, mode: str, warmup_steps: int, seed: int = 0, *,
                 memory_format: str = "channels_last", amp: str | None = None, stream=None):
        if memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory_format must be one of {', '.join(MEMORY_FORMATS)}, got {memory_format!r}")
        if amp not in AMP_DTYPES:
            raise ValueError(f"amp must be None or one of {', '.join(k for k in AMP_DTYPES if k)}, got {amp!r}")
        self.device, self.mode = device, mode
        self.cuda = device.startswith("cuda")
        self.amp = AMP_DTYPES[amp]
        fmt = MEMORY_FORMATS[memory_format]
        torch.manual_seed(seed)
        spec, b = cell.spec, cell.batch_size
        self.model = spec.build(device).to(memory_format=fmt).train()
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(b, 3, spec.input_size, spec.input_size, generator=gen)
        self.x = x.to(device).contiguous(memory_format=fmt)
        self.y = torch.randint(0, spec.num_classes, (b,), generator=gen).to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.graph = None
        if mode == "graph":
            self._capture(warmup_steps, stream if stream is not None else side_stream(device, mode))
        else:
            self.run(warmup_steps)
        self.sync()

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def _zero_grad(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)  # what optimizer.zero_grad(set_to_none=False) runs

    def _autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self.amp, cache_enabled=False)

    def eager_step(self):
        self._zero_grad()
        with self._autocast():
            loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        return loss

    def _capture(self, warmup_steps: int, side) -> None:
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(max(3, warmup_steps)):  # docs: a few eager iterations before capture
                self.eager_step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        torch.cuda.synchronize(self.device)
        free_memory(self.device)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=side):
                self.static_loss = self.eager_step()
        except Exception as exc:
            raise RuntimeError(f"CUDA graph capture failed ({exc}); measure this model with mode='eager'") from exc
        self.graph = graph
        for _ in range(warmup_steps):
            graph.replay()

    def run(self, steps: int) -> None:
        """``steps`` training steps, queued without any host sync."""
        if self.graph is not None:
            replay = self.graph.replay
            for _ in range(steps):
                replay()
        else:
            for _ in range(steps):
                self.eager_step()

    def timed(self, steps: int) -> float:
        self.sync()
        t0 = time.perf_counter()
        self.run(steps)
        self.sync()
        return time.perf_counter() - t0

    # -- Runner ---------------------------------------------------------------------------
    def enqueue(self, steps: int):
        self.run(steps)
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def wait(self, handle) -> None:
        if self.cuda:
            handle.synchronize()

    def elapsed(self, start, end) -> float:
        if self.cuda:
            return start.elapsed_time(end) / 1000.0
        return end - start


__all__ = ["AMP_DTYPES", "MEMORY_FORMATS", "TrainStep", "free_memory", "side_stream"]
