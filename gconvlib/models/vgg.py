"""VGG-BN (Simonyan & Zisserman 2014) with the grouping schemes A-E of the Kuzushiji paper.

torchvision's layout: conv bias on, BN after every conv, classifier 25088 -> 4096 -> 4096 -> K.
A scheme groups *every* conv of the named blocks (conv-1 .. conv-5 are the blocks between
max-pools); ``conv`` picks how the grouped layers are built (the paper used plain GC).
"""
from __future__ import annotations

from torch import nn

from ..layers import STANDARD, ConvScheme
from ._blocks import conv_bn_act, init_weights
from ._registry import register_model

# convs per block (conv-1 .. conv-5)
DEPTHS = {"vgg13_bn": (2, 2, 2, 2, 2), "vgg16_bn": (2, 2, 3, 3, 3), "vgg19_bn": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)

# scheme -> {block number: groups}
GROUPINGS = {
    "baseline": {},
    "A": {3: 64},
    "B": {4: 64, 5: 64},
    "C": {3: 64, 4: 64, 5: 64},
    "D": {2: 64, 3: 64, 4: 64, 5: 64},
    "E": {2: 32, 3: 32, 4: 32, 5: 32},
}


class VGG(nn.Module):
    def __init__(self, depths, scheme: str = "baseline", num_classes: int = 1120, input_size: int = 224,
                 conv: str = "gc", dropout: float = 0.5):
        super().__init__()
        if scheme not in GROUPINGS:
            raise ValueError(f"unknown VGG grouping scheme {scheme!r}; choose one of {', '.join(GROUPINGS)}")
        self.input_size, self.scheme = input_size, scheme
        layers, in_ch = [], 3
        for block, (n, width) in enumerate(zip(depths, WIDTHS), start=1):
            groups = GROUPINGS[scheme].get(block)
            layer_scheme = ConvScheme(conv, groups=groups) if groups else STANDARD
            for i in range(n):
                layers.append(conv_bn_act(in_ch, width, 3, scheme=layer_scheme, bias=True,
                                          name=f"conv-{block}.{i}"))
                in_ch = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))
        init_weights(self)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def _vgg(name, scheme, num_classes, input_size, conv):
    return VGG(DEPTHS[name], scheme, num_classes, input_size, conv)


@register_model
def vgg13_bn(scheme: str = "baseline", num_classes: int = 1120, input_size: int = 224, conv: str = "gc") -> VGG:
    return _vgg("vgg13_bn", scheme, num_classes, input_size, conv)


@register_model
def vgg16_bn(scheme: str = "baseline", num_classes: int = 1120, input_size: int = 224, conv: str = "gc") -> VGG:
    return _vgg("vgg16_bn", scheme, num_classes, input_size, conv)


@register_model
def vgg19_bn(scheme: str = "baseline", num_classes: int = 1120, input_size: int = 224, conv: str = "gc") -> VGG:
    return _vgg("vgg19_bn", scheme, num_classes, input_size, conv)
