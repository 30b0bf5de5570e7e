"""ResNeXt-50 (Xie et al. 2017) with E2GC / FgGC modules (E2GC paper, Table IV).

torchvision's layout: stride on the 3x3 conv, 1x1 projection shortcuts. Only the 3x3 conv of
each bottleneck takes the scheme; FgGC g=32 is the standard 32x4d model.
"""
from __future__ import annotations

from torch import nn

from ..layers import ConvScheme
from ._blocks import ImageNetResNet, conv_bn_act
from ._registry import register_model

# (blocks, bottleneck width, output channels, stride) per stage
STAGES = [(3, 128, 256, 1), (4, 256, 512, 2), (6, 512, 1024, 2), (3, 1024, 2048, 2)]


class Bottleneck(nn.Module):
    def __init__(self, in_ch, width, out_ch, stride, scheme, name):
        super().__init__()
        self.reduce = conv_bn_act(in_ch, width, 1, name=f"{name}.reduce")
        self.grouped = conv_bn_act(width, width, 3, stride, scheme=scheme, name=f"{name}.grouped")
        self.expand = conv_bn_act(width, out_ch, 1, act=None, name=f"{name}.expand")
        self.shortcut = (conv_bn_act(in_ch, out_ch, 1, stride, act=None, name=f"{name}.shortcut")
                         if stride != 1 or in_ch != out_ch else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.expand(self.grouped(self.reduce(x))) + self.shortcut(x))


class ResNeXt(ImageNetResNet):
    def __init__(self, scheme: ConvScheme, num_classes: int = 1000, input_size: int = 224, stages=STAGES):
        widths = {out_ch: width for _, width, out_ch, _ in stages}
        super().__init__([(n, out_ch, stride) for n, _, out_ch, stride in stages],
                         lambda i, o, s, name: Bottleneck(i, widths[o], o, s, scheme, name), num_classes, input_size)


@register_model(paper="e2gc")
def resnext50(scheme: ConvScheme = ConvScheme("gc", groups=32), num_classes: int = 1000,
              input_size: int = 224) -> ResNeXt:
    return ResNeXt(scheme, num_classes, input_size)
