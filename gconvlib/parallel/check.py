"""``gconv parallel-check``: the group-parallel model against the single-process one.

P processes (``torch.multiprocessing.spawn``, gloo on a free localhost port; NCCL with
``--device cuda``) each build the single-process WRN-28-k from one seed and take their shard of
it. The single-process model (on rank 0) and the sharded one then run the same batch: forward,
backward, one SGD step (momentum, weight decay) and a second forward. The largest absolute
differences of the outputs, of every gradient (gathered into the single-process layout) and of
every weight after the step are reported.

The check draws the coarse weights and the BN affine parameters at random first: BN starts at
weight 1 and bias 0, which would hide a wrongly sharded affine parameter.

It runs in float64 by default: the two models add the same numbers in a different order, and in
float32 that rounding, carried back through 28 BN layers at batch 8, reaches 1e-7 to 1e-4 in the
stem's gradient depending on the draw (seeds 0-3: 1.5e-5, 1.4e-4, 7e-7, 6e-7), which would hide
a real error of that size. In float64 the same rounding stays near 1e-15.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.spec import ModelSpec
from .collectives import CommStats, gather_channels, recording
from .dist import ParallelError, current, spawn
from .layers import check_divisible


def check_spec(width: int = 2, groups: int = 2, scheme: str = "gc2l", classes: int = 10, size: int = 16) -> ModelSpec:
    return ModelSpec(f"wrn28_{width}/{scheme}:{groups}", num_classes=classes, input_size=size)


def reference_model(spec: ModelSpec, seed: int, device="cpu"):
    """The single-process model from ``seed``, with non-zero coarse weights and BN affine params."""
    from ..layers import TwoLevelConv2d

    torch.manual_seed(seed)
    model = spec.build("cpu")
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TwoLevelConv2d):
                m.coarse.weight.copy_(torch.randn(m.coarse.weight.shape, generator=g) * 0.2)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.to(device)


def batch(spec: ModelSpec, n: int, seed: int, device="cpu"):
    g = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(n, 3, spec.input_size, spec.input_size, generator=g)
    y = torch.randint(0, spec.num_classes, (n,), generator=g)
    return x.to(device), y.to(device)


def _optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def _grads(model) -> dict:
    return {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters() if p.grad is not None}


def _check_rank(rank: int, world: int, spec_text: str, n: int, seed: int, device: str,
                dtype: str = "float64") -> dict:
    from .model import GroupParallelWideResNet

    torch.set_default_dtype(getattr(torch, dtype))   # this process only (a spawned worker)
    spec = ModelSpec.parse(spec_text)
    dev = torch.device(current().device)   # the GPU the process group was set up on (NCCL), else the CPU
    if dev.type != torch.device(device).type:
        raise ParallelError(f"rank {rank} joined its process group on {dev}, not on {device}")
    single = reference_model(spec, seed, dev)
    x, y = batch(spec, n, seed, dev)
    sharded = GroupParallelWideResNet.from_single(single, spec, rank, world)
    out = {}
    if rank == 0:   # the single-process reference
        opt = _optimizer(single)
        logits = single(x)
        F.cross_entropy(logits, y).backward()
        out["single"] = {"out": logits.detach().cpu(), "grads": _grads(single)}
        opt.step()
        out["single"]["out2"] = single(x).detach().cpu()
        out["single"]["state"] = {k: v.detach().cpu() for k, v in single.state_dict().items()}
    opt = _optimizer(sharded)
    stats = CommStats()
    with recording(stats):
        logits = sharded(x)
        sharded.backward(F.cross_entropy(logits, y))
    out["out"], out["grads"] = logits.detach().cpu(), _grads(sharded)
    out["counted_elements"] = dict(stats.elements)
    out["collective_vs_torch"] = _against_torch_all_gather(rank, world, seed, dev) if world > 1 else 0.0
    opt.step()
    out["out2"] = sharded(x).detach().cpu()
    out["state"] = {k: v.detach().cpu() for k, v in sharded.state_dict().items()}
    return out


def _against_torch_all_gather(rank: int, world: int, seed: int, device=torch.device("cpu")) -> float:
    """Our channel all-gather vs ``torch.distributed.nn.functional.all_gather``: outputs and
    gradients on a random tensor (largest absolute difference), on the process's ``device``
    (NCCL moves CUDA tensors only)."""
    import warnings

    import torch.distributed.nn.functional as dnn

    g = torch.Generator().manual_seed(seed + 10 + rank)
    x = torch.randn(3, 2, 4, 4, generator=g).to(device)
    w = torch.randn(3, 2 * world, 4, 4, generator=torch.Generator().manual_seed(seed + 20 + rank)).to(device)
    a = x.clone().requires_grad_()
    ours = gather_channels(a, None, world)
    (ours * w).sum().backward()
    b = x.clone().requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # deprecated, still the reference
        theirs = torch.cat(dnn.all_gather(b), dim=1)
    (theirs * w).sum().backward()
    return max(float((ours - theirs).detach().abs().max()), float((a.grad - b.grad).abs().max()))


def _max_diff(a: dict, b: dict) -> float:
    missing = set(a) ^ set(b)
    if missing:
        raise RuntimeError(f"the sharded and single-process models differ in {sorted(missing)[:5]}")
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def run_check(procs: int = 2, groups: int | None = None, width: int = 2, scheme: str = "gc2l", batch_size: int = 8,
              image_size: int = 16, seed: int = 0, device: str = "cpu", dtype: str = "float64") -> dict:
    """Forward, backward and one SGD step of the P-process model vs the single-process one."""
    from .model import merge_state_dicts

    groups = procs if groups is None else groups
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ParallelError(f"--procs must be a positive integer, got {procs!r}")
    check_divisible(groups, procs, f"wrn28_{width}/{scheme}:{groups}")
    spec = check_spec(width, groups, scheme, size=image_size).check()
    backend = "nccl" if device == "cuda" else "gloo"
    if dtype not in ("float64", "float32"):
        raise ParallelError(f"--dtype must be float64 or float32, got {dtype!r}")
    results = spawn(_check_rank, procs, spec.text, batch_size, seed, device, dtype, backend=backend)
    ref = results[0]["single"]
    meta = spec.build("meta")
    grads = merge_state_dicts([r["grads"] for r in results], meta)
    state = merge_state_dicts([r["state"] for r in results], meta)
    diffs = {
        "output": max(float((r["out"] - ref["out"]).abs().max()) for r in results),
        "gradient": _max_diff(grads, ref["grads"]),
        "output_after_step": max(float((r["out2"] - ref["out2"]).abs().max()) for r in results),
        "weights_after_step": _max_diff({k: v for k, v in state.items() if v.is_floating_point()},
                                        {k: v for k, v in ref["state"].items() if v.is_floating_point()}),
    }
    return {"spec": spec.text, "procs": procs, "groups": groups, "backend": backend, "batch_size": batch_size,
            "dtype": dtype,
            "diffs": diffs, "max_abs_diff": max(diffs.values()),
            "held_parameters": [sum(v.numel() for v in r["grads"].values()) for r in results],
            "counted_elements": results[0]["counted_elements"],
            "collective_vs_torch": max(r["collective_vs_torch"] for r in results)}
