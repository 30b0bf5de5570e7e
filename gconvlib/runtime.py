"""The floor every other module stands on: settings, device, CPUs, process group, commit.

This module imports nothing else of gconvlib, so any module may import it without making an
import cycle (``tests/test_imports.py`` checks both). It answers, once for the whole library:

* **settings**: every ``GCONV_*`` environment variable is declared in :data:`SETTINGS` and read
  through :func:`setting` (an undeclared name is an error, so a new variable cannot hide in a
  module nobody reads);
* **device**: :func:`resolve_device` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked);
* **CPUs**: :func:`cpu_count`, the CPUs this process may run on (its affinity mask);
* **process group**: :func:`init_process_group` (a spawned process) and :func:`init_from_torchrun`
  set the CUDA device of the process and pass it to ``torch.distributed`` for NCCL (NCCL refuses
  to start without it); gloo on CPUs;
* **provenance commit**: :func:`commit_state`, from git, or from ``GCONV_COMMIT`` on a copy of the
  checkout without ``.git`` (a GPU node); :func:`warn_if_commit_unknown` for runs whose records
  must name their commit.

torch is imported inside the functions that need it: the store and the pipeline import this
module for settings and the commit, and must not pay torch's start-up for that.
"""
from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# -- settings ---------------------------------------------------------------------------------

#: every environment variable the library reads, and what it sets
SETTINGS = {
    "GCONV_RESULTS": "results store of this machine (default data/results/local)",
    "GCONV_CACHE": "downloads and checkpoints (default data/cache)",
    "GCONV_OFFLINE": "1, true or yes: every download fails at once instead of trying the network",
    "GCONV_IMAGENET": "ImageNet root folder used when a profile names none",
    "GCONV_BOOK_DIR": "the Jupyter Book's folder (default book/; tests point it elsewhere)",
    "GCONV_NOTEBOOK_DIR": "source notebooks and their profiles/ (default notebooks/; tests)",
    "GCONV_NPROC_PER_NODE": "gconv plan's default torchrun processes per node (default 1)",
    "GCONV_TRAIN_JOBS": "training processes gconv notebooks starts before the notebooks run "
                        "(default: one per CPU, at most 4, on a machine without a GPU, else 1: none)",
    "GCONV_COMMIT": "the commit of a checkout copied without .git (recorded in provenance)",
    "GCONV_DEBUG": "1: show a fault's full traceback on the terminal instead of in a log file",
}
_FALSE = ("", "0", "false", "no")


def setting(name: str, default: str | None = None) -> str | None:
    """The value of environment variable ``name`` (a key of :data:`SETTINGS`), else ``default``."""
    if name not in SETTINGS:
        raise KeyError(f"{name!r} is not a gconvlib setting; declared ones: {', '.join(SETTINGS)}")
    value = os.environ.get(name)
    return default if value is None else value


def setting_flag(name: str) -> bool:
    """A yes/no setting: unset, empty, 0, false and no are off; anything else is on."""
    return (setting(name) or "").strip().lower() not in _FALSE


#: the folder settings: a relative one means the working directory when it is first read
PATH_SETTINGS = ("GCONV_RESULTS", "GCONV_CACHE", "GCONV_BOOK_DIR", "GCONV_NOTEBOOK_DIR")


def _working_dir() -> Path:
    try:
        return Path.cwd()
    except FileNotFoundError:  # started in a directory since deleted: nothing relative to resolve
        return ROOT


def setting_path(name: str, default: Path) -> Path:
    """A folder setting: the variable's path when set (and not empty), else ``default``.

    A relative path is resolved when it is read, against the working directory then (not when
    gconvlib was imported, so a variable set or changed later counts), and written back
    absolute: a later ``chdir`` in this process, and the processes it starts (notebook kernels,
    which run in ``notebooks/``), then read the same folder."""
    value = setting(name)
    if not value:
        return Path(default)
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = _working_dir() / path
        if name in PATH_SETTINGS:
            os.environ[name] = str(path)
    return path


