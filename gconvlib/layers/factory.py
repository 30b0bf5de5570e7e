"""The one place where a convolution scheme is turned into modules.

A model asks for "a k x k conv from C_in to C_out, stride s" through :func:`create_conv2d`
and the :class:`ConvScheme` decides how it is built: dense, grouped with a fixed number of
groups (GC / FgGC), grouped with a fixed group *size* (E2GC), two-level (GC-2L), grouped then
channel-shuffled (Shuffle), or fully learnable groups (FLGC).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from torch import nn

SCHEMES = ("standard", "gc", "e2gc", "fggc", "gc2l", "shuffle", "flgc")
# schemes whose group count is given directly (the rest: standard has none, e2gc has a size)
_COUNT_SCHEMES = ("gc", "fggc", "gc2l", "shuffle", "flgc")


class GroupingError(ValueError):
    """A grouping that cannot be built: names the layer and the numbers."""


@dataclass(frozen=True)
class ConvScheme:
    """How the grouped convolutions of a model are built.

    kind: one of :data:`SCHEMES`.
    groups: number of groups g (gc, fggc, gc2l, shuffle, flgc).
    group_size: channels per group G (e2gc: groups = C_in / G in every layer).
    fused: GC-2L only; one grouped conv computes the fine output and the group
        representatives together (the paper's implementation) instead of two convs.
    """

    kind: str = "standard"
    groups: int | None = None
    group_size: int | None = None
    fused: bool = True

    def __post_init__(self):
        if self.kind not in SCHEMES:
            raise ValueError(f"unknown conv scheme {self.kind!r}; choose one of {', '.join(SCHEMES)}")
        if self.kind in _COUNT_SCHEMES:
            if self.group_size is not None:
                raise ValueError(f"scheme {self.kind!r} takes a number of groups, not a group size")
            _check_positive("groups", self.groups, self.kind)
        elif self.kind == "e2gc":
            if self.groups is not None:
                raise ValueError("scheme 'e2gc' takes a group size G, not a number of groups")
            _check_positive("group_size", self.group_size, self.kind)
        elif self.groups is not None or self.group_size is not None:
            raise ValueError("scheme 'standard' takes neither groups nor group_size")

    @property
    def label(self) -> str:
        """Short name as the papers write it, e.g. ``E2GC G=4`` or ``GC-2L g=8``."""
        names = {"standard": "SC", "gc": "GC", "e2gc": "E2GC", "fggc": "FgGC",
                 "gc2l": "GC-2L", "shuffle": "Shuffle", "flgc": "FLGC"}
        if self.kind == "standard":
            return "SC"
        if self.kind == "e2gc":
            return f"E2GC G={self.group_size}"
        return f"{names[self.kind]} g={self.groups}"

    def one_level(self) -> ConvScheme:
        """The same grouping without GC-2L's coarse path (MobileNetV2's last 1x1, REFERENCE §3)."""
        return replace(self, kind="gc") if self.kind == "gc2l" else self

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


def parse_scheme(kind: str, groups: int | None = None, group_size: int | None = None,
                 **kw) -> ConvScheme:
    """Build a scheme from loose user input (CLI, notebook parameters)."""
    if kind == "e2gc" and group_size is None and groups is not None:
        raise ValueError("scheme 'e2gc' is set by its group size: use group_size (--group-size G)")
    return ConvScheme(kind=kind, groups=groups, group_size=group_size, **kw)
