"""Wall clock of one training step on P processes, computation and communication apart.

Each configuration runs in its own ``P`` spawned processes (gloo on CPUs; NCCL with one GPU per
process where there are GPUs): P = 1 is the ordinary single-process model (SC, or GC-2L/GC in
the single-process layer), P > 1 the group-parallel model (:mod:`.model`). A step is forward,
cross-entropy, backward (:meth:`~.model.GroupParallelWideResNet.backward`) and an SGD step
(momentum 0.9) on random data, in float32, contiguous NCHW, ``threads`` torch threads per process.

After ``warmup`` untimed steps, ``trials`` timed blocks of ``steps`` steps each (a barrier before
every block) give the step time; the time spent inside the collectives
(:class:`~.collectives.CommStats`, rank 0) is the communication, the rest the computation. The
elements the collectives moved are counted too, and must equal :func:`.cost.comm_volume`.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from ..models.spec import ModelSpec
from .collectives import CommStats, recording
from .dist import current, spawn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(spec: ModelSpec, rank: int, world: int, group, batch: int, steps: int, warmup: int, trials: int,
             seed: int, dev: torch.device) -> dict:
    import torch.distributed as dist

    from .model import GroupParallelWideResNet

    torch.manual_seed(seed)
    if world == 1:
        model = spec.build("cpu").to(dev)

        def backward(loss):
            loss.backward()
    else:
        model = GroupParallelWideResNet(spec, rank, world, group, device=dev)
        backward = model.backward
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, spec.input_size, spec.input_size, generator=g).to(dev)
    y = torch.randint(0, spec.num_classes, (batch,), generator=g).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        backward(F.cross_entropy(model(x), y))
        opt.step()

    for _ in range(warmup):
        step()
    stats, times, comm = CommStats(), [], []
    for _ in range(trials):
        if world > 1:
            dist.barrier(group)
        stats.reset()
        _sync(dev)
        t0 = time.perf_counter()
        with recording(stats):
            for _ in range(steps):
                step()
        _sync(dev)
        times.append((time.perf_counter() - t0) / steps)
        comm.append(stats.seconds / steps)
    return {"step_s": times, "comm_s": comm, "elements": {k: v // steps for k, v in stats.elements.items()},
            "calls": stats.calls // steps, "bytes": stats.bytes // steps,
            "held_parameters": sum(p.numel() for p in model.parameters()),
            "threads": torch.get_num_threads(), "device": str(dev)}


def _bench_rank(rank: int, world: int, configs: list, batch: int, steps: int, warmup: int, trials: int,
                seed: int, device: str) -> list:
    """Every (spec, procs) of ``configs`` in turn; ranks >= procs wait (a barrier) meanwhile."""
    import torch.distributed as dist

    dev = torch.device(current().device)   # the GPU the process group was set up on (NCCL), else the CPU
    if dev.type != torch.device(device).type:
        raise RuntimeError(f"rank {rank} joined its process group on {dev}, not on {device}")
    groups = {p: (dist.new_group(list(range(p))) if 1 < p < world else None)
              for p in sorted({p for _, p in configs})}
    out = []
    for spec_text, procs in configs:
        if rank < procs:
            out.append(_measure(ModelSpec.parse(spec_text), rank, procs, groups[procs], batch, steps, warmup,
                                trials, seed, dev))
        else:
            out.append(None)
        if world > 1:
            dist.barrier()
    return out


def _summary(spec: str, procs: int, batch: int, steps: int, trials: int, results: list, backend: str) -> dict:
    r0 = results[0]
    step_s, comm_s = r0["step_s"], r0["comm_s"]
    compute = [s - c for s, c in zip(step_s, comm_s)]

    def sd(v):
        return statistics.stdev(v) if len(v) > 1 else float("nan")

    return {"spec": spec, "procs": procs, "batch_size": batch, "steps": steps, "trials": trials,
            "threads": r0["threads"], "device": r0["device"], "backend": backend if procs > 1 else None,
            "step_s": statistics.mean(step_s), "step_s_std": sd(step_s), "step_s_trials": step_s,
            "comm_s": statistics.mean(comm_s), "comm_s_std": sd(comm_s),
            "compute_s": statistics.mean(compute), "compute_s_std": sd(compute),
            "comm_share": statistics.mean(comm_s) / statistics.mean(step_s),
            "counted_elements": r0["elements"], "counted_collectives": r0["calls"], "counted_bytes": r0["bytes"],
            "held_parameters": [r["held_parameters"] for r in results if r is not None]}


def measure_steps(configs: list[tuple[ModelSpec | str, int]], batch: int = 8, steps: int = 3, warmup: int = 1,
                  trials: int = 3, threads: int = 1, seed: int = 0, device: str = "cpu") -> list[dict]:
    """Step time of each (spec, processes) (mean and std over trials, rank 0), its communication
    time, and what the collectives moved per step; all in one set of spawned processes."""
    configs = [(ModelSpec.parse(s).text, int(p)) for s, p in configs]
    if not configs:
        return []
    world = max(p for _, p in configs)
    backend = "nccl" if device == "cuda" else "gloo"
    per_rank = spawn(_bench_rank, world, configs, batch, steps, warmup, trials, seed, device,
                     backend=backend, threads=threads)
    return [_summary(spec, procs, batch, steps, trials, [per_rank[r][i] for r in range(world)], backend)
            for i, (spec, procs) in enumerate(configs)]


def measure_step(spec: ModelSpec | str, procs: int, **kwargs) -> dict:
    """One configuration (see :func:`measure_steps`)."""
    return measure_steps([(spec, procs)], **kwargs)[0]
