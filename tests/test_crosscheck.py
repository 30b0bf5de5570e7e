"""Our hook-based MAC counts agree with two well-kept counters."""
import pytest
import torch
from ptflops import get_model_complexity_info
from torch.utils.flop_counter import FlopCounterMode

from gconvlib.complexity import count, layer_stats
from gconvlib.layers import ConvScheme
from gconvlib.models import create_model

def _has_bias(model, name):
    return getattr(model.get_submodule(name), "bias", None) is not None


CASES = [
    ("mobilenet_v1", dict(scheme=ConvScheme("e2gc", group_size=4), input_size=64)),
    ("mobilenet_v1", dict(scheme=ConvScheme("fggc", groups=8), input_size=64)),
    ("resnext50", dict(scheme=ConvScheme("e2gc", group_size=16), input_size=64)),
    ("wrn28", dict(scheme=ConvScheme("gc2l", groups=4), width=2, num_classes=10, input_size=32)),
    ("wrn34_2", dict(scheme=ConvScheme("gc", groups=4), input_size=64)),
    ("mobilenet_v2", dict(scheme=ConvScheme("gc2l", groups=2), input_size=64)),
    ("vgg13_bn", dict(scheme="E", input_size=64)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_macs_and_params_match_ptflops_and_flop_counter(name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    ours = count(model)
    size = kwargs["input_size"]
    macs, params = get_model_complexity_info(model, (3, size, size), backend="aten", as_strings=False,
                                             print_per_layer_stat=False, verbose=False)
    # ptflops also counts the bias additions of conv/FC layers (one per output element): the
    # difference must be exactly those, so the multiply-accumulates themselves agree.
    bias_adds = sum(layer.out_channels * layer.out_hw[0] * layer.out_hw[1]
                    for layer in layer_stats(model, size) if _has_bias(model, layer.name))
    assert macs - bias_adds == ours.macs
    assert params == sum(p.numel() for p in model.parameters()) == ours.params
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert counter.get_total_flops() == 2 * ours.macs  # forward FLOPs = 2 x MACs
