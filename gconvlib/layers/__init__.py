"""Convolution layers: the scheme factory and the layer kinds it builds."""
from .factory import (SCHEMES, STANDARD, ConvScheme, GroupingError, create_conv2d, num_groups)
from .flgc import FLGCConv2d, PackedGroupConv2d
from .shuffle import ShuffleConv2d, channel_shuffle
from .two_level import TwoLevelConv2d

__all__ = ["SCHEMES", "STANDARD", "ConvScheme", "GroupingError", "create_conv2d", "num_groups",
           "FLGCConv2d", "PackedGroupConv2d", "ShuffleConv2d", "channel_shuffle", "TwoLevelConv2d"]
