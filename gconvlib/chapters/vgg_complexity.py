"""VGG chapter 1: Table 1 (the VGG-BN layouts) and the MACs/parameters of schemes A-E.

The paper prints **no** Params or MACs values (Fig. 10 is a plot whose numbers are not in the
text), so every count here is *exact (computed)* and stands alone; the only printed complexity
claims are judged: "the MACs of scheme E decreased by about 80 %" and the orderings.
"""
from __future__ import annotations

import pandas as pd
from torch import nn

from .. import plots
from ..layers import ConvScheme, create_conv2d
from ..models import ModelSpec
from ..models.vgg import DEPTHS, GROUPINGS
from ..store import ResultsStore
from ._base import ChapterResult, count_evidence
from ._claims import judge_chapter

NAME = "vgg_complexity"
SCHEMES = tuple(GROUPINGS)  # baseline, A .. E


def layout_table(input_size: int = 224, num_classes: int = 1120) -> pd.DataFrame:
    """VGG Table 1 read off the built models: per block, output size and [3x3, C] x n of each depth."""
    rows: dict[str, dict] = {}
    for name in DEPTHS:
        model = ModelSpec(name, "baseline", num_classes=num_classes, input_size=input_size).build("meta")
        size, block, convs = input_size, 1, []
        for layer in model.features:
            if isinstance(layer, nn.MaxPool2d):
                width = convs[-1].out_channels
                rows.setdefault(f"conv-{block}", {"layer name": f"conv-{block}", "output size": f"{size}x{size}"})
                rows[f"conv-{block}"][name.upper().replace("_", "")] = f"[3x3, {width}] x {len(convs)}"
                size, block, convs = size // 2, block + 1, []
            else:
                convs.append(layer[0])
        head = [m for m in model.classifier if isinstance(m, nn.Linear)]
        rows.setdefault("classifier", {"layer name": "classifier", "output size": "1x1"})
        rows["classifier"][name.upper().replace("_", "")] = " -> ".join(
            [str(head[0].in_features)] + [str(m.out_features) for m in head])
    return pd.DataFrame(rows.values())


def run(profile: str = "quick", model_name: str = "vgg13_bn", num_classes: int = 1120, input_size: int = 224,
        store: ResultsStore | None = None) -> ChapterResult:
    r = ChapterResult.called(NAME, locals())
    r.add_table("table1", layout_table(input_size, num_classes),
                f"Table 1, rebuilt from the model code ({input_size}x{input_size} input, {num_classes} classes): "
                "each conv is followed by BatchNorm and ReLU")
    schemes = pd.DataFrame([dict(scheme=s, groups=", ".join(f"conv-{b}: {g}" for b, g in GROUPINGS[s].items()) or "none")
                            for s in SCHEMES])
    r.add_table("schemes", schemes, "The grouping schemes (Sec. 4): every conv of the named blocks is grouped")

    paper_fields = dict(num_classes=num_classes, input_size=input_size)
    counts = count_evidence(model_name, SCHEMES, store, **paper_fields)
    wide = counts.pivot(index="variant", columns="quantity", values="value").reindex(list(SCHEMES))
    base = wide.loc["baseline"]
    frame = pd.DataFrame({"scheme": wide.index, "Params (M, exact)": wide.params / 1e6,
                          "MACs (G, exact)": wide.macs / 1e9,
                          "Params reduction vs baseline (%)": 100 * (1 - wide.params / base.params),
                          "MACs reduction vs baseline (%)": 100 * (1 - wide.macs / base.macs)})
    r.add_table("complexity", frame.round(3), f"{ModelSpec(model_name, **paper_fields).text}: Params (with "
                "BatchNorm) and MACs of every scheme, computed here; the paper prints none of them")
    r.data["complexity"] = frame

    r.figures["fig2"] = figure_2

    # the claims are about the paper's setting (VGG13-BN, 1,120 classes, 224 x 224), whatever this page shows
    paper_counts = count_evidence("vgg13_bn", SCHEMES, store)
    judge_chapter(r, [paper_counts, receptive_field_evidence()], store)
    return r


def figure_2(channels: int = 8, groups: int = 4):
    """VGG Fig. 2: (a) a convolution with eight output channels, (b) the same grouped into four groups."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(5.5, 2.8))
    plots.connectivity(create_conv2d(channels, channels, 3), axes[0], "(a) convolution")
    plots.connectivity(create_conv2d(channels, channels, 3, scheme=ConvScheme("gc", groups=groups)), axes[1],
                       f"(b) grouped convolution, {groups} groups")
    fig.tight_layout()
    return fig


def receptive_field(stack: nn.Module, size: int = 31) -> int:
    """Pixels of the input (along one axis) that reach the centre output pixel of a stride-1 conv
    stack: the non-zero span of the gradient of that pixel with respect to the input."""
    import torch

    x = torch.zeros(1, 1, size, size, requires_grad=True)
    with torch.no_grad():
        for m in stack.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
    stack(x)[0, 0, size // 2, size // 2].backward()
    return int((x.grad[0, 0].abs().sum(0) > 0).sum())


def receptive_field_evidence() -> pd.DataFrame:
    """Sec. 3.1: three stacked 3x3 convs see what one 7x7 does; two see what a 5x5 does."""
    stacks = {f"conv3x3*{n}": nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(n)])
              for n in (2, 3)}
    stacks |= {f"conv{k}x{k}": nn.Conv2d(1, 1, k, padding=k // 2, bias=False) for k in (5, 7)}
    return pd.DataFrame([dict(variant=name, quantity="receptive_field", value=float(receptive_field(stack)),
                              kind="exact", source="gradient of the centre output pixel w.r.t. the input")
                         for name, stack in stacks.items()])
