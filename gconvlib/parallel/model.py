"""Group-parallel WideResNet-28-k: every rank holds g/P groups of every grouped layer.

Built from the same :class:`~gconvlib.models.ModelSpec` as the single-process model (GC or GC-2L
with g groups; SC only on one process), with conversion of weights both ways
(:func:`shard_state_dict`, :func:`merge_state_dicts`).

What each of the P ranks holds and computes (rank r owns channel slice r of every layer):

* **stem** (dense 3 -> 16): its 16/P filters. Every rank has the whole image, and the first
  block needs only its own channels, so no communication.
* **blocks**: BN1, ReLU, conv1, BN2, ReLU, conv2 and the 1x1 projection shortcut of its channels.
  GC-2L convs all-gather the g representative channels (N x g x H x W per layer, forward; the
  gradient is reduce-scattered backward); GC convs need nothing. Activations stay sharded
  between consecutive layers, and the residual additions are per channel.
* **BatchNorm**: per channel, so a rank owns the BN of its channels (weight, bias, running
  statistics) and normalises them with statistics over the whole batch, which it has: equal to
  the single-process BN, without communication.
* **head**: BN + ReLU + global average pool of its channels, then one all-gather of the pooled
  features (N x 64k) so every rank has all of them; the classifier (64k -> classes) is
  replicated. Every rank computes the same loss; backward runs on loss / P and the replicated
  classifier's gradients are summed over ranks (:meth:`GroupParallelWideResNet.backward`), which
  gives every parameter exactly its single-process gradient.
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import TwoLevelConv2d
from ..models.spec import ModelSpec
from ..models.wide_resnet import PreActBlock, WideResNetCIFAR
from .collectives import all_reduce_, gather_channels
from .dist import ParallelError
from .layers import ShardedTwoLevelConv2d, check_fused_layout, fuse, inner_conv, sharded_conv, unfuse

SCHEMES = ("gc", "gc2l", "standard")   # standard: one process only


def _shard_layer(m: nn.Module, rank: int, world: int, group, name: str) -> nn.Module:
    if isinstance(m, TwoLevelConv2d):
        c = inner_conv(m)
        return ShardedTwoLevelConv2d(m.in_channels, m.out_channels, c.kernel_size[0], c.stride[0], c.padding[0],
                                     m.groups, m.bias is not None, rank, world, group, name)
    if isinstance(m, nn.Conv2d):
        if m.groups == 1 and world > 1:
            raise ParallelError(f"{name}: a dense conv inside the network cannot be split by groups")
        return sharded_conv(m, rank, world, name)
    raise ParallelError(f"{name}: {type(m).__name__} has no group-parallel form")


class ShardedPreActBlock(nn.Module):
    def __init__(self, block: PreActBlock, rank: int, world: int, group, name: str):
        super().__init__()
        conv1 = block.conv1
        in_ch = block.bn1.num_features
        out_ch = block.bn2.num_features
        self.bn1 = nn.BatchNorm2d(in_ch // world)
        self.conv1 = _shard_layer(conv1, rank, world, group, f"{name}.conv1")
        self.bn2 = nn.BatchNorm2d(out_ch // world)
        self.dropout = nn.Dropout(block.dropout.p) if isinstance(block.dropout, nn.Dropout) else nn.Identity()
        self.conv2 = _shard_layer(block.conv2, rank, world, group, f"{name}.conv2")
        self.shortcut = (_shard_layer(block.shortcut, rank, world, group, f"{name}.shortcut")
                         if block.shortcut is not None else None)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        o = self.relu(self.bn1(x))
        y = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(o)))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class GroupParallelWideResNet(nn.Module):
    """Rank ``rank`` of ``world`` of a WRN-28-k with GC or GC-2L (g divisible by ``world``).

    Parameter and buffer names equal the single-process model's (``stem.weight``,
    ``blocks.3.conv1.fine_restrict.weight``, ``head.0.running_mean``, ``fc.bias`` ...), each
    holding this rank's slice.
    """

    def __init__(self, spec: ModelSpec | str, rank: int = 0, world: int = 1, group=None,
                 device: str | torch.device | None = None):
        super().__init__()
        spec = ModelSpec.parse(spec)
        if spec.model != "wrn28":
            raise ParallelError(f"group-parallel models: WRN-28-k only, not {spec.model}")
        if spec.kind not in SCHEMES:
            raise ParallelError(f"group-parallel models: scheme gc or gc2l, not {spec.scheme}")
        if isinstance(world, bool) or not isinstance(world, int) or world < 1:
            raise ParallelError(f"the number of processes must be a positive integer, got {world!r}")
        if spec.kind == "standard" and world > 1:
            raise ParallelError(f"{spec.text}: standard convolution has no groups to split over {world} processes "
                                f"(SC runs on one process)")
        if spec.k is not None and spec.k % world:
            raise ParallelError(f"{spec.text}: g = {spec.k} groups cannot be split over {world} processes "
                                f"(g must be divisible by the number of processes)")
        if not 0 <= rank < world:
            raise ParallelError(f"rank {rank} is not in 0..{world - 1}")
        import torch.distributed as dist

        if world > 1 and dist.is_available() and dist.is_initialized() and str(device) != "meta":
            actual = dist.get_world_size(group)
            if actual != world:
                raise ParallelError(f"world size mismatch: the model is split over {world} processes but the "
                                    f"process group has {actual}")
        self.spec, self.rank, self.world, self.group = spec, rank, world, group
        single = spec.build("meta")
        assert isinstance(single, WideResNetCIFAR)
        with torch.device(device or "cpu"):
            self.stem = sharded_conv(single.stem, rank, world, "stem")
            self.blocks = nn.Sequential(*[ShardedPreActBlock(b, rank, world, group, f"blocks.{i}")
                                          for i, b in enumerate(single.blocks)])
            channels = single.fc.in_features
            self.head = nn.Sequential(nn.BatchNorm2d(channels // world), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
            self.fc = nn.Linear(channels, single.fc.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.blocks(self.stem(x)))          # (N, 64k / P): this rank's channels
        return self.fc(gather_channels(features, self.group, self.world))

    # -- training -------------------------------------------------------------------------
    def replicated_parameters(self) -> list[nn.Parameter]:
        """Parameters every rank holds whole (the classifier)."""
        return list(self.fc.parameters())

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of a loss every rank computed alike: (loss / P).backward(), then the replicated
        parameters' gradients summed over ranks. Every parameter gets its single-process gradient."""
        (loss / self.world).backward()
        if self.world > 1:
            all_reduce_([p.grad for p in self.replicated_parameters()], self.group)

    # -- what this rank holds ------------------------------------------------------------------
    def held_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- conversion -------------------------------------------------------------------------------
    @classmethod
    def from_single(cls, single: nn.Module, spec: ModelSpec | str, rank: int = 0, world: int = 1,
                    group=None) -> GroupParallelWideResNet:
        """This rank's share of a single-process model's weights (and buffers)."""
        device = next(single.parameters()).device
        model = cls(spec, rank, world, group, device)
        model.load_state_dict(shard_state_dict(single.state_dict(), single, rank, world))
        return model

    def single_state_dict(self) -> dict:
        """The single-process model's state dict, gathered from every rank (on every rank)."""
        import torch.distributed as dist

        local = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        if self.world == 1:
            parts = [local]
        else:
            parts = [None] * self.world
            dist.all_gather_object(parts, local, group=self.group)
        return merge_state_dicts(parts, self.spec.build("meta"))


