"""Wide ResNets of the GC-2L paper (Tables 1-3).

* WRN-28-k for CIFAR: pre-activation basic blocks, 4 per stage, widths 16k/32k/64k, dense 3->16
  stem and dense FC. The scheme applies to *every* conv inside the blocks, the 1x1 projection
  shortcuts included - that is what reproduces the published counts.
* WRN-34-2 for ImageNet: ResNet-34's post-activation basic blocks [3, 4, 6, 3] with widths
  128/256/512/1024, 7x7 stem with 64 channels + max-pool, a 1x1 projection in every stage's
  first block (64 -> 128 too), FC 1024 -> classes.
"""
from __future__ import annotations

from torch import nn

from ..layers import STANDARD, ConvScheme, create_conv2d
from ._blocks import ImageNetResNet, conv_bn_act, init_weights, make_stages
from ._registry import register_model


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3, identity or 1x1 projection of the activated input."""

    def __init__(self, in_ch, out_ch, stride, scheme, dropout, name):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = create_conv2d(in_ch, out_ch, 3, stride, scheme=scheme, name=f"{name}.conv1")
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = create_conv2d(out_ch, out_ch, 3, 1, scheme=scheme, name=f"{name}.conv2")
        self.shortcut = (create_conv2d(in_ch, out_ch, 1, stride, scheme=scheme, name=f"{name}.shortcut")
                         if stride != 1 or in_ch != out_ch else None)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        o = self.relu(self.bn1(x))
        y = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(o)))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNetCIFAR(nn.Module):
    def __init__(self, depth: int = 28, width: int = 10, scheme: ConvScheme = STANDARD,
                 num_classes: int = 10, input_size: int = 32, dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        self.input_size = input_size
        self.stem = create_conv2d(3, 16, 3, name="stem")  # dense
        self.blocks, in_ch = make_stages([(n, 16 * width, 1), (n, 32 * width, 2), (n, 64 * width, 2)], 16,
                                         lambda i, o, s, name: PreActBlock(i, o, s, scheme, dropout, name))
        self.head = nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.fc(self.head(self.blocks(self.stem(x))))


class BasicBlock(nn.Module):
    """ResNet's conv3x3-BN-ReLU, conv3x3-BN, + shortcut, ReLU."""

    def __init__(self, in_ch, out_ch, stride, scheme, name):
        super().__init__()
        self.conv1 = conv_bn_act(in_ch, out_ch, 3, stride, scheme=scheme, name=f"{name}.conv1")
        self.conv2 = conv_bn_act(out_ch, out_ch, 3, 1, scheme=scheme, act=None, name=f"{name}.conv2")
        self.shortcut = (conv_bn_act(in_ch, out_ch, 1, stride, scheme=scheme, act=None,
                                     name=f"{name}.shortcut")
                         if stride != 1 or in_ch != out_ch else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class WideResNetImageNet(ImageNetResNet):
    # (blocks, width, stride) per stage
    STAGES = [(3, 128, 1), (4, 256, 2), (6, 512, 2), (3, 1024, 2)]

    def __init__(self, scheme: ConvScheme = STANDARD, num_classes: int = 1000, input_size: int = 224):
        super().__init__(self.STAGES, lambda i, o, s, name: BasicBlock(i, o, s, scheme, name), num_classes, input_size)


@register_model(paper="gc2l")
def wrn28(scheme: ConvScheme = STANDARD, width: int = 10, num_classes: int = 10, input_size: int = 32,
          dropout: float = 0.0) -> WideResNetCIFAR:
    return WideResNetCIFAR(28, width, scheme, num_classes, input_size, dropout)


@register_model(paper="gc2l")
def wrn34_2(scheme: ConvScheme = STANDARD, num_classes: int = 1000, input_size: int = 224) -> WideResNetImageNet:
    return WideResNetImageNet(scheme, num_classes, input_size)
