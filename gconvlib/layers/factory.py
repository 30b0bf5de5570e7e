"""The one place where a convolution scheme is turned into modules.

A model asks for "a k x k conv from C_in to C_out, stride s" through :func:`create_conv2d`
and the :class:`ConvScheme` decides how it is built: dense, grouped with a fixed number of
groups (GC / FgGC), grouped with a fixed group *size* (E2GC), two-level (GC-2L), grouped then
channel-shuffled (Shuffle), or fully learnable groups (FLGC).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

SCHEMES = ("standard", "gc", "e2gc", "gc2l", "shuffle", "flgc")
# The E2GC paper calls GC with a fixed number of groups "FgGC": the same layer, another name.
ALIASES = {"fggc": "gc", "sc": "standard"}
# schemes whose group count is given directly (the rest: standard has none, e2gc has a size)
_COUNT_SCHEMES = ("gc", "gc2l", "shuffle", "flgc")

# The one label table: how the papers write each scheme.
LABELS = {"standard": "SC", "gc": "GC", "e2gc": "E2GC", "gc2l": "GC-2L", "shuffle": "Shuffle", "flgc": "FLGC"}
PAPER_LABELS = {"e2gc": {"gc": "FgGC"}}  # per-paper names that differ from LABELS


def kind_label(kind: str, paper: str | None = None) -> str:
    """A scheme kind as ``paper`` writes it, without its number: ``gc`` -> ``GC``, or ``FgGC`` (E2GC)."""
    kind = ALIASES.get(kind, kind)
    if kind not in LABELS:
        raise ValueError(f"unknown conv scheme {kind!r}; choose one of {', '.join(SCHEMES)}")
    return PAPER_LABELS.get(paper, {}).get(kind, LABELS[kind])


class GroupingError(ValueError):
    """A grouping that cannot be built: names the layer and the numbers."""


@dataclass(frozen=True)
class ConvScheme:
    """How the grouped convolutions of a model are built.

    kind: one of :data:`SCHEMES` (``fggc`` is accepted as the E2GC paper's name for ``gc``).
    groups: number of groups g (gc, gc2l, shuffle, flgc).
    group_size: channels per group G (e2gc: groups = C_in / G in every layer).
    fused: GC-2L only; one grouped conv computes the fine output and the group
        representatives together (the paper's implementation) instead of two convs.

    Its text form round-trips through :meth:`parse`: ``standard``, ``gc:8``, ``e2gc:4``,
    ``gc2l:8``, ``gc2l:8:unfused``, ``shuffle:4``, ``flgc:4``.
    """

    kind: str = "standard"
    groups: int | None = None
    group_size: int | None = None
    fused: bool = True

    def __post_init__(self):
        kind = ALIASES.get(self.kind, self.kind)
        object.__setattr__(self, "kind", kind)
        if kind not in SCHEMES:
            raise ValueError(f"unknown conv scheme {self.kind!r}; choose one of {', '.join(SCHEMES)}")
        if kind in _COUNT_SCHEMES:
            if self.group_size is not None:
                raise ValueError(f"scheme {kind!r} takes a number of groups, not a group size")
            _check_positive("groups", self.groups, kind)
        elif kind == "e2gc":
            if self.groups is not None:
                raise ValueError("scheme 'e2gc' takes a group size G, not a number of groups")
            _check_positive("group_size", self.group_size, kind)
        elif self.groups is not None or self.group_size is not None:
            raise ValueError("scheme 'standard' takes neither groups nor group_size")
        if not isinstance(self.fused, bool):
            raise ValueError(f"fused must be True or False, got {self.fused!r}")
        if not self.fused and kind != "gc2l":
            raise ValueError(f"only gc2l has an unfused form, not {kind!r}")

    # -- text form and labels -----------------------------------------------------------
    @property
    def k(self) -> int | None:
        """The papers' one number per scheme: G for e2gc, g for the other grouped kinds."""
        return self.group_size if self.kind == "e2gc" else self.groups

    def with_k(self, k: int) -> ConvScheme:
        """The same kind (and fusion) with the papers' one number set to ``k``: the inverse of :attr:`k`."""
        if self.kind == "standard":
            raise ValueError("scheme 'standard' takes no number")
        return ConvScheme(self.kind, fused=self.fused,
                          **{("group_size" if self.kind == "e2gc" else "groups"): k})

    @property
    def text(self) -> str:
        if self.kind == "standard":
            return "standard"
        return f"{self.kind}:{self.k}" + ("" if self.fused else ":unfused")

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> ConvScheme:
        """``"e2gc:4"`` -> ConvScheme("e2gc", group_size=4); the inverse of :attr:`text`."""
        if isinstance(text, ConvScheme):
            return text
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"a conv scheme is written like 'standard', 'gc:8', 'e2gc:4' or "
                             f"'gc2l:8:unfused', got {text!r}")
        kind, *rest = text.strip().lower().split(":")
        kind = ALIASES.get(kind, kind)
        if kind not in SCHEMES:
            raise ValueError(f"unknown conv scheme {kind!r} in {text!r}; choose one of "
                             f"{', '.join(SCHEMES)} (or fggc, the E2GC paper's name for gc)")
        fused = True
        if rest and rest[-1] in ("fused", "unfused"):
            fused = rest.pop() == "fused"
        if kind == "standard":
            if rest:
                raise ValueError(f"scheme 'standard' takes no number, got {text!r}")
            return cls(fused=fused)
        what = "group size G" if kind == "e2gc" else "number of groups g"
        if len(rest) != 1 or not rest[0].isdigit():
            raise ValueError(f"scheme {kind!r} is written '{kind}:<{what.split()[-1]}>' (its {what}), got {text!r}")
        k = int(rest[0])
        return cls(kind, group_size=k, fused=fused) if kind == "e2gc" else cls(kind, groups=k, fused=fused)

    def label_for(self, paper: str | None = None) -> str:
        """The scheme as ``paper`` writes it, e.g. ``E2GC G=4``, ``FgGC g=8`` (E2GC), ``GC g=8``."""
        name = kind_label(self.kind, paper)
        if self.kind == "standard":
            return name
        letter = "G" if self.kind == "e2gc" else "g"
        return f"{name} {letter}={self.k}" + ("" if self.fused else " (unfused)")

    @property
    def label(self) -> str:
        return self.label_for(None)

    def one_level(self) -> ConvScheme:
        """The same grouping without GC-2L's coarse path (MobileNetV2's last 1x1: the layout that reproduces GC-2L Table 4's counts)."""
        return ConvScheme("gc", groups=self.groups) if self.kind == "gc2l" else self

    def num_groups(self, in_channels: int, out_channels: int, name: str = "conv") -> int:
        if self.kind == "standard":
            return 1
        return num_groups(in_channels, out_channels, groups=self.groups,
                          group_size=self.group_size, name=name)


STANDARD = ConvScheme()


def _check_positive(field: str, value, kind: str):
    if value is None:
        raise ValueError(f"scheme {kind!r} needs {field}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"scheme {kind!r}: {field} must be a positive integer, got {value!r}")


def num_groups(in_channels: int, out_channels: int, *, groups: int | None = None,
               group_size: int | None = None, name: str = "conv") -> int:
    """Resolve a group count (g) or a group size (G: g = C_in / G) for one layer.

    Raises :class:`GroupingError` naming the layer and the numbers when they do not divide.
    """
    where = f"layer {name} ({in_channels}->{out_channels} channels)"
    if (groups is None) == (group_size is None):
        raise ValueError(f"{where}: give exactly one of groups or group_size")
    if group_size is not None:
        if group_size > in_channels:
            raise GroupingError(f"{where}: group size G={group_size} is larger than its "
                                f"{in_channels} input channels")
        if in_channels % group_size:
            raise GroupingError(f"{where}: group size G={group_size} does not divide its "
                                f"{in_channels} input channels")
        groups = in_channels // group_size
    if groups > in_channels:
        raise GroupingError(f"{where}: {groups} groups is more than its {in_channels} input channels")
    for what, channels in (("input", in_channels), ("output", out_channels)):
        if channels % groups:
            raise GroupingError(f"{where}: {groups} groups do not divide its {channels} {what} "
                                f"channels ({channels} / {groups} = {channels / groups:.2f})")
    return groups


def create_conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *,
                  scheme: ConvScheme = STANDARD, padding: int | None = None, bias: bool = False,
                  name: str = "conv") -> nn.Module:
    """A k x k convolution from C_in to C_out built the way ``scheme`` says."""
    from .flgc import FLGCConv2d
    from .shuffle import ShuffleConv2d
    from .two_level import TwoLevelConv2d

    if padding is None:
        padding = kernel_size // 2
    g = scheme.num_groups(in_channels, out_channels, name)
    common = dict(kernel_size=kernel_size, stride=stride, padding=padding, bias=bias)
    if scheme.kind == "gc2l":
        return TwoLevelConv2d(in_channels, out_channels, groups=g, fused=scheme.fused, **common)
    if scheme.kind == "shuffle":
        return ShuffleConv2d(in_channels, out_channels, groups=g, **common)
    if scheme.kind == "flgc":
        return FLGCConv2d(in_channels, out_channels, groups=g, **common)
    return nn.Conv2d(in_channels, out_channels, groups=g, **common)
