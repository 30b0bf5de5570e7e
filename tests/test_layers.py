"""GC-2L, channel shuffle and FLGC behave as the papers (and REFERENCE §3-4) describe."""
import pytest
import torch
from torch import nn

from gconvlib.layers import (ConvScheme, FLGCConv2d, GroupingError, PackedGroupConv2d, TwoLevelConv2d,
                             channel_shuffle, create_conv2d, num_groups)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("cin, cout, g, stride", [(16, 32, 4, 1), (32, 32, 8, 2), (12, 24, 3, 1)])
def test_gc2l_fused_equals_unfused(cin, cout, g, stride):
    fused = TwoLevelConv2d(cin, cout, 3, stride, 1, groups=g, fused=True)
    unfused = fused.with_layout(fused=False)
    x = torch.randn(2, cin, 9, 9)
    torch.testing.assert_close(fused(x), unfused(x), rtol=1e-5, atol=1e-5)
    back = unfused.with_layout(fused=True)
    torch.testing.assert_close(back(x), fused(x), rtol=1e-5, atol=1e-5)


def test_gc2l_with_zero_coarse_weights_is_gc():
    layer = TwoLevelConv2d(16, 32, 3, 1, 1, groups=4)
    gc = nn.Conv2d(16, 32, 3, 1, 1, groups=4, bias=False)
    with torch.no_grad():
        gc.weight.copy_(layer.fine_and_restrict_weights()[0])
        layer.coarse.weight.zero_()
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(layer(x), gc(x))


def test_gc2l_coarse_path_mixes_groups():
    """A change confined to group 0's inputs reaches outputs of every group only via the coarse path."""
    layer = TwoLevelConv2d(16, 16, 3, 1, 1, groups=4)
    x = torch.randn(1, 16, 6, 6)
    x2 = x.clone()
    x2[:, :4] += 1.0
    delta = (layer(x2) - layer(x)).abs().sum(dim=(0, 2, 3))
    assert (delta[4:] > 0).all()  # outputs of groups 1..3 changed
    gc_like = TwoLevelConv2d(16, 16, 3, 1, 1, groups=4)
    with torch.no_grad():
        gc_like.coarse.weight.zero_()
    delta = (gc_like(x2) - gc_like(x)).abs().sum(dim=(0, 2, 3))
    assert torch.all(delta[4:] == 0)


@pytest.mark.parametrize("fused", [True, False])
def test_gc2l_gradients_flow_to_every_part(fused):
    layer = TwoLevelConv2d(8, 16, 3, 1, 1, groups=4, fused=fused, bias=True)
    layer(torch.randn(2, 8, 5, 5)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gc2l_parameter_overhead_per_layer():
    cin, cout, g, k = 32, 64, 4, 3
    extra = (sum(p.numel() for p in TwoLevelConv2d(cin, cout, k, groups=g).parameters())
             - nn.Conv2d(cin, cout, k, groups=g, bias=False).weight.numel())
    assert extra == cin * k * k + g * cout


def test_channel_shuffle_is_the_shufflenet_permutation():
    g, c = 3, 4  # 3 groups of 4 channels
    x = torch.arange(g * c, dtype=torch.float32).view(1, g * c, 1, 1)
    y = channel_shuffle(x, g).flatten().tolist()
    # output channel j*g + i takes input channel i*c + j
    assert y == [float(i * c + j) for j in range(c) for i in range(g)]
    assert sorted(y) == x.flatten().tolist()


def test_flgc_assignment_is_hard_one_hot_and_mask_is_block_structured():
    layer = FLGCConv2d(12, 8, 3, groups=4)
    with torch.no_grad():
        layer.in_logits.copy_(torch.randn_like(layer.in_logits))
        layer.out_logits.copy_(torch.randn_like(layer.out_logits))
    mask = layer.mask().detach()
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    ins, outs = layer.assignments()
    expected = (outs[:, None] == ins[None, :]).float()
    torch.testing.assert_close(mask, expected)


def test_flgc_gradients_reach_the_assignment_logits():
    layer = FLGCConv2d(8, 8, 3, 1, 1, groups=2)
    layer(torch.randn(2, 8, 5, 5)).square().sum().backward()
    assert layer.in_logits.grad is not None and layer.in_logits.grad.abs().sum() > 0
    assert layer.out_logits.grad is not None and layer.out_logits.grad.abs().sum() > 0


def test_flgc_packed_inference_form_equals_masked_form():
    layer = FLGCConv2d(8, 12, 3, 1, 1, groups=4, bias=True)
    with torch.no_grad():  # a balanced but scrambled grouping
        ins = torch.randperm(8) % 4
        outs = torch.randperm(12) % 4
        layer.in_logits.copy_(torch.nn.functional.one_hot(ins, 4).float())
        layer.out_logits.copy_(torch.nn.functional.one_hot(outs, 4).float())
        layer.bias.normal_()
    packed = layer.pack()
    assert isinstance(packed, PackedGroupConv2d) and packed.conv.groups == 4
    x = torch.randn(2, 8, 7, 7)
    torch.testing.assert_close(packed(x), layer(x), rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in packed.conv.parameters()) == layer.inference_parameters()


def test_flgc_unbalanced_grouping_stays_masked():
    layer = FLGCConv2d(8, 8, 3, groups=2)
    with torch.no_grad():
        layer.in_logits.copy_(torch.tensor([[1.0, 0.0]]).repeat(8, 1))  # every input in group 0
    assert not layer.is_balanced()
    assert layer.pack() is layer


def test_grouping_errors_name_the_layer_and_the_numbers():
    with pytest.raises(GroupingError, match=r"layer stage1\.conv .*3 groups do not divide its 32 input channels"):
        create_conv2d(32, 64, 3, scheme=ConvScheme("gc", groups=3), name="stage1.conv")
    with pytest.raises(GroupingError, match=r"group size G=64 is larger than its 32 input channels"):
        num_groups(32, 32, group_size=64, name="x")
    with pytest.raises(GroupingError, match=r"G=5 does not divide its 32 input"):
        num_groups(32, 32, group_size=5)
    with pytest.raises(GroupingError, match=r"output channels"):
        num_groups(8, 6, groups=4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="bogus", groups=2), "unknown conv scheme"),
    (dict(kind="gc"), "needs groups"),
    (dict(kind="e2gc", groups=2), "group size G, not a number of groups"),
    (dict(kind="gc", groups=0), "positive integer"),
    (dict(kind="standard", groups=2), "takes neither"),
])
def test_invalid_schemes_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvScheme(**kwargs)


def test_factory_builds_each_scheme():
    built = {kind: create_conv2d(16, 32, 3, scheme=ConvScheme(kind, **({"group_size": 4} if kind == "e2gc" else {} if kind == "standard" else {"groups": 4})))
             for kind in ("standard", "gc", "e2gc", "fggc", "gc2l", "shuffle", "flgc")}
    x = torch.randn(1, 16, 8, 8)
    for kind, layer in built.items():
        assert layer(x).shape == (1, 32, 8, 8), kind
    assert built["standard"].groups == 1 and built["gc"].groups == 4 and built["e2gc"].groups == 4
