"""The one weight-drawing helper every model and layer initialises with."""
from __future__ import annotations

import torch
from torch import nn


def normal_(tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """``nn.init.normal_``, except that a meta tensor is left as it is.

    Counting and checking build models on the meta device, which holds shapes and no values; torch
    still "draws" there, through its Python decompositions, about 3 ms a tensor: a WRN-28-10 built
    on meta took 2.05 s, 0.09 s with nothing drawn. A real tensor draws exactly what
    ``nn.init.normal_`` draws (the same generator calls), so trained results do not change."""
    if tensor.is_meta:
        return tensor
    return nn.init.normal_(tensor, mean, std)
