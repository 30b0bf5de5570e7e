"""Grouped convolution followed by ShuffleNet's channel shuffle (parameter-free)."""
from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, g*c, H, W) -> view (N, g, c, H, W) -> swap g and c -> flatten: output channel
    j*g + i takes input channel i*c + j, so each new group holds one channel of every old group.

    Keeps the memory format: a channels_last input is shuffled on its NHWC view and comes back
    channels_last (one copy either way)."""
    n, channels, h, w = x.shape
    c = channels // groups
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        nhwc = x.permute(0, 2, 3, 1).view(n, h, w, groups, c).transpose(3, 4)
        return nhwc.reshape(n, h, w, channels).permute(0, 3, 1, 2)
    return x.reshape(n, groups, c, h, w).transpose(1, 2).reshape(n, channels, h, w)


class ShuffleConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False):
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(self.conv(x), self.groups)
