"""Process groups: PyTorch's own ``torch.distributed``, started by ``torchrun`` or spawned here.

Nothing here moves data or schedules work: processes are started by ``torchrun`` (training,
``gconv train``) or by :func:`spawn` (``torch.multiprocessing.spawn``, for ``gconv parallel-check``
and the chapter's timings), and they talk through a ``torch.distributed`` process group:
**gloo** on CPUs, **NCCL** on GPUs (one GPU per process).
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import torch
import torch.distributed as dist

# process-group set-up is the runtime floor's (it imports nothing of gconvlib, so training and
# measuring can join a group without importing this package); re-exported here for callers
from ..runtime import (BACKENDS, TORCHRUN_ENV, DistInfo, ParallelError, backend_for, check_backend, check_gpus,
                       cpu_count, current, free_port, init_from_torchrun, init_process_group, torchrun_env)


def _worker(rank: int, fn: Callable, procs: int, backend: str, port: int, threads: int | None,
            folder: str, args: tuple, kwargs: dict) -> None:
    from pathlib import Path

    if threads:
        torch.set_num_threads(threads)
    path = Path(folder) / f"rank{rank}.pt"
    try:
        # with NCCL this makes cuda:<rank> the process's device and hands it to the group
        init_process_group(rank, procs, backend, port)
        out = fn(rank, procs, *args, **kwargs)
        torch.save(("ok", out), path)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        torch.save(("error", f"{type(e).__name__}: {e}"), path)
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def spawn(fn: Callable, procs: int, *args: Any, backend: str = "gloo", threads: int | None = None,
          **kwargs: Any) -> list[Any]:
    """Run ``fn(rank, procs, *args, **kwargs)`` in ``procs`` new processes joined in a ``backend``
    process group on a free localhost port (``torch.multiprocessing.spawn``); return each rank's
    result (picklable), in rank order. ``threads``: torch threads per process (default: the CPUs
    of this process's affinity shared among them)."""
    import torch.multiprocessing as mp

    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ParallelError(f"the number of processes must be a positive integer, got {procs!r}")
    check_backend(backend, "cuda" if backend == "nccl" else "cpu")
    if backend == "nccl":
        check_gpus(procs)
    threads = threads or max(1, cpu_count() // procs)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gconv-spawn-") as folder:
        # results go through files, not a pipe: a rank blocked writing a large result into a
        # pipe nobody reads while the parent waits in join() would never finish
        def read(rank):
            path = os.path.join(folder, f"rank{rank}.pt")
            return torch.load(path, weights_only=False) if os.path.exists(path) else None

        try:
            mp.spawn(_worker, args=(fn, procs, backend, port, threads, folder, args, kwargs), nprocs=procs,
                     join=True)
        except Exception as e:  # a rank failed: report its own message
            failed = [(r, got[1]) for r in range(procs) if (got := read(r)) is not None and got[0] == "error"]
            if failed:
                raise ParallelError(f"rank {failed[0][0]} of {procs} failed: {failed[0][1]}") from None
            raise ParallelError(f"a spawned process failed: {e}") from None
        return [read(r)[1] for r in range(procs)]


__all__ = ["BACKENDS", "DistInfo", "ParallelError", "TORCHRUN_ENV", "backend_for", "check_backend", "check_gpus",
           "current", "free_port", "init_from_torchrun", "init_process_group", "spawn", "torchrun_env"]
