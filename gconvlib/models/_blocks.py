"""Small pieces several architectures share."""
from __future__ import annotations

from torch import nn

from ..layers import STANDARD, ConvScheme, TwoLevelConv2d, create_conv2d


def conv_bn_act(in_ch: int, out_ch: int, k: int, stride: int = 1, *,
                scheme: ConvScheme = STANDARD, act: type[nn.Module] | None = nn.ReLU,
                bias: bool = False, name: str = "conv") -> nn.Sequential:
    """conv -> BN -> activation, the post-activation unit of MobileNets, ResNets and VGG."""
    layers = [create_conv2d(in_ch, out_ch, k, stride, scheme=scheme, bias=bias, name=name), nn.BatchNorm2d(out_ch)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def init_weights(model: nn.Module) -> nn.Module:
    """He init (fan-out) for convs, unit BN, small normal for FC: what torchvision's models do.

    A GC-2L layer keeps its own init (``TwoLevelConv2d.reset_parameters``): re-initialising its
    inner convs one by one would give the fused and the unfused layout different weights.
    """
    own_init = set()
    for m in model.modules():
        if m in own_init:
            continue
        if isinstance(m, TwoLevelConv2d):
            m.reset_parameters()
            own_init.update(m.modules())
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model
