"""MobileNetV2 (Sandler et al. 2018), torchvision layout, as used in the GC-2L paper (Table 4).

The scheme applies to the 1x1 convs: expansion, projection and the final 320 -> 1280. The
depthwise 3x3 convs stay depthwise. GC-2L adds its coarse path to expansion and projection but
not to the final 1x1 conv (that layout reproduces GC-2L Table 4's parameter counts).
"""
from __future__ import annotations

from torch import nn

from ..layers import STANDARD, ConvScheme
from ._blocks import conv_bn_act, init_weights
from ._registry import register_model

# t (expansion), c (output channels), n (repeats), s (first stride)
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    def __init__(self, in_ch, out_ch, stride, expand, scheme, name):
        super().__init__()
        hidden = in_ch * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn_act(in_ch, hidden, 1, scheme=scheme, act=nn.ReLU6, name=f"{name}.expand"))  # pw
        layers += [conv_bn_act(hidden, hidden, 3, stride, scheme=ConvScheme("gc", groups=hidden),
                               act=nn.ReLU6, name=f"{name}.dw"),                                       # dw
                   conv_bn_act(hidden, out_ch, 1, scheme=scheme, act=None, name=f"{name}.project")]  # pw-linear
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, scheme: ConvScheme = STANDARD, num_classes: int = 1000, input_size: int = 224):
        super().__init__()
        self.input_size = input_size
        layers, in_ch = [conv_bn_act(3, 32, 3, 2, act=nn.ReLU6, name="features.0")], 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t, scheme,
                                               name=f"features.{len(layers)}"))
                in_ch = c
        layers.append(conv_bn_act(in_ch, 1280, 1, scheme=scheme.one_level(), act=nn.ReLU6,
                                  name=f"features.{len(layers)}"))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        init_weights(self)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


@register_model(paper="gc2l")
def mobilenet_v2(scheme: ConvScheme = STANDARD, num_classes: int = 1000, input_size: int = 224) -> MobileNetV2:
    return MobileNetV2(scheme, num_classes, input_size)
