"""Small pieces several architectures share."""
from __future__ import annotations

import math

from torch import nn

from ..layers import STANDARD, ConvScheme, TwoLevelConv2d, create_conv2d
from ..layers.init import normal_


def conv_bn_act(in_ch: int, out_ch: int, k: int, stride: int = 1, *,
                scheme: ConvScheme = STANDARD, act: type[nn.Module] | None = nn.ReLU,
                bias: bool = False, name: str = "conv") -> nn.Sequential:
    """conv -> BN -> activation, the post-activation unit of MobileNets, ResNets and VGG."""
    layers = [create_conv2d(in_ch, out_ch, k, stride, scheme=scheme, bias=bias, name=name), nn.BatchNorm2d(out_ch)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def make_stages(stages, in_ch: int, block) -> tuple[nn.Sequential, int]:
    """ResNet-style stages: ``stages`` lists (blocks, output channels, stride) per stage; the first
    block of a stage takes its stride. ``block(in_ch, out_ch, stride, name)`` builds one block.
    Returns the blocks and the last stage's channels."""
    blocks = []
    for s, (n, out_ch, stride) in enumerate(stages, start=1):
        for b in range(n):
            blocks.append(block(in_ch, out_ch, stride if b == 0 else 1, f"stage{s}.block{b}"))
            in_ch = out_ch
    return nn.Sequential(*blocks), in_ch


class ImageNetResNet(nn.Module):
    """The ImageNet ResNet skeleton (7x7 stem with max-pool, stages, average pool, FC) shared by
    ResNeXt-50 and WRN-34-2; subclasses give the stages and the block."""

    def __init__(self, stages, block, num_classes: int = 1000, input_size: int = 224):
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(conv_bn_act(3, 64, 7, 2, name="stem"), nn.MaxPool2d(3, 2, 1))  # dense
        self.blocks, out_ch = make_stages(stages, 64, block)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_ch, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


def init_weights(model: nn.Module) -> nn.Module:
    """He init (fan-out, counted per group) for convs, unit BN, small normal for FC.

    He et al. (2015) take as the fan the connections one unit actually has: in a conv with g
    groups an input channel feeds only the C_out/g filters of its group, so its fan-out is
    C_out/g * k^2 and std = sqrt(2 / (C_out/g * k^2)). torch's ``kaiming_normal_(mode="fan_out")``
    (torchvision's init) ignores ``groups`` and counts C_out * k^2, which gives a conv with g groups
    1/g of the summed squared weights of the dense conv it replaces: behind BatchNorm a g times larger
    effective learning rate, so grouped variants start to learn faster than the dense one (see the
    gc2l_ablation chapter). Dense convs get what torch gives them; a depthwise conv sqrt(2 / k^2).

    A GC-2L layer keeps its own init (``TwoLevelConv2d.reset_parameters``, the same rule): re-
    initialising its inner convs one by one would give the fused and the unfused layout different
    weights. FLGC draws its dense weight with the same rule in its constructor.
    """
    own_init = set()
    for m in model.modules():
        if m in own_init:
            continue
        if isinstance(m, TwoLevelConv2d):
            m.reset_parameters()
            own_init.update(m.modules())
        elif isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            fan_out = m.out_channels // m.groups * kh * kw   # the connections of one input unit
            normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model
