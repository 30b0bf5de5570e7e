"""Grouped convolution followed by ShuffleNet's channel shuffle (parameter-free)."""
from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, g*c, H, W) -> view (N, g, c, H, W) -> swap g and c -> flatten: output channel
    j*g + i takes input channel i*c + j, so each new group holds one channel of every old group."""
    n, channels, h, w = x.shape
    x = x.view(n, groups, channels // groups, h, w).transpose(1, 2)
    return x.reshape(n, channels, h, w)


class ShuffleConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False):
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(self.conv(x), self.groups)
