"""MobileNet-V1 (Howard et al. 2017) with E2GC / FgGC modules (E2GC paper, Table III).

Only the 13 3x3 convs (depthwise in the original) take the scheme; each is followed by a dense
1x1 conv that mixes the groups. E2GC G=1 is the original depthwise network.
"""
from __future__ import annotations

from torch import nn

from ..layers import ConvScheme
from ._blocks import conv_bn_act, init_weights
from ._registry import register_model

# (in, out, stride) of the 13 "3x3 grouped conv (C_out = C_in) + dense 1x1" pairs
PAIRS = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
         *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1)]


class MobileNetV1(nn.Module):
    def __init__(self, scheme: ConvScheme = ConvScheme("e2gc", group_size=1), num_classes: int = 1000,
                 input_size: int = 224):
        super().__init__()
        self.input_size = input_size
        layers = [conv_bn_act(3, 32, 3, 2, name="features.0")]  # stem stays dense
        for i, (cin, cout, stride) in enumerate(PAIRS, start=1):
            layers += [conv_bn_act(cin, cin, 3, stride, scheme=scheme, name=f"features.{i}.grouped"),  # dw / gconv
                       conv_bn_act(cin, cout, 1, name=f"features.{i}.pointwise")]                    # pw
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1024, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@register_model(paper="e2gc")
def mobilenet_v1(scheme: ConvScheme = ConvScheme("e2gc", group_size=1), num_classes: int = 1000,
                 input_size: int = 224) -> MobileNetV1:
    return MobileNetV1(scheme, num_classes, input_size)