# -- weights between the layouts ---------------------------------------------------------------

def _plan(single: nn.Module) -> list[tuple[tuple[str, ...], str, str]]:
    """(single-model names, local name, how): "split" (P slices along dim 0), "copy" (replicated),
    "fuse" (an unfused GC-2L's fine + restrict -> the local fused weight)."""
    plan, inside = [], set()
    for name, m in single.named_modules():
        if id(m) in inside:
            continue
        p = f"{name}." if name else ""
        if isinstance(m, TwoLevelConv2d):
            inside |= {id(c) for c in m.modules()}
            if m.fused:
                plan.append(((f"{p}fine_restrict.weight",), f"{p}fine_restrict.weight", "split"))
            else:
                plan.append(((f"{p}fine.weight", f"{p}restrict.weight"), f"{p}fine_restrict.weight", "fuse"))
            plan.append(((f"{p}coarse.weight",), f"{p}coarse.weight", "split"))
            if m.bias is not None:
                plan.append(((f"{p}bias",), f"{p}bias", "split"))
        elif isinstance(m, nn.Conv2d):
            plan += [((f"{p}{n}",), f"{p}{n}", "split") for n in ("weight", "bias") if getattr(m, n) is not None]
        elif isinstance(m, nn.BatchNorm2d):
            plan += [((f"{p}{n}",), f"{p}{n}", "split") for n in ("weight", "bias", "running_mean", "running_var")]
            plan.append(((f"{p}num_batches_tracked",), f"{p}num_batches_tracked", "copy"))
        elif isinstance(m, nn.Linear):
            plan += [((f"{p}{n}",), f"{p}{n}", "copy") for n in ("weight", "bias") if getattr(m, n) is not None]
    return plan


