"""One rank's share of a grouped or two-level convolution (GC-2L Sec. 3.2).

With P processes and g groups (P divides g), rank r owns the groups r g/P .. (r+1) g/P - 1,
i.e. the input channels r C_in/P .. and the output channels r C_out/P .. of every grouped layer:

* :class:`ShardedTwoLevelConv2d` holds the fine and restrict filters of its g/P groups fused in
  one grouped conv (C_out/P + g/P outputs, as in the single-process layer) and the rows of the
  coarse 1x1 conv that produce its own output channels (C_out/P x g: no rank holds the whole
  coarse conv, the paper's choice). Forward: local grouped conv -> all-gather of the g
  representative channels -> local coarse conv -> fine + coarse, its C_out/P output channels.
* a GC layer (``nn.Conv2d`` with g groups) is simply its g/P groups: no communication at all.

The fused weight's layout is the single-process layer's (``gconvlib.layers.two_level``): per
group, C_out/g fine filters, then the group's representative. :func:`fuse` / :func:`unfuse`
convert, and :func:`check_fused_layout` checks it against ``fine_and_restrict_weights()``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .collectives import gather_channels
from .dist import ParallelError


def fuse(fine: torch.Tensor, restrict: torch.Tensor, groups: int) -> torch.Tensor:
    """(C_out, ...) fine and (g, ...) restrict filters -> the fused (C_out + g, ...) weight."""
    rest = fine.shape[1:]
    per = fine.shape[0] // groups
    return torch.cat([fine.reshape(groups, per, *rest), restrict.reshape(groups, 1, *rest)], 1) \
        .reshape(groups * (per + 1), *rest)


def unfuse(weight: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused (C_out + g, ...) weight -> (fine (C_out, ...), restrict (g, ...))."""
    rest = weight.shape[1:]
    v = weight.reshape(groups, weight.shape[0] // groups, *rest)
    return v[:, :-1].reshape(-1, *rest), v[:, -1]


def check_fused_layout(layer) -> None:
    """The fused layout assumed here is the layer's own (a guard against a layout change)."""
    if not getattr(layer, "fused", False) or layer.coarse.weight.is_meta:
        return
    fine, restrict = layer.fine_and_restrict_weights()
    f2, r2 = unfuse(layer.fine_restrict.weight, layer.groups)
    if not (torch.equal(fine, f2) and torch.equal(restrict, r2)):
        raise RuntimeError("TwoLevelConv2d's fused weight layout changed: update gconvlib.parallel.layers.fuse")


def inner_conv(layer) -> nn.Conv2d:
    """The grouped conv of a TwoLevelConv2d (kernel size, stride, padding)."""
    return layer.fine_restrict if layer.fused else layer.fine


def check_divisible(groups: int, world: int, name: str = "layer") -> None:
    if groups % world:
        raise ParallelError(f"{name}: g = {groups} groups cannot be split over {world} processes "
                            f"(g must be divisible by the number of processes)")


class ShardedTwoLevelConv2d(nn.Module):
    """Rank ``rank``'s g/P groups of a TwoLevelConv2d(C_in, C_out, k, stride, padding, g)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 groups: int, bias: bool, rank: int, world: int, group=None, name: str = "layer"):
        super().__init__()
        check_divisible(groups, world, name)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.rank, self.world, self.group = rank, world, group
        self.local_groups = groups // world
        self.local_in, self.local_out = in_channels // world, out_channels // world
        self.per = out_channels // groups
        self.fine_restrict = nn.Conv2d(self.local_in, self.local_out + self.local_groups, kernel_size, stride,
                                       padding, groups=self.local_groups, bias=False)
        self.coarse = nn.Conv2d(groups, self.local_out, 1, bias=False)   # this rank's rows: all g inputs
        self.bias = nn.Parameter(torch.zeros(self.local_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fine_restrict(x)
        n, _, h, w = z.shape
        z5 = z.reshape(n, self.local_groups, self.per + 1, h, w)
        fine = z5[:, :, :self.per].reshape(n, self.local_out, h, w)
        reps = gather_channels(z5[:, :, self.per], self.group, self.world)   # (N, g, H, W)
        return fine + F.conv2d(reps, self.coarse.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, groups={self.groups}, "
                f"rank {self.rank} of {self.world}: {self.local_groups} groups, coarse {self.local_out} x {self.groups}")


def sharded_conv(conv: nn.Conv2d, rank: int, world: int, name: str = "conv") -> nn.Conv2d:
    """Rank ``rank``'s output channels of a conv: its g/P groups of a grouped conv, or (a dense conv
    whose input every rank has, e.g. the stem) its C_out/P filters."""
    groups = conv.groups
    if groups > 1:
        check_divisible(groups, world, name)
    elif conv.out_channels % world:
        raise ParallelError(f"{name}: {conv.out_channels} output channels cannot be split over {world} processes")
    local_in = conv.in_channels // world if groups > 1 else conv.in_channels
    return nn.Conv2d(local_in, conv.out_channels // world, conv.kernel_size, conv.stride, conv.padding,
                     groups=max(1, groups // world), bias=conv.bias is not None)
