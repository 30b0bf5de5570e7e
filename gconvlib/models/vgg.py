"""VGG-BN (Simonyan & Zisserman 2014) with the grouping schemes A-E of the Kuzushiji paper.

torchvision's layout: conv bias on, BN after every conv, classifier 25088 -> 4096 -> 4096 -> K.
A scheme groups *every* conv of the named blocks (conv-1 .. conv-5 are the blocks between
max-pools); :class:`BlockSchemes` names them (``baseline``, ``A`` .. ``E``), the text form of a VGG scheme.

``width_mult`` < 1 shrinks every conv and the classifier for CPU-sized runs; the group counts
shrink by the same factor, so each scheme keeps its group *size* (channels per group).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..layers import STANDARD, ConvScheme
from ._blocks import conv_bn_act, init_weights
from ._registry import register_model

# convs per block (conv-1 .. conv-5)
DEPTHS = {"vgg13_bn": (2, 2, 2, 2, 2), "vgg16_bn": (2, 2, 3, 3, 3), "vgg19_bn": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)

# scheme -> {block number: groups}  (VGG paper Sec. 4: every conv of the named blocks is grouped)
GROUPINGS = {
    "baseline": {},
    "A": {3: 64},
    "B": {4: 64, 5: 64},
    "C": {3: 64, 4: 64, 5: 64},
    "D": {2: 64, 3: 64, 4: 64, 5: 64},
    "E": {2: 32, 3: 32, 4: 32, 5: 32},
}


@dataclass(frozen=True)
class BlockSchemes:
    """One of the paper's grouping schemes: GC in the named blocks, dense convs elsewhere.

    Its text form is the paper's name (``baseline``, ``A`` .. ``E``)."""

    name: str

    def __post_init__(self):
        if self.name not in GROUPINGS:
            raise ValueError(f"unknown VGG grouping scheme {self.name!r}; choose one of {', '.join(GROUPINGS)}")

    @property
    def text(self) -> str:
        return self.name

    def label_for(self, paper: str | None = None) -> str:
        return self.name

    label = property(label_for)

    @property
    def k(self) -> None:
        return None

    def for_block(self, block: int, width_mult: float = 1.0) -> ConvScheme:
        groups = GROUPINGS[self.name].get(block)
        return ConvScheme("gc", groups=int(groups * width_mult)) if groups else STANDARD


def parse_scheme(text) -> BlockSchemes:
    """``"E"`` -> scheme E; ``baseline`` (or ``standard``/``sc``) -> no grouping."""
    if isinstance(text, BlockSchemes):
        return text
    name = str(text).strip()
    if ":" in name:
        raise ValueError(f"VGG schemes fix their own group counts: use baseline or A..E, got {name!r}")
    if name.lower() in ("baseline", "standard", "sc"):
        name = "baseline"
    elif len(name) == 1:
        name = name.upper()
    return BlockSchemes(name)


BASELINE = BlockSchemes("baseline")


class VGG(nn.Module):
    def __init__(self, depths, scheme: BlockSchemes | str = BASELINE, num_classes: int = 1120,
                 input_size: int = 224, dropout: float = 0.5, width_mult: float = 1.0):
        super().__init__()
        scheme = parse_scheme(scheme)
        # every width is a multiple of 64 and every group count 32 or 64, so whole numbers
        # of channels and groups need 32 * width_mult to be whole
        if not (0 < width_mult <= 1 and float(32 * width_mult).is_integer()):
            raise ValueError(f"width_mult must be a multiple of 1/32 in (0, 1] (e.g. 1, 0.5, 0.25), "
                             f"got {width_mult}")
        self.input_size, self.scheme, self.width_mult = input_size, scheme, width_mult
        layers, in_ch = [], 3
        for block, (n, width) in enumerate(zip(depths, [int(w * width_mult) for w in WIDTHS]), start=1):
            layer_scheme = scheme.for_block(block, width_mult)
            for i in range(n):
                layers.append(conv_bn_act(in_ch, width, 3, scheme=layer_scheme, bias=True,
                                          name=f"conv-{block}.{i}"))
                in_ch = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(7)
        hidden = int(4096 * width_mult)
        self.classifier = nn.Sequential(
            nn.Linear(in_ch * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))
        init_weights(self)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


@register_model(paper="vgg", parse_scheme=parse_scheme)
def vgg13_bn(scheme: BlockSchemes | str = BASELINE, num_classes: int = 1120, input_size: int = 224,
             width_mult: float = 1.0) -> VGG:
    return VGG(DEPTHS["vgg13_bn"], scheme, num_classes, input_size, width_mult=width_mult)


@register_model(paper="vgg", parse_scheme=parse_scheme)
def vgg16_bn(scheme: BlockSchemes | str = BASELINE, num_classes: int = 1120, input_size: int = 224,
             width_mult: float = 1.0) -> VGG:
    return VGG(DEPTHS["vgg16_bn"], scheme, num_classes, input_size, width_mult=width_mult)


@register_model(paper="vgg", parse_scheme=parse_scheme)
def vgg19_bn(scheme: BlockSchemes | str = BASELINE, num_classes: int = 1120, input_size: int = 224,
             width_mult: float = 1.0) -> VGG:
    return VGG(DEPTHS["vgg19_bn"], scheme, num_classes, input_size, width_mult=width_mult)