def _groups_of(single: nn.Module) -> dict[str, int]:
    return {f"{n}.fine_restrict.weight" if n else "fine_restrict.weight": m.groups
            for n, m in single.named_modules() if isinstance(m, TwoLevelConv2d)}


def _slice(t: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    if t.shape[0] % world:
        raise ParallelError(f"a tensor of {t.shape[0]} rows cannot be split over {world} processes")
    n = t.shape[0] // world
    return t[rank * n:(rank + 1) * n]


def shard_state_dict(state: dict, single: nn.Module, rank: int, world: int) -> dict:
    """Rank ``rank``'s state dict from the single-process model's ``state`` (``single``: that model,
    or the same variant built on the meta device, for its structure)."""
    for m in single.modules():
        if isinstance(m, TwoLevelConv2d):
            check_fused_layout(m)
    groups = _groups_of(single)
    out = {}
    for names, local, how in _plan(single):
        if names[0] not in state:
            continue
        if how == "copy":
            out[local] = state[names[0]].clone()
        elif how == "split":
            out[local] = _slice(state[names[0]], rank, world).clone()
        else:  # fuse: this rank's groups of fine and restrict, in the fused layout
            g = groups[local]
            out[local] = fuse(_slice(state[names[0]], rank, world), _slice(state[names[1]], rank, world), g // world)
    return out


def merge_state_dicts(parts: list[dict], single: nn.Module) -> dict:
    """The single-process state dict (or gradients: any dict keyed by parameter names) from every
    rank's, in rank order. Replicated tensors are taken from rank 0."""
    groups = _groups_of(single)
    out = {}
    for names, local, how in _plan(single):
        if local not in parts[0]:
            continue
        tensors = [p[local] for p in parts]
        if how == "copy":
            out[names[0]] = tensors[0]
        elif how == "split":
            out[names[0]] = torch.cat(tensors, 0)
        else:
            fine, restrict = unfuse(torch.cat(tensors, 0), groups[local])
            out[names[0]], out[names[1]] = fine, restrict
    return out


def held_parameters(spec: ModelSpec | str, world: int) -> list[int]:
    """Parameters each rank's module holds (built on the meta device: any width is instant)."""
    return [GroupParallelWideResNet(spec, r, world, device="meta").held_parameters() for r in range(world)]


def replicated_parameters(spec: ModelSpec | str, world: int) -> int:
    return sum(p.numel() for p in GroupParallelWideResNet(spec, 0, world, device="meta").replicated_parameters())
