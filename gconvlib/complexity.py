"""Parameters, MACs and the E2GC paper's per-layer quantities, measured on the model itself.

Conventions (those under which the three papers' published counts come out): MACs are the multiply-accumulates of convolution and fully connected
layers only (no BN, activations, pooling or additions). Parameters are counted with and without
BatchNorm; buffers (BN running statistics) never count. A layer that is stored differently at
inference (FLGC keeps a dense weight and a mask while training) is counted as deployed.

Everything here is read off a forward pass with hooks, never from a copy of a formula; the
formulas of E2GC Table II live in :func:`gconv_formulas` so the two can be checked against each other.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import FLGCConv2d

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)


@dataclass
class LayerStats:
    """One conv or FC layer: its shape and its Table II quantities."""

    name: str
    kind: str           # "conv" | "fc" | "flgc"
    in_channels: int    # m
    out_channels: int   # n
    kernel: int         # d_k
    groups: int         # g
    stride: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    macs: int           # M_c
    params: int         # P (weights + bias as deployed)

    @property
    def activations(self) -> int:
        """A = ifmaps + ofmaps (m*h_in*w_in + n*h_out*w_out)."""
        return (self.in_channels * self.in_hw[0] * self.in_hw[1]
                + self.out_channels * self.out_hw[0] * self.out_hw[1])

    @property
    def arithmetic_intensity(self) -> float:
        """AI = M_c / (P + A)."""
        return self.macs / (self.params + self.activations)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(activations=self.activations, arithmetic_intensity=self.arithmetic_intensity,
                 group_size=self.in_channels // self.groups)
        return d


@dataclass(frozen=True)
class Complexity:
    params: int         # all trainable parameters as deployed, BN included
    params_no_bn: int   # the same without BatchNorm's weight and bias
    macs: int           # conv + FC multiply-accumulates for one input
    params_trained: int = 0  # every nn.Parameter while training (FLGC: dense weight + group logits)

    def as_dict(self) -> dict:
        return asdict(self)


def _own_params(module: nn.Module) -> int:
    if isinstance(module, FLGCConv2d):
        return module.inference_parameters()
    return sum(p.numel() for p in module.parameters(recurse=False))


def count_params(model: nn.Module) -> tuple[int, int]:
    """(params with BN, params without BN), FLGC layers counted as deployed."""
    total = bn = 0
    for m in model.modules():
        n = _own_params(m)
        total += n
        if isinstance(m, _BN):
            bn += n
    return total, total - bn


def layer_stats(model: nn.Module, input_size: int | tuple[int, int] | None = None,
                in_channels: int = 3) -> list[LayerStats]:
    """Run one (1, C, H, W) forward pass and record every conv and FC layer."""
    if input_size is None:
        input_size = getattr(model, "input_size", 224)
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    records: list[LayerStats] = []

    def hook(name):
        def record(module, inputs, output):
            x = inputs[0]
            if isinstance(module, nn.Linear):
                records.append(LayerStats(name, "fc", module.in_features, module.out_features, 1, 1, 1,
                                          (1, 1), (1, 1), module.in_features * module.out_features,
                                          _own_params(module)))
                return
            k = module.weight.shape[2]
            oh, ow = output.shape[2], output.shape[3]
            if isinstance(module, FLGCConv2d):
                kept = int(module.mask().detach().round().sum())
                macs, kind, stride, groups = kept * k * k * oh * ow, "flgc", module.stride, module.groups
            else:
                macs = module.out_channels * (module.in_channels // module.groups) * k * k * oh * ow
                kind, stride, groups = "conv", module.stride[0], module.groups
            records.append(LayerStats(name, kind, x.shape[1], output.shape[1], k, groups, stride,
                                      (x.shape[2], x.shape[3]), (oh, ow), macs, _own_params(module)))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, FLGCConv2d))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, in_channels, h, w, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return records


def count(model: nn.Module, input_size: int | tuple[int, int] | None = None) -> Complexity:
    """Parameters (with and without BN) and MACs of one forward pass."""
    params, params_no_bn = count_params(model)
    macs = sum(layer.macs for layer in layer_stats(model, input_size))
    return Complexity(params, params_no_bn, macs, sum(p.numel() for p in model.parameters()))


# -- E2GC paper, Table II and Fig. 3 ------------------------------------------------------

def gconv_formulas(n: int, m: int, h: int, w: int, d_k: int, g: int) -> dict:
    """Table II of the E2GC paper for one grouped conv (ifmap and ofmap both h x w)."""
    macs = n * m * h * w * d_k ** 2 // g
    params = n * m * d_k ** 2 // g
    activations = (n + m) * h * w
    return dict(macs=macs, params=params, activations=activations,
                arithmetic_intensity=macs / (params + activations))


def fig3_curves(n: int = 512, m: int = 512, d_k: int = 3, hw: int = 14) -> list[dict]:
    """M_c, AI and memory accesses (1/AI) against G, normalized to depthwise conv (G=1),
    for every G that divides m. The paper's Fig. 3 uses n = m = 512, 3x3, 14x14."""
    dw = gconv_formulas(n, m, hw, hw, d_k, m)
    rows = []
    for group_size in [G for G in range(1, m + 1) if m % G == 0]:
        f = gconv_formulas(n, m, hw, hw, d_k, m // group_size)
        rows.append(dict(G=group_size, g=m // group_size,
                         macs=f["macs"] / dw["macs"],
                         arithmetic_intensity=f["arithmetic_intensity"] / dw["arithmetic_intensity"],
                         memory_accesses=dw["arithmetic_intensity"] / f["arithmetic_intensity"]))
    return rows


def table2_check(model: nn.Module, input_size: int | None = None, min_groups: int = 2) -> list[dict]:
    """Table II's formulas next to the hook counts for every grouped conv of a real model.

    The formulas assume ifmap and ofmap of equal size h x w; they are evaluated at the ofmap
    size, so M_c and P match on every layer while A differs on strided layers (the ifmap is
    larger there), which the ``same_size`` column makes visible.
    """
    rows = []
    for layer in layer_stats(model, input_size):
        if layer.kind != "conv" or layer.groups < min_groups:
            continue
        h, w = layer.out_hw
        f = gconv_formulas(layer.out_channels, layer.in_channels, h, w, layer.kernel, layer.groups)
        rows.append(dict(layer=layer.name, m=layer.in_channels, n=layer.out_channels, g=layer.groups,
                         G=layer.in_channels // layer.groups, hw=f"{h}x{w}",
                         same_size=layer.in_hw == layer.out_hw,
                         macs=layer.macs, macs_formula=f["macs"],
                         params=layer.params, params_formula=f["params"],
                         activations=layer.activations, activations_formula=f["activations"],
                         ai=round(layer.arithmetic_intensity, 3),
                         ai_formula=round(f["arithmetic_intensity"], 3)))
    return rows


def per_processor_params(model: nn.Module, groups: int) -> int:
    """Parameters one of ``groups`` processors holds when each owns one group (GC-2L Sec. 3.2).

    Grouped and two-level convs are split evenly (a GC-2L processor also applies its share of the
    coarse 1x1 conv: C_out/g outputs from all g representatives); everything else - stem, BN, FC -
    is replicated on every processor. A derived quantity: the paper's tables print totals.
    """
    from .layers import TwoLevelConv2d

    inside_two_level = {id(c) for t in model.modules() if isinstance(t, TwoLevelConv2d)
                        for c in t.modules()}
    split = replicated = 0
    for m in model.modules():
        if isinstance(m, TwoLevelConv2d):
            split += sum(p.numel() for p in m.parameters())
        elif id(m) in inside_two_level:
            continue  # counted with its TwoLevelConv2d
        elif isinstance(m, nn.Conv2d) and m.groups == groups > 1:
            split += _own_params(m)
        else:
            replicated += _own_params(m)
    return split // groups + replicated


def count_spec(spec, store=None) -> dict:
    """``{params, params_no_bn, macs}`` of a :class:`~gconvlib.models.ModelSpec`, read from the
    results store when it was counted before with the same code (see :mod:`gconvlib.store`)."""
    from .store import ResultsStore

    def compute():
        # FLGC decides its mask from its (real) logits; everything else counts on the meta device.
        return count(spec.build("cpu" if spec.kind == "flgc" else "meta"), spec.input_size).as_dict()

    store = store or ResultsStore()
    return store.get_or_compute("complexity", spec, compute,
                                code=(__name__, *spec.code_modules()))["result"]
