"""Two-level group convolution (GC-2L, Lee, Park & Lee 2022), as reconstructed in REFERENCE §3.

    fine     : conv(C_in -> C_out, k x k, stride s, groups g)   the ordinary GC
    restrict : conv(C_in -> g,     k x k, stride s, groups g)   one representative per group
    coarse   : conv(g    -> C_out, 1 x 1)                       every group talks to every output
    y = fine(x) + coarse(restrict(x))

Fused (the paper's implementation): ``fine`` and ``restrict`` are one grouped conv with
C_out + g outputs, C_out/g + 1 per group; the last channel of each group is its representative.
Same parameters, one kernel launch instead of two.
"""
from __future__ import annotations

import torch
from torch import nn


class TwoLevelConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False, fused: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.fused = fused
        conv = dict(kernel_size=kernel_size, stride=stride, padding=padding, groups=groups, bias=False)
        if fused:
            self.fine_restrict = nn.Conv2d(in_channels, out_channels + groups, **conv)
        else:
            self.fine = nn.Conv2d(in_channels, out_channels, **conv)
            self.restrict = nn.Conv2d(in_channels, groups, **conv)
        self.coarse = nn.Conv2d(groups, out_channels, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            z = self.fine_restrict(x)
            n, _, h, w = z.shape
            z = z.view(n, self.groups, self.out_channels // self.groups + 1, h, w)
            fine = z[:, :, :-1].reshape(n, self.out_channels, h, w)
            representatives = z[:, :, -1]
        else:
            fine, representatives = self.fine(x), self.restrict(x)
        y = fine + self.coarse(representatives)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y

    # -- weights in either layout -------------------------------------------------------
    def fine_and_restrict_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(fine weight [C_out, C_in/g, k, k], restrict weight [g, C_in/g, k, k])."""
        if not self.fused:
            return self.fine.weight, self.restrict.weight
        w = self.fine_restrict.weight
        per = self.out_channels // self.groups + 1
        w = w.view(self.groups, per, *w.shape[1:])
        return w[:, :-1].reshape(self.out_channels, *w.shape[2:]), w[:, -1]

    def with_layout(self, fused: bool) -> TwoLevelConv2d:
        """A copy in the other implementation with numerically identical weights."""
        first = self.fine_restrict if self.fused else self.fine
        other = TwoLevelConv2d(self.in_channels, self.out_channels, first.kernel_size[0],
                               first.stride[0], first.padding[0], self.groups,
                               self.bias is not None, fused)
        other = other.to(first.weight.device, first.weight.dtype)
        fine_w, restrict_w = self.fine_and_restrict_weights()
        with torch.no_grad():
            if fused:
                per = self.out_channels // self.groups
                stacked = torch.cat([fine_w.view(self.groups, per, *fine_w.shape[1:]),
                                     restrict_w.unsqueeze(1)], dim=1)
                other.fine_restrict.weight.copy_(stacked.reshape_as(other.fine_restrict.weight))
            else:
                other.fine.weight.copy_(fine_w)
                other.restrict.weight.copy_(restrict_w)
            other.coarse.weight.copy_(self.coarse.weight)
            if self.bias is not None:
                other.bias.copy_(self.bias)
        return other

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, groups={self.groups}, "
                f"fused={self.fused}")
