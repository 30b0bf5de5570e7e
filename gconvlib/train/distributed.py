"""Data-parallel training: ``gconv train`` under ``torchrun`` (DistributedDataParallel).

A run started by ``torchrun --nproc-per-node N [--nnodes M] -m gconvlib.cli train ...`` trains
with :class:`torch.nn.parallel.DistributedDataParallel` on a ``torch.distributed`` process group
(gloo on CPUs, NCCL on GPUs, one GPU per process), and computes the *same* run as one process:

* **Data.** The loop indexes device-resident tensors by a per-epoch order (no DataLoader); each
  batch of that order is cut into N contiguous pieces and rank r trains on piece r
  (:meth:`~gconvlib.train.data.Split.batches` with ``shard``), so the ranks together see
  exactly the single-process batches. Augmentation parameters are drawn per image position,
  as before.
* **Loss.** Each rank's loss is its sum of per-image losses x N / (images in the whole batch);
  DDP averages the gradients over the N ranks, which gives the gradient of the single-process
  batch mean (also when the last batch does not split evenly).
* **BatchNorm** statistics are taken over the whole batch (all ranks): ``nn.SyncBatchNorm`` on
  GPUs; on CPUs, where ``SyncBatchNorm`` refuses CPU tensors, :class:`GlobalBatchNorm2d` (the
  same computation with an autograd-aware all-reduce of the per-channel sums).
* **Evaluation** is split over the ranks and the sums (loss, correct, confusion) are all-reduced.
* **Store and checkpoints.** Rank 0 holds the run's store lock, writes the checkpoints and the
  record; every rank resumes from the checkpoint rank 0 read (broadcast to all); the record
  (same key as the single-process run: the same computation) says how many processes and
  which devices ran it (``result["run"]["processes"]``, ``["devices"]``, ``["distributed"]``).

Equal to the single-process run up to floating-point summation order (the tests check 1e-5).
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..runtime import torchrun_env
from .data import shard_bounds
from .loop import Loop


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; backward sums the gradients (every rank's loss depends on the sum)."""

    @staticmethod
    def forward(ctx, x):
        out = x.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = grad.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are over the batches of every rank (CPU, gloo).

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm2d``; in eval mode, or in a
    single process, it *is* ``nn.BatchNorm2d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        c = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                           x.new_full((1,), x.numel() / c)])
        total = _AllReduceSum.apply(local.double())            # statistics in float64
        n = total[-1]
        mean64 = total[:c] / n
        var64 = (total[c:2 * c] / n - mean64 * mean64).clamp_min(0)
        mean, var = mean64.to(x.dtype), var64.to(x.dtype)
        if self.track_running_stats:
            with torch.no_grad():
                unbiased = (var64 * (n / (n - 1)) if float(n) > 1 else var64).to(x.dtype)
                self.running_mean.mul_(1 - factor).add_(factor * mean)
                self.running_var.mul_(1 - factor).add_(factor * unbiased)
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight
        shift = -mean * scale + (self.bias if self.bias is not None else 0)
        return x * scale.view(1, c, 1, 1) + shift.view(1, c, 1, 1)


def synchronized_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d of ``model`` with whole-batch statistics: ``nn.SyncBatchNorm`` on GPUs,
    :class:`GlobalBatchNorm2d` on CPUs (parameters and buffers kept, the same objects)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(model, name, new)
        else:
            synchronized_batchnorm(child, device)
    return model


class DataParallel:
    """This process's place in a data-parallel run, and the few collectives the run needs."""

    def __init__(self, rank: int, world: int, local_rank: int = 0, local_world: int | None = None):
        self.rank, self.world = rank, world
        self.local_rank, self.local_world = local_rank, local_world or world

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process (the node-local rank's); the CPU is shared."""
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def shard_order(self, order: torch.Tensor) -> torch.Tensor:
        lo, hi = shard_bounds(len(order), self.rank, self.world)
        return order[lo:hi]

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled)."""
        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list:
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def sum_(self, *tensors: torch.Tensor) -> None:
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)

    def describe(self, device: torch.device) -> dict:
        devices = self.gather(str(device))
        return {"processes": self.world, "nodes": max(1, self.world // self.local_world),
                "processes_per_node": self.local_world, "devices": devices,
                "backend": dist.get_backend(),
                "distributed": {"kind": "DistributedDataParallel", "batch_norm":
                                "SyncBatchNorm" if device.type == "cuda" else "GlobalBatchNorm2d (CPU)",
                                "sharding": "each batch of the single-process order split into contiguous "
                                            "per-rank pieces"}}

    def lock(self, store, kind: str, spec_dict: dict, code):
        """The run's store lock, held by rank 0 only (the others wait for it in collectives)."""
        return store.lock(kind, spec_dict, code=code) if self.main else contextlib.nullcontext()


def data_parallel() -> DataParallel | None:
    """The data-parallel context of this process: None unless a process group of more than one
    process is initialized (torchrun + ``gconv train``, or the caller's own)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    env = torchrun_env() or {}
    world, rank = dist.get_world_size(), dist.get_rank()
    return DataParallel(rank, world, env.get("local_rank", rank), env.get("local_world_size", world))


class DistributedLoop(Loop):
    """The training loop's steps under DDP: the model's BN synchronized, the forward wrapped in
    DistributedDataParallel, losses and counts summed over ranks."""

    def __init__(self, model, optimizer, device, settings, normalization, dp: DataParallel):
        synchronized_batchnorm(model, device)
        super().__init__(model, optimizer, device, settings, normalization)
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.dp = dp
        ids = [device.index] if device.type == "cuda" else None
        # BN buffers are equal on every rank by construction (whole-batch statistics): no
        # buffer broadcast before each forward (torch >= 2.14 names the switch forward_sync_buffers)
        import inspect

        sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
                else "broadcast_buffers")
        self.forward = DDP(self.forward, device_ids=ids, **{sync: False})

    def step_loss(self, out: torch.Tensor, y: torch.Tensor, whole: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's piece of a batch of ``whole`` images: DDP averages the gradients over ranks,
        so the piece's summed loss is scaled to the whole batch's mean."""
        summed = F.cross_entropy(out, y, reduction="sum")
        return summed * (self.dp.world / whole), summed, whole

    def sum_over_ranks(self, *tensors: torch.Tensor) -> None:
        self.dp.sum_(*tensors)

    def evaluation_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each rank evaluates its piece of the split with the bare model (no DDP hooks)."""
        return self.model(x)
