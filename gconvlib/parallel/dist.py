"""Process groups: PyTorch's own ``torch.distributed``, started by ``torchrun`` or spawned here.

Nothing here moves data or schedules work: processes are started by ``torchrun`` (training,
``gconv train``) or by :func:`spawn` (``torch.multiprocessing.spawn``, for ``gconv parallel-check``
and the chapter's timings), and they talk through a ``torch.distributed`` process group:
**gloo** on CPUs, **NCCL** on GPUs (one GPU per process).
"""
from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
#: environment variables torchrun sets in every process it starts
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


class ParallelError(ValueError):
    """A parallel setting that cannot run (bad process count, missing backend ...): one line."""


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size, its node-local rank, backend and device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None
    device: str = "cpu"

    @property
    def nodes(self) -> int:
        return max(1, self.world_size // max(1, self.local_world_size))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def as_dict(self) -> dict:
        return {"processes": self.world_size, "nodes": self.nodes, "processes_per_node": self.local_world_size,
                "backend": self.backend, "device": self.device}


def torchrun_env(environ: dict | None = None) -> dict | None:
    """rank, world_size, local_rank, local_world_size from torchrun's variables; None when absent."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        world = int(env["WORLD_SIZE"])
        rank = int(env["RANK"])
        local_rank = int(env.get("LOCAL_RANK", rank))
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    except ValueError:
        raise ParallelError(f"torchrun's variables are not integers: "
                            f"{ {k: env.get(k) for k in TORCHRUN_ENV} }") from None
    if world < 1 or not 0 <= rank < world:
        raise ParallelError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
    return {"rank": rank, "world_size": world, "local_rank": local_rank, "local_world_size": local_world}


def backend_for(device: str | torch.device) -> str:
    """gloo for CPU tensors, NCCL for CUDA tensors."""
    kind = torch.device(device).type
    if kind not in BACKENDS:
        raise ParallelError(f"no process-group backend for device {str(device)!r}: use cpu (gloo) or cuda (nccl)")
    return BACKENDS[kind]


def check_backend(backend: str, device: str | torch.device = "cpu") -> str:
    """``backend`` if this machine can run it with tensors on ``device``; else a one-line error."""
    kind = torch.device(device).type
    if not dist.is_available():
        raise ParallelError("this PyTorch build has no torch.distributed")
    if backend == "gloo":
        if not dist.is_gloo_available():
            raise ParallelError("backend 'gloo' is not available in this PyTorch build")
    elif backend == "nccl":
        if not dist.is_nccl_available():
            raise ParallelError("backend 'nccl' is not available in this PyTorch build (use gloo on CPUs)")
        if kind != "cuda":
            raise ParallelError("backend 'nccl' needs CUDA tensors: use --device cuda, or gloo on CPUs")
        if not torch.cuda.is_available():
            raise ParallelError("backend 'nccl' needs a CUDA GPU and none is available (use gloo on CPUs)")
    else:
        raise ParallelError(f"unknown backend {backend!r}: use gloo (CPU) or nccl (CUDA)")
    return backend


def check_gpus(processes_per_node: int) -> None:
    """NCCL needs one GPU per process of a node."""
    have = torch.cuda.device_count()
    if processes_per_node > have:
        raise ParallelError(f"{processes_per_node} processes per node need {processes_per_node} GPUs "
                            f"(one each, NCCL); this node has {have}")


def free_port() -> int:
    """A free TCP port on localhost for a spawned process group's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_process_group(rank: int, world_size: int, backend: str, port: int | None = None,
                       addr: str = "127.0.0.1", local_world_size: int | None = None,
                       device: str = "cpu") -> DistInfo:
    """Join a process group: with ``port``, a localhost TCP rendezvous (spawned processes);
    without, torchrun's environment (``env://``)."""
    check_backend(backend, device)
    if port is not None:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = addr, str(port)
    if not dist.is_initialized():
        kwargs = {}
        if backend == "nccl":
            kwargs["device_id"] = torch.device(device)
        dist.init_process_group(backend, rank=rank, world_size=world_size, **kwargs)
    elif dist.get_world_size() != world_size:
        raise ParallelError(f"a process group of {dist.get_world_size()} processes exists already, "
                            f"not {world_size}")
    local = local_world_size or world_size
    return DistInfo(rank, world_size, rank % local, local, backend, str(device))


def init_from_torchrun(device: str = "auto") -> DistInfo | None:
    """Join torchrun's process group (backend from the device); None when not started by torchrun
    or started as a single process."""
    env = torchrun_env()
    if env is None or env["world_size"] == 1:
        return None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        check_gpus(env["local_world_size"])
        device = torch.device("cuda", env["local_rank"])
        torch.cuda.set_device(device)
    backend = check_backend(backend_for(device), device)
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend, **kwargs)
    if dist.get_world_size() != env["world_size"]:
        raise ParallelError(f"WORLD_SIZE={env['world_size']} but the process group has {dist.get_world_size()} "
                            f"processes")
    return DistInfo(env["rank"], env["world_size"], env["local_rank"], env["local_world_size"], backend, str(device))


def current() -> DistInfo:
    """This process's place in the initialized default group (a single process when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    env = torchrun_env() or {}
    world = dist.get_world_size()
    local_world = env.get("local_world_size", world)
    rank = dist.get_rank()
    return DistInfo(rank, world, env.get("local_rank", rank % local_world), local_world,
                    dist.get_backend(), "cpu")


def _worker(rank: int, fn: Callable, procs: int, backend: str, port: int, threads: int | None,
            folder: str, args: tuple, kwargs: dict) -> None:
    from pathlib import Path

    if threads:
        torch.set_num_threads(threads)
    path = Path(folder) / f"rank{rank}.pt"
    try:
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

    from ..train.device import available_cpus

    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ParallelError(f"the number of processes must be a positive integer, got {procs!r}")
    check_backend(backend, "cuda" if backend == "nccl" else "cpu")
    if backend == "nccl":
        check_gpus(procs)
    threads = threads or max(1, available_cpus() // procs)
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
