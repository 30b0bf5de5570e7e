"""Fully learnable group convolution (FLGC, Wang et al., CVPR 2019), as compared in GC-2L Sec. 4.

A dense weight plus two learned logit tables: input channel -> group (C_in x g) and
filter -> group (C_out x g). The forward pass takes the hard arg-max assignment of each table,
builds the connection mask T_out S_in^T (C_out x C_in) and multiplies it into the weight.
Gradients reach the logits through the softmax (straight-through estimator).

The logits start at GC's contiguous grouping (plus small noise), so an untrained FLGC layer is
GC and its inference parameter count is GC's; training may move channels between groups.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .init import normal_



class _StraightThrough(torch.autograd.Function):
    """Forward: the exact one-hot arg-max. Backward: the gradient passes to the soft input
    unchanged. (``hard + soft - soft.detach()`` would leave 0.99999994 in the mask.)"""

    @staticmethod
    def forward(ctx, soft):
        return F.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def hard_assignment(logits: torch.Tensor) -> torch.Tensor:
    """One-hot arg-max over groups whose gradient is the softmax's (straight-through)."""
    return _StraightThrough.apply(logits.softmax(dim=-1))


def _contiguous_logits(channels: int, groups: int) -> torch.Tensor:
    """GC's grouping (channel i in group i // (C/g)) with noise far below the margin of 1."""
    assigned = torch.arange(channels) // (channels // groups)
    noise = 0.01 * torch.randn(channels, groups)
    return F.one_hot(assigned, groups).float() + noise


class FLGCConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        # He fan-out counted per group (as ``init_weights`` does for grouped convs): at init the mask
        # keeps GC's grouping, so an input channel feeds C_out/g filters; torch's fan-out would count
        # all C_out of the dense weight
        k2 = kernel_size * kernel_size
        normal_(self.weight, 0.0, math.sqrt(2.0 / (out_channels // groups * k2)))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.in_logits = nn.Parameter(_contiguous_logits(in_channels, groups))
        self.out_logits = nn.Parameter(_contiguous_logits(out_channels, groups))

    def mask(self) -> torch.Tensor:
        """C_out x C_in connection mask: 1 where filter and input channel share a group."""
        return hard_assignment(self.out_logits) @ hard_assignment(self.in_logits).t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.mask()[:, :, None, None]
        return F.conv2d(x, weight, self.bias, self.stride, self.padding)

    # -- inference --------------------------------------------------------------------
    def assignments(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.in_logits.argmax(-1), self.out_logits.argmax(-1)

    def inference_parameters(self) -> int:
        """Weights that survive the mask (+ bias): what a deployed layer stores."""
        kept = int(self.mask().detach().round().sum())
        bias = self.out_channels if self.bias is not None else 0
        return kept * self.weight.shape[2] * self.weight.shape[3] + bias

    def is_balanced(self) -> bool:
        ins, outs = self.assignments()
        g = self.groups
        return bool((torch.bincount(ins, minlength=g) == self.in_channels // g).all()
                    and (torch.bincount(outs, minlength=g) == self.out_channels // g).all())

    def pack(self) -> nn.Module:
        """Re-pack into an ordinary grouped conv by permuting channels.

        Only possible when every group received C_in/g inputs and C_out/g filters; otherwise
        the masked dense layer is returned unchanged (it is still correct, just not cheaper).
        """
        if not self.is_balanced():
            return self
        return PackedGroupConv2d.from_flgc(self)


class PackedGroupConv2d(nn.Module):
    """A grouped conv over permuted channels: gather inputs by group, convolve, scatter back."""

    def __init__(self, conv: nn.Conv2d, in_perm: torch.Tensor, out_inverse: torch.Tensor):
        super().__init__()
        self.conv = conv
        self.register_buffer("in_perm", in_perm)
        self.register_buffer("out_inverse", out_inverse)

    @classmethod
    def from_flgc(cls, layer: FLGCConv2d) -> PackedGroupConv2d:
        ins, outs = layer.assignments()
        in_perm = torch.argsort(ins, stable=True)    # inputs ordered group by group
        out_perm = torch.argsort(outs, stable=True)  # filters ordered group by group
        k = layer.weight.shape[2]
        conv = nn.Conv2d(layer.in_channels, layer.out_channels, k, layer.stride, layer.padding,
                         groups=layer.groups, bias=layer.bias is not None)
        conv = conv.to(layer.weight.device, layer.weight.dtype)
        per_in = layer.in_channels // layer.groups
        with torch.no_grad():
            w = layer.weight[out_perm][:, in_perm]  # block-diagonal after both permutations
            blocks = [w[i * (layer.out_channels // layer.groups):(i + 1) * (layer.out_channels // layer.groups),
                        i * per_in:(i + 1) * per_in] for i in range(layer.groups)]
            conv.weight.copy_(torch.cat(blocks, 0))
            if layer.bias is not None:
                conv.bias.copy_(layer.bias[out_perm])
        return cls(conv, in_perm, torch.argsort(out_perm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _gather_channels(self.conv(_gather_channels(x, self.in_perm)), self.out_inverse)


def _gather_channels(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[:, index]`` in x's memory format (indexing dim 1 of a channels_last tensor would
    return it contiguous; indexing the last dim of its NHWC view keeps it channels_last)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return x.permute(0, 2, 3, 1)[..., index].permute(0, 3, 1, 2)
    return x[:, index]
