"""The book's contents: its chapters in book order and the papers they reproduce.

:data:`CHAPTERS` is the one list of chapters: the notebook pipeline, the landing and claims pages
(through :mod:`gconvlib.chapters`) and the claims registry all read it. A module that imports
nothing of gconvlib, so every part can read it without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    name: str
    paper: str
    reproduces: str


CHAPTERS = [
    Chapter("e2gc_complexity", "e2gc", "Params and MACs of Tables III-IV; Table II on real layers; Figs. 2-4"),
    Chapter("e2gc_group_size", "e2gc", "The optimum-group-size model (Sec. III, Eqs. 1-4, Tables I-II) "
                                       "fitted to the EPF tables"),
    Chapter("e2gc_energy", "e2gc", "Energy per frame of Tables III-IV and Fig. 1"),
    Chapter("e2gc_accuracy", "e2gc", "Top-1 accuracy columns of Tables III-IV"),
    Chapter("gc2l_complexity", "gc2l", "Parameter columns of Tables 1-4, per-processor parameters; Figs. 1-3, 6"),
    Chapter("gc2l_ablation", "gc2l", "Table 1 error rates and Fig. 4 loss curves"),
    Chapter("gc2l_comparison", "gc2l", "Tables 3-4 and Figs. 5, 7: GC vs Shuffle vs FLGC vs GC-2L"),
    Chapter("gc2l_overhead", "gc2l", "Cost of the coarse structure: time and energy of GC vs GC-2L"),
    Chapter("gc2l_parallel", "gc2l", "Table 2: GC-2L split over processors (torch.distributed)"),
    Chapter("vgg_complexity", "vgg", "Table 1; Params and MACs of baseline and schemes A-E; Figs. 1-2"),
    Chapter("vgg_latency", "vgg", "Inference time of Fig. 10"),
    Chapter("vgg_schemes", "vgg", "Training curves and test accuracy of Figs. 3-9"),
]
PAPER_TITLES = {
    "e2gc": "E2GC: Energy-efficient Group Convolution (Jha et al.)",
    "gc2l": "Two-level Group Convolution (Lee, Park & Lee, 2022)",
    "vgg": "Grouped convolution schemes for VGG13BN on Kuzushiji (Gong et al., 2022)",
}


def chapter(name: str) -> Chapter:
    for c in CHAPTERS:
        if c.name == name:
            return c
    raise ValueError(f"unknown chapter {name!r}; chapters are {', '.join(c.name for c in CHAPTERS)}")
