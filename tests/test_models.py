"""Every registered model builds, runs and has the shape it promises (looping over the registry)."""
import pytest
import torch

from gconvlib.layers import ConvScheme
from gconvlib.models import create_model, list_models

SMALL = {"wrn28": dict(width=1, num_classes=10, input_size=32)}


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_finite(name):
    kwargs = SMALL.get(name, dict(num_classes=7, input_size=64))
    model = create_model(name, **kwargs).eval()
    x = torch.randn(2, 3, kwargs["input_size"], kwargs["input_size"])
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, kwargs["num_classes"])
    assert torch.isfinite(y).all()


SCHEMES = [ConvScheme("gc", groups=2), ConvScheme("gc2l", groups=2), ConvScheme("gc2l", groups=2, fused=False),
           ConvScheme("shuffle", groups=2), ConvScheme("flgc", groups=2)]


@pytest.mark.parametrize("name, kw", [("wrn28", dict(width=1)), ("mobilenet_v2", {})])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.label + ("" if s.fused else " unfused"))
def test_wrn_and_mobilenet_v2_take_every_scheme(name, kw, scheme):
    model = create_model(name, scheme=scheme, num_classes=5, input_size=32, **kw)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 5)


def test_e2gc_group_size_that_does_not_divide_a_layer_names_it():
    from gconvlib.layers import GroupingError

    with pytest.raises(GroupingError, match=r"features\.3\.project \(144->24 channels\): 18 groups"):
        create_model("mobilenet_v2", scheme=ConvScheme("e2gc", group_size=8), input_size=32)


def test_registry_refuses_unknown_and_duplicate_names():
    from gconvlib.models import register_model

    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(ValueError, match="registered twice"):
        @register_model
        def wrn28():  # noqa: F811
            pass


def test_vgg_scheme_groups_every_conv_of_the_named_blocks():
    model = create_model("vgg13_bn", scheme="D", input_size=32)
    groups = [m.groups for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert groups == [1, 1] + [64] * 8
    with pytest.raises(ValueError, match="unknown VGG grouping scheme"):
        create_model("vgg13_bn", scheme="F")


@pytest.mark.parametrize("scheme", ["A", "D", "E"])
def test_vgg_width_mult_keeps_each_schemes_group_size(scheme):
    def group_sizes(model):
        return [m.in_channels // m.groups for m in model.modules() if isinstance(m, torch.nn.Conv2d)]

    full = create_model("vgg13_bn", scheme=scheme, input_size=32)
    quarter = create_model("vgg13_bn", scheme=scheme, input_size=32, width_mult=0.25)
    grouped = [i for i, m in enumerate(m for m in full.modules() if isinstance(m, torch.nn.Conv2d)) if m.groups > 1]
    assert grouped and [group_sizes(full)[i] for i in grouped] == [group_sizes(quarter)[i] for i in grouped]
    assert quarter(torch.randn(2, 3, 32, 32)).shape == (2, 1120)
    with pytest.raises(ValueError, match="multiple of 1/32"):
        create_model("vgg13_bn", width_mult=0.3)


# -- initialisation: He fan-out counted per group ---------------------------------------------

def _he_per_group(conv: torch.nn.Conv2d) -> float:
    """He et al.'s fan-out is the connections of one input unit: C_out/g * k^2 for g groups."""
    kh, kw = conv.kernel_size
    return (2.0 / (conv.out_channels / conv.groups * kh * kw)) ** 0.5


def test_init_weights_a_16_to_160_g4_conv_gets_the_per_group_he_std():
    from gconvlib.models._blocks import init_weights

    torch.manual_seed(0)
    conv = init_weights(torch.nn.Sequential(torch.nn.Conv2d(16, 160, 3, groups=4)))[0]
    expected = (2.0 / (40 * 9)) ** 0.5                   # 0.0745; 5,760 weights: std error 0.9 %
    assert abs(conv.weight.std().item() - expected) <= 0.05 * expected
    assert torch.count_nonzero(conv.bias) == 0


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_a_grouped_conv_starts_sqrt_g_times_larger_than_torchs_fan_out(groups):
    """torch's kaiming_normal_(mode="fan_out") counts C_out k^2 whatever the groups; the per-group
    count gives sqrt(g) times its std (1, 2, 4 here). The old init (torch's) fails for g = 4 and 16."""
    from gconvlib.models._blocks import init_weights

    conv = torch.nn.Conv2d(64, 256, 3, groups=groups, bias=False)
    torch.manual_seed(1)
    torch.nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    torch_std = conv.weight.std().item()
    torch.manual_seed(1)
    init_weights(torch.nn.Sequential(conv))
    ratio = conv.weight.std().item() / torch_std
    assert abs(ratio - groups ** 0.5) <= 0.05 * groups ** 0.5, ratio   # the same draws, scaled


@pytest.mark.parametrize("name, scheme, kw", [
    ("wrn28", ConvScheme("gc", groups=4), dict(width=1)),
    ("wrn28", ConvScheme("shuffle", groups=16), dict(width=1)),
    ("mobilenet_v1", ConvScheme("e2gc", group_size=1), {}),          # depthwise: sqrt(2 / 9)
    ("vgg13_bn", "D", {}),
])
def test_every_conv_of_a_model_has_the_per_group_he_std(name, scheme, kw):
    torch.manual_seed(0)
    model = create_model(name, scheme=scheme, num_classes=5, input_size=32, **kw)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(c.groups > 1 for c in convs)
    for i, conv in enumerate(convs):
        he = _he_per_group(conv)
        tol = max(0.10, 4 / (2 * conv.weight.numel()) ** 0.5)     # 4 std errors of a std estimate
        assert abs(conv.weight.std().item() - he) <= tol * he, (i, conv, conv.weight.std().item(), he)
    if name == "mobilenet_v1":
        depthwise = [c for c in convs if c.groups == c.in_channels == c.out_channels]
        assert depthwise and all(abs(_he_per_group(c) - (2.0 / 9) ** 0.5) < 1e-12 for c in depthwise)