def notebook_dir() -> Path:
    """The source notebooks' folder, with their profiles/ (``GCONV_NOTEBOOK_DIR`` overrides, for
    tests): where the pipeline executes them and the chapters read their parameters cells."""
    return setting_path("GCONV_NOTEBOOK_DIR", ROOT / "notebooks")


def absolute_env_paths() -> None:
    """Resolve every folder setting that is set now (see :func:`setting_path`): called before
    starting processes in another directory, so that they inherit absolute paths."""
    for name in PATH_SETTINGS:
        setting_path(name, ROOT)


# -- devices ----------------------------------------------------------------------------------

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(device="auto", *, allow_auto: bool = True):
    """``device`` as a checked ``torch.device``: ``cpu`` or ``cuda:N`` (plain ``cuda`` is the
    process's current CUDA device, so a rank that called ``set_device`` gets its own GPU);
    ``auto`` picks CUDA when it is there. ValueError, in one line, for anything else, for CUDA on
    a machine without it and for a GPU index that is not visible."""
    import torch

    text = str(device) if isinstance(device, (str, torch.device)) else None
    if text is None or not _DEVICE.fullmatch(text) or (text == "auto" and not allow_auto):
        options = "auto, cpu, cuda or cuda:N" if allow_auto else "cpu, cuda or cuda:N"
        raise ValueError(f"unknown device {device!r}; use {options}")
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {text!r} requested but CUDA is not available (torch {torch.__version__}); "
                         f"use cpu")
    index = int(text.partition(":")[2] or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {text!r} requested but only {torch.cuda.device_count()} GPU(s) are visible")
    return torch.device("cuda", index)


# -- CPUs -------------------------------------------------------------------------------------

def cpu_name() -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def cpu_count() -> int:
    """CPUs this process may run on: its affinity mask (a container or ``taskset`` limits it),
    not ``os.cpu_count()``, which counts the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


# -- process groups ---------------------------------------------------------------------------

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


def backend_for(device) -> str:
    """gloo for CPU tensors, NCCL for CUDA tensors."""
    import torch

    kind = torch.device(device).type
    if kind not in BACKENDS:
        raise ParallelError(f"no process-group backend for device {str(device)!r}: use cpu (gloo) or cuda (nccl)")
    return BACKENDS[kind]


def check_backend(backend: str, device="cpu") -> str:
    """``backend`` if this machine can run it with tensors on ``device``; else a one-line error."""
    import torch
    import torch.distributed as dist

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
    import torch

    have = torch.cuda.device_count()
    if processes_per_node > have:
        raise ParallelError(f"{processes_per_node} processes per node need {processes_per_node} GPUs "
                            f"(one each, NCCL); this node has {have}")


def free_port() -> int:
    """A free TCP port on localhost for a spawned process group's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_device(backend: str, local_rank: int):
    """The device of a process of a group: ``cuda:<local rank>`` for NCCL (one GPU per process),
    made the process's current CUDA device so that plain ``cuda`` tensors land on it; CPU for gloo."""
    import torch

    if backend != "nccl":
        return torch.device("cpu")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def _join(backend: str, device, **kwargs) -> None:
    """``torch.distributed.init_process_group``, given the device when the backend is NCCL: NCCL
    binds its communicator to that GPU (without it, every rank talks through GPU 0 or fails)."""
    import torch.distributed as dist

    if backend == "nccl":
        kwargs["device_id"] = device
    dist.init_process_group(backend, **kwargs)


def init_process_group(rank: int, world_size: int, backend: str, port: int | None = None,
                       addr: str = "127.0.0.1", local_world_size: int | None = None) -> DistInfo:
    """Join a process group: with ``port``, a localhost TCP rendezvous (spawned processes);
    without, torchrun's environment (``env://``). With NCCL the process's GPU is its node-local
    rank: set as its CUDA device and passed to the group."""
    import torch.distributed as dist

    local = local_world_size or world_size
    local_rank = rank % local
    check_backend(backend, "cuda" if backend == "nccl" else "cpu")   # before touching a GPU
    device = process_device(backend, local_rank)
    if port is not None:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = addr, str(port)
    if not dist.is_initialized():
        _join(backend, device, rank=rank, world_size=world_size)
    elif dist.get_world_size() != world_size:
        raise ParallelError(f"a process group of {dist.get_world_size()} processes exists already, "
                            f"not {world_size}")
    return DistInfo(rank, world_size, local_rank, local, backend, str(device))


def init_from_torchrun(device="auto") -> DistInfo | None:
    """Join torchrun's process group (backend from the device); None when not started by torchrun
    or started as a single process."""
    import torch.distributed as dist

    env = torchrun_env()
    if env is None or env["world_size"] == 1:
        return None
    kind = resolve_device(device).type
    if kind == "cuda":
        check_gpus(env["local_world_size"])
    backend = check_backend(BACKENDS[kind], kind)
    device = process_device(backend, env["local_rank"])
    if not dist.is_initialized():
        _join(backend, device)
    if dist.get_world_size() != env["world_size"]:
        raise ParallelError(f"WORLD_SIZE={env['world_size']} but the process group has {dist.get_world_size()} "
                            f"processes")
    return DistInfo(env["rank"], env["world_size"], env["local_rank"], env["local_world_size"], backend, str(device))


def current() -> DistInfo:
    """This process's place in the initialized default group (a single process when there is none)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    env = torchrun_env() or {}
    world = dist.get_world_size()
    local_world = env.get("local_world_size", world)
    rank = dist.get_rank()
    backend = dist.get_backend()
    device = f"cuda:{torch.cuda.current_device()}" if backend == "nccl" else "cpu"
    return DistInfo(rank, world, env.get("local_rank", rank % local_world), local_world, backend, device)


# -- provenance -------------------------------------------------------------------------------

class UnknownCommitWarning(UserWarning):
    """A run whose records should name their commit, made where the commit cannot be known."""


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def _git_state() -> tuple[str | None, bool | None]:
    # cached: git runs once per process (records are written by the hundred)
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return commit, (bool(status) if status is not None else None)


def commit_state() -> dict:
    """``{"commit", "dirty"}`` of the checkout: from git (dirty = tracked files changed); on a
    copy without ``.git``, the commit ``GCONV_COMMIT`` names and ``dirty`` unknown (None); both
    None when neither is there."""
    commit, dirty = _git_state()
    if commit is None:
        named = (setting("GCONV_COMMIT") or "").strip()
        return {"commit": named or None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def warn_if_commit_unknown(what: str) -> dict:
    """:func:`commit_state`, with an :class:`UnknownCommitWarning` naming ``what`` when the commit
    is unknown (a copy without ``.git`` and no ``GCONV_COMMIT``): its records could not be traced."""
    state = commit_state()
    if state["commit"] is None:
        warnings.warn(f"{what}: the commit of this checkout is unknown (no .git here and GCONV_COMMIT is not set); "
                      f"its records will say commit: null - set GCONV_COMMIT=<commit>", UnknownCommitWarning,
                      stacklevel=2)
    return state


__all__ = ["BACKENDS", "DistInfo", "PATH_SETTINGS", "ParallelError", "ROOT", "SETTINGS", "TORCHRUN_ENV",
           "UnknownCommitWarning", "absolute_env_paths", "backend_for", "check_backend", "check_gpus", "commit_state", "cpu_count", "current", "free_port",
           "init_from_torchrun", "init_process_group", "notebook_dir", "process_device", "resolve_device", "setting",
           "setting_flag", "setting_path", "torchrun_env", "warn_if_commit_unknown"]
