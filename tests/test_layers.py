"""GC-2L, channel shuffle and FLGC behave as the papers describe."""
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gconvlib.layers import (ConvScheme, FLGCConv2d, GroupingError, PackedGroupConv2d, TwoLevelConv2d,
                             channel_shuffle, create_conv2d, num_groups)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


CL = torch.channels_last
FORMATS = [torch.contiguous_format, CL]


def _randomize(layer: TwoLevelConv2d) -> TwoLevelConv2d:
    """A GC-2L layer with larger coarse weights and an active bias (at init the bias is zero)."""
    with torch.no_grad():
        layer.coarse.weight.normal_(0, 0.5)
        if layer.bias is not None:
            layer.bias.normal_()
    return layer


def _fused_parts(grad: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fine and restrict rows of a fused [C_out + g, ...] tensor: each group holds its
    C_out/g fine filters, then its representative."""
    per = grad.shape[0] // groups - 1
    fine = [j * (per + 1) + p for j in range(groups) for p in range(per)]
    restrict = [j * (per + 1) + per for j in range(groups)]
    return grad[fine], grad[restrict]


@pytest.mark.parametrize("memory_format", FORMATS, ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("cin, cout, g, stride", [(16, 32, 4, 1), (32, 32, 8, 2), (12, 24, 3, 1), (8, 16, 2, 2)])
def test_gc2l_fused_equals_unfused_forward_and_backward(cin, cout, g, stride, memory_format):
    fused = _randomize(TwoLevelConv2d(cin, cout, 3, stride, 1, groups=g, bias=True, fused=True))
    unfused = fused.with_layout(fused=False)
    x = torch.randn(2, cin, 9, 9).contiguous(memory_format=memory_format)
    xf, xu = x.clone().requires_grad_(), x.clone().requires_grad_()
    yf, yu = fused(xf), unfused(xu)
    torch.testing.assert_close(yf, yu, rtol=1e-5, atol=1e-5)
    dy = torch.randn(yf.shape).contiguous(memory_format=memory_format)
    yf.backward(dy)
    yu.backward(dy)
    close = dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(xf.grad, xu.grad, **close)
    fine_grad, restrict_grad = _fused_parts(fused.fine_restrict.weight.grad, g)
    torch.testing.assert_close(fine_grad, unfused.fine.weight.grad, **close)
    torch.testing.assert_close(restrict_grad, unfused.restrict.weight.grad, **close)
    torch.testing.assert_close(fused.coarse.weight.grad, unfused.coarse.weight.grad, **close)
    torch.testing.assert_close(fused.bias.grad, unfused.bias.grad, **close)
    torch.testing.assert_close(fused.bias.grad, dy.sum(dim=(0, 2, 3)), **close)
    back = unfused.with_layout(fused=True)  # and the round trip
    torch.testing.assert_close(back(x), fused(x), rtol=1e-5, atol=1e-5)


def test_gc2l_fused_weight_layout_is_the_papers():
    """The fused conv's channel j*(C_out/g + 1) + p is fine filter j*C_out/g + p, the last of each group
    the representative: checked against a plain fine + coarse(restrict) computation."""
    layer = _randomize(TwoLevelConv2d(8, 12, 3, 1, 1, groups=4))
    fine_w, restrict_w = _fused_parts(layer.fine_restrict.weight.detach(), 4)
    x = torch.randn(2, 8, 5, 5)
    expected = (F.conv2d(x, fine_w, padding=1, groups=4)
                + F.conv2d(F.conv2d(x, restrict_w, padding=1, groups=4), layer.coarse.weight))
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)


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
    layer = _randomize(TwoLevelConv2d(16, 16, 3, 1, 1, groups=4))
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
    layer = _randomize(TwoLevelConv2d(8, 16, 3, 1, 1, groups=4, fused=fused, bias=True))
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


# -- GC-2L initialisation ------------------------------------------------------------------
def _gc2l_layers(fused: bool, seed: int = 0, width: int = 10):
    from gconvlib.models import create_model

    torch.manual_seed(seed)
    model = create_model("wrn28", scheme=ConvScheme("gc2l", groups=4, fused=fused), width=width)
    return [m for m in model.modules() if isinstance(m, TwoLevelConv2d)]


def test_gc2l_fused_and_unfused_wrn28_10_start_from_the_same_distribution():
    """Every GC-2L layer of WRN-28-10 (g=4), fused and unfused built from different seeds: the std of
    the fine, restrict and coarse weights agrees between layouts, and fine and restrict have He
    fan-out std counted per group, sqrt(2 / (C_out/g k^2)), the init of the GC conv they extend.
    Tolerance 10 %, or 4 sampling standard errors for parts too small for that (a restrict weight of
    16 inputs has 144 numbers; torch's fan-out, which ignores groups, is 2x smaller at g = 4)."""
    fused_layers, unfused_layers = _gc2l_layers(True, seed=1), _gc2l_layers(False, seed=2)
    assert len(fused_layers) == len(unfused_layers) == 27  # 12 blocks x 2 convs + 3 projections
    for i, (a, b) in enumerate(zip(fused_layers, unfused_layers)):
        assert (a.fused, b.fused) == (True, False)
        (fa, ra), (fb, rb) = a.fine_and_restrict_weights(), b.fine_and_restrict_weights()
        k = fa.shape[-1]
        he = (2.0 / (a.out_channels // 4 * k * k)) ** 0.5
        for part, wa, wb in (("fine", fa, fb), ("restrict", ra, rb)):
            sa, sb = wa.std().item(), wb.std().item()
            tol = max(0.10, 4 / wa.numel() ** 0.5)  # std of a std estimate: sigma / sqrt(2n)
            assert abs(sa - sb) <= tol * he, (i, part, sa, sb)
            assert abs(sa - he) <= tol * he and abs(sb - he) <= tol * he, (i, part, sa, sb, he)
        # coarse: He fan-out of a 1x1 conv g -> C_out in both layouts
        he_c = (2.0 / a.out_channels) ** 0.5
        tol = max(0.10, 4 / a.coarse.weight.numel() ** 0.5)
        for w in (a.coarse.weight, b.coarse.weight):
            assert abs(w.std().item() - he_c) <= tol * he_c, (i, w.std().item(), he_c)


def test_gc2l_fine_weights_have_the_std_of_the_gc_conv_they_extend():
    """16 -> 160 channels, g = 4, 3x3: fine and restrict std sqrt(2 / (40 * 9)) = 0.0745, the same
    as ``init_weights`` gives the plain GC conv of that shape; coarse sqrt(2 / 160) = 0.112."""
    from gconvlib.models._blocks import init_weights

    layer = TwoLevelConv2d(16, 160, 3, 1, 1, groups=4)
    gc = init_weights(nn.Sequential(nn.Conv2d(16, 160, 3, 1, 1, groups=4, bias=False)))[0]
    fine, restrict = layer.fine_and_restrict_weights()
    he = (2.0 / (40 * 9)) ** 0.5
    assert abs(fine.std().item() - he) <= 0.05 * he                  # 5,760 numbers: std error 0.9 %
    assert abs(gc.weight.std().item() - he) <= 0.05 * he
    assert abs(restrict.std().item() - he) <= 0.25 * he               # 144 numbers: std error 5.9 %
    assert abs(layer.coarse.weight.std().item() - (2.0 / 160) ** 0.5) <= 0.15 * (2.0 / 160) ** 0.5


def test_flgc_weight_starts_with_the_std_of_the_gc_conv_it_generalises():
    """FLGC's dense weight (masked to g contiguous groups at init) gets He fan-out counted per group:
    32 -> 64 channels, g = 8, 3x3: std sqrt(2 / (8 * 9)) = 0.167, sqrt(8) x torch's fan-out 0.059."""
    layer = FLGCConv2d(32, 64, 3, 1, 1, groups=8)
    he = (2.0 / (8 * 9)) ** 0.5
    assert abs(layer.weight.std().item() - he) <= 0.05 * he           # 18,432 numbers: std error 0.5 %


def test_gc2l_same_seed_gives_the_same_weights_in_both_layouts():
    fused_layers, unfused_layers = _gc2l_layers(True, width=1), _gc2l_layers(False, width=1)
    for a, b in zip(fused_layers, unfused_layers):
        for wa, wb in zip(a.fine_and_restrict_weights(), b.fine_and_restrict_weights()):
            assert torch.equal(wa, wb)
        assert torch.equal(a.coarse.weight, b.coarse.weight)


@pytest.mark.parametrize("fused", [True, False])
def test_gc2l_output_and_coarse_gradient_against_an_independent_computation(fused):
    """y = GC(fine) + coarse @ GC(restrict), and the coarse gradient is sum over pixels of dy_o * r_j."""
    layer = TwoLevelConv2d(16, 32, 3, 1, 1, groups=4, fused=fused)
    fine_w, restrict_w = (w.detach() for w in layer.fine_and_restrict_weights())
    x = torch.randn(2, 16, 6, 6)
    y = layer(x)
    r = F.conv2d(x, restrict_w, padding=1, groups=4)
    expected = F.conv2d(x, fine_w, padding=1, groups=4) + torch.einsum("oj,njhw->nohw", layer.coarse.weight[:, :, 0, 0].detach(), r)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)
    dy = torch.randn_like(y)
    y.backward(dy)
    grad = torch.einsum("nohw,njhw->oj", dy, r).view(32, 4, 1, 1)
    torch.testing.assert_close(layer.coarse.weight.grad, grad, rtol=1e-4, atol=1e-4)


def test_init_weights_leaves_a_gc2l_layer_its_own_init():
    from gconvlib.models._blocks import init_weights

    model = nn.Sequential(TwoLevelConv2d(64, 64, 3, 1, 1, groups=4, fused=False), nn.Conv2d(64, 64, 3))
    init_weights(model)
    restrict = model[0].restrict.weight
    he = (2.0 / (64 // 4 * 9)) ** 0.5  # the fine conv's fan-out per group; not 2 / k^2, this conv's own
    assert abs(restrict.std().item() - he) <= 0.15 * he
    he_c = (2.0 / 64) ** 0.5  # coarse: He fan-out of the 1x1 conv g -> C_out
    assert abs(model[0].coarse.weight.std().item() - he_c) <= 0.25 * he_c
    he_dense = (2.0 / (64 * 9)) ** 0.5  # ordinary dense convs: He fan-out as torch counts it
    assert abs(model[1].weight.std().item() - he_dense) <= 0.1 * he_dense


# -- memory format --------------------------------------------------------------------------
def _packed_flgc():
    layer = FLGCConv2d(16, 32, 3, 1, 1, groups=4)
    with torch.no_grad():  # a balanced but scrambled grouping, so the packed form permutes
        layer.in_logits.copy_(F.one_hot(torch.randperm(16) % 4, 4).float())
        layer.out_logits.copy_(F.one_hot(torch.randperm(32) % 4, 4).float())
    packed = layer.pack()
    assert isinstance(packed, PackedGroupConv2d)
    return packed


LAYERS = {
    "standard": lambda: create_conv2d(16, 32, 3, scheme=ConvScheme("standard")),
    "gc": lambda: create_conv2d(16, 32, 3, scheme=ConvScheme("gc", groups=4)),
    "e2gc": lambda: create_conv2d(16, 32, 3, scheme=ConvScheme("e2gc", group_size=4)),
    "gc2l_fused": lambda: _randomize(create_conv2d(16, 32, 3, scheme=ConvScheme("gc2l", groups=4))),
    "gc2l_unfused": lambda: _randomize(create_conv2d(16, 32, 3, scheme=ConvScheme("gc2l", groups=4, fused=False))),
    "gc2l_1x1_stride2": lambda: _randomize(create_conv2d(16, 32, 1, 2, scheme=ConvScheme("gc2l", groups=4))),
    "shuffle": lambda: create_conv2d(16, 32, 3, scheme=ConvScheme("shuffle", groups=4)),
    "flgc": lambda: create_conv2d(16, 32, 3, scheme=ConvScheme("flgc", groups=4)),
    "flgc_packed": _packed_flgc,
}


@pytest.mark.parametrize("memory_format", FORMATS, ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_every_layer_keeps_the_memory_format_forward_and_backward(kind, memory_format):
    layer = LAYERS[kind]().to(memory_format=memory_format)
    x = torch.randn(2, 16, 6, 7).contiguous(memory_format=memory_format).requires_grad_()
    assert x.is_contiguous() != x.is_contiguous(memory_format=CL)  # the two formats differ here
    y = layer(x)
    assert y.shape[1] == 32 and y.shape[2] > 1 and y.shape[3] > 1
    assert y.is_contiguous(memory_format=memory_format), y.stride()
    y.backward(torch.randn(y.shape).contiguous(memory_format=memory_format))
    assert x.grad.is_contiguous(memory_format=memory_format), x.grad.stride()


# -- channel shuffle ------------------------------------------------------------------------
@pytest.mark.parametrize("memory_format", FORMATS, ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("g, c", [(3, 4), (4, 2), (2, 8)])
def test_channel_shuffle_matches_the_shufflenet_index_map(g, c, memory_format):
    x = torch.randn(2, g * c, 3, 5).contiguous(memory_format=memory_format)
    source = [None] * (g * c)
    for i in range(g):          # old group i, its channel j ...
        for j in range(c):
            source[j * g + i] = i * c + j  # ... becomes output channel j*g + i
    y = channel_shuffle(x, g)
    assert torch.equal(y, x[:, source])
    assert y.is_contiguous(memory_format=memory_format)


# -- the benchmark (not timed here: only its bookkeeping) -----------------------------------
def test_gc2l_benchmark_reports_every_variant_and_restores_threads_and_rng(capsys):
    from gconvlib.cli import main
    from gconvlib.measure.layer_bench import VARIANTS, benchmark_gc2l

    before, rng = torch.get_num_threads(), torch.get_rng_state()
    result = benchmark_gc2l(width=1, batch=2, repeats=1, warmup=0, groups=(2, 4), threads=1)
    assert torch.get_num_threads() == before and result["threads"] == 1
    assert torch.equal(torch.get_rng_state(), rng)
    assert sorted(result["ms"]) == [2, 4] and all(set(ms) == set(VARIANTS) for ms in result["ms"].values())
    ratio = result["ms"][4]["gc2l_fused"] / result["ms"][4]["gc2l_unfused"]
    assert result["fused_over_unfused"][4] == pytest.approx(ratio)
    assert main(["bench", "gc2l", "--width", "1", "--batch", "2", "--groups", "2", "--repeats", "1",
                 "--warmup", "0", "--threads", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"fused_over_unfused=\d+\.\d{3} gc2l_over_gc=\d+\.\d{3}", last), last
    assert torch.get_num_threads() == before
