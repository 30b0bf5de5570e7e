"""The two collectives group-parallel GC-2L needs, autograd-aware, on ``torch.distributed``.

* :func:`gather_channels`: all-gather of each rank's channel slice into all channels (forward),
  and its adjoint, a reduce-scatter (sum) of the gradient (backward): the pair
  ``torch.distributed.nn.functional.all_gather`` implements (the tests check they agree). It is
  written as a small ``autograd.Function`` over ``all_gather_single`` / ``reduce_scatter_single``
  so that the time spent inside each collective and the elements it moves can be recorded.
* :func:`all_reduce_`: in-place sum of tensors (gradients of replicated parameters), timed too.

While :func:`recording` is active, every call adds its wall time, the elements of its result
(all-gather: the gathered tensor; reduce-scatter: its input; all-reduce: the tensor) and the
bytes to a :class:`CommStats`: the chapter separates computation from communication with it.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class CommStats:
    """Communication of one process: seconds inside collectives, elements and bytes per kind."""

    seconds: float = 0.0
    calls: int = 0
    elements: dict = field(default_factory=lambda: {"all_gather": 0, "reduce_scatter": 0, "all_reduce": 0})
    bytes: int = 0

    def add(self, kind: str, seconds: float, tensor: torch.Tensor) -> None:
        self.seconds += seconds
        self.calls += 1
        self.elements[kind] += tensor.numel()
        self.bytes += tensor.numel() * tensor.element_size()

    def reset(self) -> None:
        self.seconds, self.calls, self.bytes = 0.0, 0, 0
        self.elements = {k: 0 for k in self.elements}


_ACTIVE: list[CommStats] = []


@contextlib.contextmanager
def recording(stats: CommStats):
    """Record every collective of this module into ``stats`` while inside."""
    _ACTIVE.append(stats)
    try:
        yield stats
    finally:
        _ACTIVE.remove(stats)


def _sync(t: torch.Tensor) -> None:
    if t.is_cuda and _ACTIVE:
        torch.cuda.synchronize(t.device)


def _timed(kind: str, result: torch.Tensor, call) -> None:
    _sync(result)
    t0 = time.perf_counter()
    call()
    _sync(result)
    dt = time.perf_counter() - t0
    for stats in _ACTIVE:
        stats.add(kind, dt, result)


def _all_gather_dim0(out: torch.Tensor, inp: torch.Tensor, group) -> None:
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor   # torch < 2.13
    fn(out, inp, group=group)


def _reduce_scatter_dim0(out: torch.Tensor, inp: torch.Tensor, group) -> None:
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    fn(out, inp, op=dist.ReduceOp.SUM, group=group)


class _GatherChannels(torch.autograd.Function):
    """(N, c, ...) on each of P ranks -> (N, P c, ...) on every rank, rank order = channel order."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group, world: int) -> torch.Tensor:
        ctx.group, ctx.world = group, world
        local = x.transpose(0, 1).contiguous()                 # (c, N, ...): dim 0 is gathered
        out = local.new_empty((world * local.shape[0], *local.shape[1:]))
        _timed("all_gather", out, lambda: _all_gather_dim0(out, local, group))
        return out.transpose(0, 1)                             # (N, P c, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        full = grad.transpose(0, 1).contiguous()               # (P c, N, ...)
        out = full.new_empty((full.shape[0] // ctx.world, *full.shape[1:]))
        _timed("reduce_scatter", full, lambda: _reduce_scatter_dim0(out, full, ctx.group))
        return out.transpose(0, 1), None, None


def gather_channels(x: torch.Tensor, group=None, world: int | None = None) -> torch.Tensor:
    """All channels of a tensor sharded by channel (dim 1) over the group; identity for one process.

    Backward sums the gradient of every rank's copy and hands each rank its own slice (the
    adjoint of all-gather), which is right because every rank uses the gathered tensor for its
    own outputs (GC-2L's coarse conv) or for a 1/P share of a replicated loss (the classifier)."""
    world = world or (dist.get_world_size(group) if dist.is_initialized() else 1)
    if world == 1:
        return x
    return _GatherChannels.apply(x, group, world)


def all_reduce_(tensors: list[torch.Tensor], group=None) -> None:
    """Sum ``tensors`` over the group, in place (one flat buffer, one collective)."""
    tensors = [t for t in tensors if t is not None]
    if not tensors or not dist.is_initialized() or dist.get_world_size(group) == 1:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    _timed("all_reduce", flat, lambda: dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group))
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].view_as(t))
        offset += n
