"""Real models: the layer shapes of every E2GC / GC (the E2GC paper's FgGC) variant (read once on
the meta device and cached), the network's Eq.-1 cost summed over its layers and the EPF reading of it."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from .equations import (Constants, Layer, _eq1_cost, balanced_groups, energy_optimal_group_size,
                        gamma_for_group_size)

#: the two families the model compares, by their ConvScheme kind: E2GC (constant group size G) and
#: GC (constant number of groups g, the E2GC paper's FgGC)
FAMILIES = ("e2gc", "gc")
#: the papers' ImageNet resolution: layer shapes of a frame without an ``input_size`` column
DEFAULT_INPUT_SIZE = 224


# -- real models --------------------------------------------------------------------------

@lru_cache(maxsize=None)  # called per row in the fits' inner loops
def scheme_kind(scheme: str) -> str:
    """The canonical kind of a family name as :class:`~gconvlib.layers.ConvScheme` reads it
    (``fggc`` -> ``gc``); ValueError for anything but the two :data:`FAMILIES`."""
    from ..layers import ConvScheme

    try:  # the parser owns the aliases; a family name has no number, so give it one to read
        kind = ConvScheme.parse(f"{scheme}:1").kind
    except ValueError:
        kind = None
    if kind not in FAMILIES:
        raise ValueError(f"scheme must be one of {', '.join(FAMILIES)} (fggc reads as gc), got {scheme!r}")
    return kind


def _scheme(scheme: str, k: int):
    from ..layers import ConvScheme
    return ConvScheme.parse(f"{scheme_kind(scheme)}:{int(k)}")


@lru_cache(maxsize=None)
def _model_layers_cached(model: str, input_size: int) -> pd.DataFrame:
    """Every conv and FC layer of ``model`` (read once with :func:`gconvlib.complexity.layer_stats`
    on the meta device; shared: copy before changing it), ``grouped`` = the layers the E2GC/FgGC
    scheme changes (found by comparing E2GC G=1 and G=2, not by name). Counts are those of E2GC G=1."""
    import torch

    from ..complexity import layer_stats
    from ..models import create_model

    def stats(G):
        with torch.device("meta"):
            net = create_model(model, scheme=_scheme("e2gc", G), input_size=input_size)
        return layer_stats(net, input_size)

    a, b = stats(1), stats(2)
    if [x.name for x in a] != [x.name for x in b]:
        raise ValueError(f"{model}: the layer list changes with the group size")
    rows = []
    for x, y in zip(a, b):
        grouped = x.groups != y.groups
        dense_macs = x.out_channels * x.in_channels * x.kernel ** 2 * x.out_hw[0] * x.out_hw[1]
        weight = x.out_channels * (x.in_channels // x.groups) * x.kernel ** 2 if x.kind == "conv" else (
            x.in_channels * x.out_channels)
        rows.append(dict(name=x.name, kind=x.kind, grouped=grouped, m=x.in_channels, n=x.out_channels,
                         d_k=x.kernel, stride=x.stride, h_in=x.in_hw[0], w_in=x.in_hw[1],
                         h=x.out_hw[0], w=x.out_hw[1], groups=x.groups, macs=x.macs, params=x.params,
                         bias=x.params - weight, activations=x.activations,
                         dense_macs=dense_macs if x.kind == "conv" else x.macs))
    return pd.DataFrame(rows)


def grouped_layers(model: str, input_size: int = DEFAULT_INPUT_SIZE) -> list[Layer]:
    """The grouped layers of ``model`` as :class:`Layer` (13 for MobileNet-V1, 16 for ResNeXt-50)."""
    df = _model_layers_cached(model, input_size)
    return [Layer(int(r.m), int(r.n), int(r.d_k), int(r.h), int(r.w), int(r.h_in), int(r.w_in), r.name)
            for r in df[df["grouped"]].itertuples()]


def _groups_for(m: np.ndarray, n: np.ndarray, scheme: str, k: int) -> np.ndarray:
    s = scheme_kind(scheme)
    k = int(k)
    if s == "e2gc":
        if np.any(m % k) or np.any(k > m):
            raise ValueError(f"{_scheme(s, k).label_for('e2gc')} does not divide every grouped layer's channels "
                             f"{sorted(set(m))}")
        g = m // k
    else:
        g = np.full_like(m, k)
    if np.any(m % g) or np.any(n % g):
        raise ValueError(f"{_scheme(s, k).label_for('e2gc')}: groups do not divide every grouped layer "
                         f"({sorted(set(m))})")
    return g


def variant_counts(model: str, scheme: str, k: int, input_size: int = DEFAULT_INPUT_SIZE) -> pd.DataFrame:
    """Per-layer counts of one variant from the formulas (grouped layers: Table II with their g,
    plus any bias; other layers: the hook counts, which no variant changes)."""
    df = _model_layers_cached(model, input_size).copy()
    gm = df["grouped"].to_numpy()
    m, n = df.loc[gm, "m"].to_numpy(), df.loc[gm, "n"].to_numpy()
    g = _groups_for(m, n, scheme, k)
    d2 = df.loc[gm, "d_k"].to_numpy() ** 2
    hw = (df.loc[gm, "h"] * df.loc[gm, "w"]).to_numpy()
    df.loc[gm, "groups"] = g
    df.loc[gm, "macs"] = n * (m // g) * d2 * hw
    df.loc[gm, "params"] = n * (m // g) * d2 + df.loc[gm, "bias"].to_numpy()
    df["G"] = df["m"] // df["groups"]
    df.insert(0, "scheme", scheme_kind(scheme))
    df.insert(1, "k", int(k))
    return df


def valid_ks(model: str, scheme: str, input_size: int = DEFAULT_INPUT_SIZE) -> list[int]:
    """Every k (G for e2gc, g for gc) that the grouped layers of ``model`` allow."""
    df = _model_layers_cached(model, input_size)
    m = df.loc[df["grouped"], "m"].to_numpy()
    n = df.loc[df["grouped"], "n"].to_numpy()
    out = []
    for k in range(1, int(m.min()) + 1):
        try:
            _groups_for(m, n, scheme, k)
        except ValueError:
            continue
        out.append(k)
    return out


@lru_cache(maxsize=None)
def _variant_arrays(model: str, scheme: str, k: int, input_size: int = DEFAULT_INPUT_SIZE):
    df = variant_counts(model, scheme, k, input_size)
    return (df["macs"].to_numpy(float), df["activations"].to_numpy(float), df["params"].to_numpy(float),
            df["grouped"].to_numpy(bool))


def _cost_sum(arrays, beta: float, batch_size: int, amortize_params: bool, layers: str) -> float:
    M, A, P, grouped = arrays
    if layers == "grouped":
        M, A, P = M[grouped], A[grouped], P[grouped]
    elif layers != "all":
        raise ValueError(f"layers must be 'all' or 'grouped', got {layers!r}")
    B = batch_size if amortize_params else 1
    return float(np.sum(_eq1_cost(M, A + P / B, beta)))


def _cost_sum_and_derivative(arrays, beta, batch_size, amortize_params, layers):
    M, A, P, grouped = arrays
    if layers == "grouped":
        M, A, P = M[grouped], A[grouped], P[grouped]
    B = batch_size if amortize_params else 1
    D = A + P / B
    t = _eq1_cost(M, D, beta)
    return float(t.sum()), float(np.sum(t * (np.log(D) - np.log(M))))


def network_cost(model: str, scheme: str, k: int, beta: float, batch_size: int = 1, amortize_params: bool = True,
                 layers: str = "all", input_size: int = DEFAULT_INPUT_SIZE) -> tuple[float, float]:
    """The layer sum S = sum_l M_l^(1-beta) (A_l + P_l/B)^beta of one variant and dS/dbeta (what a
    prediction's standard error needs: EPF = offset + scale * S)."""
    return _cost_sum_and_derivative(_variant_arrays(model, scheme_kind(scheme), int(k), int(input_size)), beta,
                                    batch_size, amortize_params, layers)


def network_epf(model: str, scheme: str, k: int, constants: Constants, batch_size: int = 1,
                amortize_params: bool = True, layers: str = "all", input_size: int = DEFAULT_INPUT_SIZE) -> float:
    """Model EPF (mJ) = offset + scale * alpha^beta * sum_l M_l^(1-beta) (A_l + P_l/B)^beta."""
    s = _cost_sum(_variant_arrays(model, scheme_kind(scheme), int(k), int(input_size)), constants.beta,
                  batch_size, amortize_params, layers)
    return constants.offset + constants.scale * constants.alpha ** constants.beta * s


def network_curves(model: str, constants: Constants, batch_size: int = 1, scheme: str = "e2gc",
                   ks: Sequence[int] | None = None, amortize_params: bool = True,
                   layers: str = "all", input_size: int = DEFAULT_INPUT_SIZE) -> pd.DataFrame:
    """Model EPF against k for one scheme (cached layer shapes: milliseconds after the first call).
    Columns: model, scheme, k, macs, params, eq1_cost_sum, epf_model_mj, is_min."""
    scheme = scheme_kind(scheme)
    ks = valid_ks(model, scheme, input_size) if ks is None else list(ks)
    rows = []
    for k in ks:
        arr = _variant_arrays(model, scheme, int(k), int(input_size))
        s = _cost_sum(arr, constants.beta, batch_size, amortize_params, layers)
        rows.append(dict(model=model, scheme=scheme, k=int(k), macs=arr[0].sum(), params=arr[2].sum(),
                         eq1_cost_sum=s,
                         epf_model_mj=constants.offset + constants.scale * constants.alpha ** constants.beta * s))
    df = pd.DataFrame(rows)
    df["is_min"] = df["epf_model_mj"] == df["epf_model_mj"].min()
    return df


def per_layer_optimum(model: str, constants: Constants = Constants(), batch_size: int = 1,
                      amortize_params: bool = True, input_size: int = DEFAULT_INPUT_SIZE,
                      anchor_G: float | None = None) -> pd.DataFrame:
    """Every grouped layer of ``model`` with its balanced and energy-optimal group size.

    eq2_g, eq2_G: Eq. 2 with constants.gamma (printed form at B = 1); eq2_G_rel: eq2_G divided by
    the first grouped layer's (gamma-free; Eq. 4 says it should be 1 everywhere). eq3_G_rel: the
    same under Eq. 3's beta = 0.5. eq1_g/eq1_G: Eq. 1 with A kept (NaN unless 0 <= beta <= 1).
    energy_G_star (closed form, continuous), energy_interior, energy_G_best, energy_g_best (best
    valid divisor) minimise the layer's Eq.-1 cost. ``anchor_G``: set gamma (for eq2, and eq1) so
    that the first grouped layer's Eq.-2 G equals it (the paper fixes the level by experiment).
    """
    rows = []
    layers = grouped_layers(model, input_size)
    if anchor_G is not None:
        constants = constants.with_gamma(gamma_for_group_size(layers[0], anchor_G, constants, batch_size,
                                                              amortize_params))
    for L in layers:
        bal = balanced_groups(L, constants, batch_size=batch_size, amortize_params=amortize_params)
        half = balanced_groups(L, replace(constants, beta=0.5), batch_size=batch_size,
                               amortize_params=amortize_params)
        if 0 <= constants.beta <= 1:
            full = balanced_groups(L, constants, include_activations=True, batch_size=batch_size,
                                   amortize_params=amortize_params)
        else:
            full = dict(g=math.nan, G=math.nan)
        opt = energy_optimal_group_size(L, constants, batch_size, amortize_params)
        rows.append(dict(layer=L.name, m=L.m, n=L.n, d_k=L.d_k, h_in=L.h_in, w_in=L.w_in, h=L.h, w=L.w,
                         activations=L.activations, dense_params=L.n * L.m * L.d_k ** 2,
                         eq2_g=bal["g"], eq2_G=bal["G"], eq3_G=half["G"], eq1_g=full["g"], eq1_G=full["G"],
                         energy_G_star=opt["G_star"], energy_G_star_unclipped=opt["G_star_unclipped"],
                         energy_interior=opt["interior"], energy_G_best=opt["G_best"],
                         energy_g_best=opt["g_best"]))
    df = pd.DataFrame(rows)
    df.insert(df.columns.get_loc("eq2_G") + 1, "eq2_G_rel", df["eq2_G"] / df["eq2_G"].iloc[0])
    df.insert(df.columns.get_loc("eq3_G") + 1, "eq3_G_rel", df["eq3_G"] / df["eq3_G"].iloc[0])
    df.insert(0, "model", model)
    df.insert(1, "gamma", constants.gamma)
    return df
