"""Every registered model builds, runs and has the shape it promises (looping over the registry)."""
import pytest
import torch

from gconvlib.layers import ConvScheme
from gconvlib.models import create_model, list_models

SMALL = {"wrn28": dict(width=1, num_classes=10, input_size=32)}


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_finite(name):
    kwargs = SMALL.get(name, dict(num_classes=7, input_size=64 if name.startswith(("vgg", "mobilenet")) else 64))
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
