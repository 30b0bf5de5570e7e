"""Two-level group convolution (GC-2L, Lee, Park & Lee 2022), as reconstructed from the paper's Sec. 3 and Figs. 1-3 (this layout reproduces Tables 1-4's counts).

    fine     : conv(C_in -> C_out, k x k, stride s, groups g)   the ordinary GC
    restrict : conv(C_in -> g,     k x k, stride s, groups g)   one representative per group
    coarse   : conv(g    -> C_out, 1 x 1)                       every group talks to every output
    y = fine(x) + coarse(restrict(x))

Fused (the paper's implementation): ``fine`` and ``restrict`` are one grouped conv with
C_out + g outputs, C_out/g + 1 per group; the last channel of each group is its representative.
Same parameters, one kernel launch instead of two. (On CPU, oneDNN pads the C_out/g + 1 outputs
of a group to its 16-channel weight blocks, so the fused conv costs more than its extra 1/per
of arithmetic: 1.1-1.4x the GC conv of the same shape, fwd+bwd, in WRN-28-2 at g = 2..8.)
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import skip_init

from .init import normal_


class TwoLevelConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False, fused: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.fused = fused
        # skip_init: the convs draw no random numbers of their own, so both layouts consume the
        # same random stream and, from the same seed, start from the same weights.
        # (on the default device, so a model built under ``torch.device("meta")`` allocates nothing)
        conv = dict(kernel_size=kernel_size, stride=stride, padding=padding, groups=groups, bias=False,
                    device=torch.get_default_device())
        if fused:
            self.fine_restrict = skip_init(nn.Conv2d, in_channels, out_channels + groups, **conv)
        else:
            self.fine = skip_init(nn.Conv2d, in_channels, out_channels, **conv)
            self.restrict = skip_init(nn.Conv2d, in_channels, groups, **conv)
        self.coarse = skip_init(nn.Conv2d, groups, out_channels, 1, bias=False, device=conv["device"])
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation ("weights initialized as in [25]", GC-2L Sec. 4), the same in both layouts.

        He et al. take as the fan the connections one unit actually has; torch's Kaiming fan-out
        ignores ``groups`` (it counts C_out k^2 for a grouped conv). Counted per group:
        * fine: an input channel feeds the C_out/g filters of its group: std = sqrt(2 / (C_out/g k^2)),
          what ``init_weights`` gives the GC conv this layer extends;
        * restrict: the same std: in the paper's fused implementation its filters are more filters of
          that grouped conv (the fused conv's own per-group fan-out, (C_out/g + 1) k^2, differs by
          g / C_out);
        * coarse: a dense 1x1 conv g -> C_out: std = sqrt(2 / C_out).
        Drawn part by part, fine then restrict then coarse, so from one seed both layouts start
        from identical weights. At init the coarse path adds 2g / C_out times the fine path's output
        variance (output std sqrt(1 + 2g / C_out) x GC's: at most 1.10x in WRN-28-10, g <= 16).
        """
        weight = (self.fine_restrict if self.fused else self.fine).weight
        per_filter = weight.shape[1:]  # (C_in/g, k, k)
        fan_out = self.out_channels // self.groups * per_filter[1] * per_filter[2]
        std = math.sqrt(2.0 / fan_out)
        like = dict(device=weight.device, dtype=weight.dtype)
        fine = normal_(torch.empty(self.out_channels, *per_filter, **like), 0.0, std)
        restrict = normal_(torch.empty(self.groups, *per_filter, **like), 0.0, std)
        with torch.no_grad():
            self._set_fine_and_restrict(fine, restrict)
            normal_(self.coarse.weight, 0.0, math.sqrt(2.0 / self.out_channels))
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # every conv is called as its module, so hooks (complexity counts) see all three parts
        if not self.fused:
            return self._with_bias(self.fine(x) + self.coarse(self.restrict(x)))
        z = self.fine_restrict(x)  # per group: C_out/g fine channels, then the representative
        n, _, h, w = z.shape
        g, per = self.groups, self.out_channels // self.groups
        # A 5-D view of z in its own memory format, so the output keeps it: (N, g, per+1, H, W)
        # when contiguous, (N, H, W, g, per+1) when channels_last. Splitting it (not slicing)
        # makes the backward one cat of the two gradients instead of two zero-filled full-size
        # ones, and the fine part is read once, by the add that writes the output. The coarse
        # path stays a 1x1 conv: on CPU oneDNN runs it several times faster than the same
        # (NHW x g) @ (g x C_out) matmul, backward included.
        channels_last = not z.is_contiguous()
        z5 = (z.permute(0, 2, 3, 1).reshape(n, h, w, g, per + 1) if channels_last
              else z.view(n, g, per + 1, h, w))
        fine, rep = z5.split([per, 1], dim=4 if channels_last else 2)
        rep = rep.squeeze(4).permute(0, 3, 1, 2) if channels_last else rep.squeeze(2)
        coarse = self._with_bias(self.coarse(rep))  # (N, C_out, H, W), z's format
        if channels_last:
            y = fine + coarse.permute(0, 2, 3, 1).reshape(n, h, w, g, per)
            return y.reshape(n, h, w, self.out_channels).permute(0, 3, 1, 2)
        return (fine + coarse.reshape(n, g, per, h, w)).reshape(n, self.out_channels, h, w)

    def _with_bias(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)

    # -- weights in either layout -------------------------------------------------------
    def fine_and_restrict_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(fine weight [C_out, C_in/g, k, k], restrict weight [g, C_in/g, k, k])."""
        if not self.fused:
            return self.fine.weight, self.restrict.weight
        w = self.fine_restrict.weight
        per = self.out_channels // self.groups + 1
        w = w.view(self.groups, per, *w.shape[1:])
        return w[:, :-1].reshape(self.out_channels, *w.shape[2:]), w[:, -1]

    def _set_fine_and_restrict(self, fine_w: torch.Tensor, restrict_w: torch.Tensor) -> None:
        if self.fused:
            per = self.out_channels // self.groups
            stacked = torch.cat([fine_w.reshape(self.groups, per, *fine_w.shape[1:]),
                                 restrict_w.unsqueeze(1)], dim=1)
            self.fine_restrict.weight.copy_(stacked.reshape_as(self.fine_restrict.weight))
        else:
            self.fine.weight.copy_(fine_w)
            self.restrict.weight.copy_(restrict_w)

    def with_layout(self, fused: bool) -> TwoLevelConv2d:
        """A copy in the other implementation with numerically identical weights."""
        first = self.fine_restrict if self.fused else self.fine
        other = TwoLevelConv2d(self.in_channels, self.out_channels, first.kernel_size[0],
                               first.stride[0], first.padding[0], self.groups,
                               self.bias is not None, fused)
        other = other.to(first.weight.device, first.weight.dtype)
        with torch.no_grad():
            other._set_fine_and_restrict(*self.fine_and_restrict_weights())
            other.coarse.weight.copy_(self.coarse.weight)
            if self.bias is not None:
                other.bias.copy_(self.bias)
        return other

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, groups={self.groups}, "
                f"fused={self.fused}")
