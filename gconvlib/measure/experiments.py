"""The papers' measured configurations, as cells built from model specs.

Every cell names its model through :class:`~gconvlib.models.ModelSpec` (text form such as
``mobilenet_v1/e2gc:4``, ``wrn28_10/gc2l:8:unfused``, ``vgg13_bn/E``); ``input_size``,
``num_classes`` and the widths only change the spec, so a scaled-down cell says what ran.
"""
from __future__ import annotations

from typing import Sequence

from ..models.spec import ModelSpec
from ..models.vgg import GROUPINGS
from .latency import LatencyCell
from .profile import ConvShareCell
from .protocol import EpfCell

#: E2GC Tables III-IV: E2GC with group size G (constant), FgGC with g groups (written gc:g)
E2GC_SIZES = (1, 2, 4, 8, 16, 32)
FGGC_GROUPS = (2, 4, 8, 16, 32)
E2GC_VARIANTS = tuple(f"e2gc:{G}" for G in E2GC_SIZES) + tuple(f"gc:{g}" for g in FGGC_GROUPS)
E2GC_MODELS = ("mobilenet_v1", "resnext50")
E2GC_BATCH_SIZES = (1, 4, 16)
#: VGG paper Fig. 10: the baseline and grouping schemes A-E
VGG_VARIANTS = tuple(GROUPINGS)  # baseline, A .. E
#: GC-2L: the numbers of groups of Tables 1 and 3 (WRN-28-10), the paper's training batch
GC2L_GROUPS = (2, 4, 8, 16)
GC2L_BATCH = 128
GC2L_OVERHEAD_VARIANTS = ("gc:{g}", "gc2l:{g}", "gc2l:{g}:unfused")
GC2L_COMPARISON_VARIANTS = ("shuffle:{g}", "flgc:{g}")


def _spec(model: str, variant: str, **fields) -> ModelSpec:
    return ModelSpec(model, variant, **{k: v for k, v in fields.items() if v is not None})


def e2gc_cells(models: Sequence[str] = E2GC_MODELS, batch_sizes: Sequence[int] = E2GC_BATCH_SIZES,
               variants: Sequence[str] | None = None, input_size: int | None = None,
               num_classes: int | None = None) -> list[EpfCell]:
    """E2GC Tables III/IV: per model and batch size the 11 variants (E2GC G = 1..32, FgGC g = 2..32);
    ImageNet shape (224 px, 1000 classes) unless ``input_size`` / ``num_classes`` say otherwise."""
    variants = E2GC_VARIANTS if variants is None else tuple(variants)
    return [EpfCell(_spec(m, v, input_size=input_size, num_classes=num_classes), int(b))
            for m in models for b in batch_sizes for v in variants]


def gc2l_overhead_cells(width: int = 10, batch_size: int = GC2L_BATCH, groups: Sequence[int] = GC2L_GROUPS,
                        input_size: int | None = None) -> list[EpfCell]:
    """The cost of GC-2L's coarse path: WRN-28-``width`` (CIFAR shape) with GC, GC-2L fused (the
    paper's implementation) and GC-2L unfused (two convs) at each g."""
    return [EpfCell(_spec(f"wrn28_{width}", v.format(g=g), input_size=input_size), int(batch_size))
            for g in groups for v in GC2L_OVERHEAD_VARIANTS]


def gc2l_comparison_cells(batch_size: int = GC2L_BATCH, wrn_groups: Sequence[int] = GC2L_GROUPS,
                          mobilenet_groups: Sequence[int] = (2, 4, 8), width: int = 10,
                          mobilenet_v2: bool = True, input_size: int | None = None) -> list[EpfCell]:
    """Step time of the other schemes the GC-2L paper compares (Tables 3-4): standard, Shuffle and
    FLGC on WRN-28-``width``; and standard, GC, GC-2L, Shuffle, FLGC on MobileNetV2."""
    cells = [EpfCell(_spec(f"wrn28_{width}", "standard", input_size=input_size), int(batch_size))]
    cells += [EpfCell(_spec(f"wrn28_{width}", v.format(g=g), input_size=input_size), int(batch_size))
              for g in wrn_groups for v in GC2L_COMPARISON_VARIANTS]
    if mobilenet_v2:
        cells.append(EpfCell(_spec("mobilenet_v2", "standard", input_size=input_size), int(batch_size)))
        cells += [EpfCell(_spec("mobilenet_v2", v.format(g=g), input_size=input_size), int(batch_size))
                  for g in mobilenet_groups for v in ("gc:{g}", "gc2l:{g}", *GC2L_COMPARISON_VARIANTS)]
    return cells


def conv_share_cells(models: Sequence[str] = ("wrn28_10", "wrn34_2", "mobilenet_v2"), batch_size: int = 64,
                     input_size: int | None = None) -> list[ConvShareCell]:
    """The standard-convolution networks of the GC-2L paper, for the share of conv time."""
    return [ConvShareCell(_spec(m, "standard", input_size=input_size), int(batch_size)) for m in models]


def vgg_latency_cells(batch_sizes: Sequence[int] = (1,), variants: Sequence[str] = VGG_VARIANTS,
                      input_size: int | None = None, num_classes: int | None = None,
                      width_mult: float | None = None) -> list[LatencyCell]:
    """VGG13-BN, baseline and schemes A-E (Fig. 10's inference time)."""
    return [LatencyCell(_spec("vgg13_bn", v, input_size=input_size, num_classes=num_classes,
                              width_mult=width_mult), int(b)) for b in batch_sizes for v in variants]


def vgg_train_cells(variants: Sequence[str] = ("A", "B", "C", "D"), batch_size: int = 20,
                    input_size: int | None = None, num_classes: int | None = None,
                    width_mult: float | None = None) -> list[EpfCell]:
    """VGG13-BN training steps at the paper's batch 20 (Sec. 5.2: training time of A-D)."""
    return [EpfCell(_spec("vgg13_bn", v, input_size=input_size, num_classes=num_classes, width_mult=width_mult),
                    int(batch_size)) for v in variants]


__all__ = ["E2GC_BATCH_SIZES", "E2GC_MODELS", "E2GC_SIZES", "E2GC_VARIANTS", "FGGC_GROUPS", "GC2L_BATCH",
           "GC2L_GROUPS", "VGG_VARIANTS", "conv_share_cells", "e2gc_cells", "gc2l_comparison_cells",
           "gc2l_overhead_cells", "vgg_latency_cells", "vgg_train_cells"]
