"""The E2GC paper's optimum-group-size model (Sec. III, Eqs. 1-4) as code, fitted to EPF data.

Jha, Saini, Nag, Mittal, "E2GC: Energy-efficient Group Convolution in Deep Neural Networks"
(``/work/shared/papers/000_824a09315b932ae3.txt``). Everything here is a pure function of layer
shapes, constants and a batch size (milliseconds; meant to sit behind notebook sliders), except the
two places that build a real model once to read its layer shapes (:func:`model_layers`, cached).

Symbols (Table I): m input fmaps, n output fmaps, d_k x d_k filter, h x w fmap, g groups,
G = m / g group size, M_c MACs, P parameters, A activations (ifmaps + ofmaps), AI arithmetic
intensity. The dataclass :class:`Layer` calls the kernel ``d_k`` (the issue's "k"); in data frames
``k`` is the *group parameter* (G for ``e2gc`` rows, g for ``fggc`` rows), as in ``paper.py``.

The equations, as reconstructed from the extracted text
======================================================

Table I (standard convolution)::

    M_c = n m d_k^2 h w        P = n m d_k^2        A = (n + m) h w        AI = M_c / (P + A)

Table II (group convolution with g groups; "The number of MAC operations in each group is reduced
by a factor of g^2 and overall computational complexity of GConv with g groups reduced by a factor
of g")::

    M_c = n m h w d_k^2 / g    P = n m d_k^2 / g    A = (n + m) h w
    AI = n m h w d_k^2 / (n m d_k^2 + g (n + m) h w)

(:func:`table1`, :func:`table2`; Table II reuses :func:`gconvlib.complexity.gconv_formulas`.)
*Interpretation:* the paper assumes "the spatial dimensions of ifmaps and ofmaps are equal". Real
strided layers break this; :func:`table1`/:func:`table2` evaluate the printed formulas at the
ofmap size (so M_c and P equal the hook counts of every layer), while the cost model
(:func:`layer_counts`) uses the true A = m h_in w_in + n h w (equal to Table II's A on stride-1
layers).

Eq. 1, from "To account for this disparity in energy consumption, we take a variable beta in (0, 1)
in Eq. 1 ... To approximate these factors in energy efficiency, we take a variable alpha in (0, 1]
in Eq. 1 ... We aim to find the optimal value of g, where the increase in memory access does not
outweigh the decrease in M_c. To balance these factors, we have the following equations."::

    M_c * (alpha / AI)^beta = const,   AI = M_c / (A + P)
    =>  M_c^(1-beta) * (A + P)^beta = const * alpha^(-beta) =: gamma                     (1)

Then "Since we intend to find the optimal value of g, and A does not depend on g (Table II), the
Eq. 1 is transformed into ... (M_c)^(1-beta) x P^beta = gamma", and with Table II::

    (m n h w d_k^2 / g)^(1-beta) * (m n d_k^2 / g)^beta = gamma
    =>  g = m n d_k^2 (h w)^(1-beta) / gamma                                              (2)

"on a fixed hardware platform (gamma will be constant) g ∝ m n (h w)^(1-beta). Let h = w = d_f and
beta = 0.5"::

    g ∝ m n d_f                                                                           (3)

"the number of filters (n) increased by 2x when each spatial dimension of ofmap decreased by
0.5x" (n d_f constant), so::

    g ∝ m  =>  G = m / g = const_1                                                        (4)

Extraction garbled only symbols (the text writes "q" for g and "FqGC" for FgGC in places); the
equations above are unambiguous as algebra. What the paper leaves open, and what is assumed here:

1. **Dropping A is not an identity.** (A + P)^beta is replaced by P^beta because "A does not depend
   on g"; that changes the equation (and gamma silently changes meaning). :func:`balanced_groups`
   gives both: Eq. 2 in closed form (A dropped, as printed) and Eq. 1 solved numerically with A kept
   (only for 0 <= beta <= 1, where its left side is monotone in g).
2. **Eq. 1 is a balance condition, not an energy minimum.** Its left side is a weighted geometric
   mean of M_c and A + P; both fall as g grows, so for beta in (0, 1) (the paper's range) it falls
   monotonically from dense conv to depthwise conv and has *no* interior minimum. The level gamma
   ("const is a constant to strike a balance") is not given; the paper sets the resulting const_1 of
   Eq. 4 by experiment. gamma is therefore a free parameter here, and only ratios of balanced G
   across layers (``eq2_G_rel`` in :func:`per_layer_optimum`) are gamma-free.
3. **Platform constants.** alpha and const only enter through gamma = const alpha^(-beta) (Eq. 2)
   and through scale * alpha^beta (energy reading below): they are not separately identifiable.
   :class:`Constants` keeps beta, alpha, const (-> gamma) for the balance equations and a
   ``scale`` (mJ per unit of Eq.-1 cost) and ``offset`` (mJ per frame) for the energy reading;
   fits hold alpha = 1 and report scale (= scale * alpha^beta).
4. **EPF model (the paper states none).** The minimal one taking Eq. 1's left side as the cost::

       EPF = offset + scale * sum_l  M_l^(1-beta) * (A_l + P_l / B)^beta            [mJ / frame]

   summed over every conv and FC layer (``layers="all"``) or only the grouped ones
   (``layers="grouped"``). Non-grouped layers cost the same in every variant of a model, so the two
   choices give identical fits and predictions and differ only in the reported offset. The
   **offset is not in the paper**: a fit needs it for energy outside the conv/FC counts (BN, ReLU,
   pooling, residual adds, kernel launches, idle power during the step).
5. **Batch size B** does not appear in the paper's equations. Minimal assumption: apply Table II
   to a batch, where M_c and A scale with B and the weights are read once (P does not), so per
   frame the cost is M^(1-beta) (A + P/B)^beta, i.e. AI of a batch = B M / (B A + P)
   (``amortize_params=True``; ``False`` uses B = 1 counts for every batch size). EPF is measured
   for "one forward and one backward pass"; forward counts are used, the backward pass' roughly
   proportional counts being absorbed in ``scale``.
6. **Energy-optimal G per layer** under this reading (d/dg of M^(1-beta) (A + P/B)^beta = 0, with
   M = M_1/g, P = P_1/g, P_1 = n m d_k^2)::

       G* = (beta - 1) * B * A / (n d_k^2)       (an interior minimum only when beta > 1)

   For beta <= 1 the cost is lowest at the largest g (G = 1, depthwise); the paper's range for beta
   cannot produce the U-shaped EPF of its own Fig. 1 (see :func:`fit_epf`'s flags).

Fit (:func:`fit_epf`): ordinary least squares in mJ. beta enters non-linearly: for each beta the
offsets and scales are a linear least-squares solution (variable projection); beta is found by a
grid over ``beta_bounds``, golden-section refinement and Gauss-Newton polish; standard errors come
from sigma^2 (J^T J)^-1 of the full model at the optimum (sigma^2 = RSS / (n - p)). Default fit
groups are one per (model, device, batch size): the paper gives no model of how B changes
utilisation, EPF falls with B far more than P/B predicts (ResNeXt-50 G=1 on P100: 2185 -> 712 mJ),
and the counts omit per-network overheads; ``by=("model", "device")`` shares beta across batch
sizes, ``by=("device", "batch_size")`` shares it across the two networks (as "platform-dependent"
constants would be); offset and scale always stay per (model, batch size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .complexity import gconv_formulas

__all__ = [
    "Layer", "Constants", "PAPER_BETA_RANGE",
    "table1", "table2", "tables_side_by_side",
    "layer_counts", "cost_curves", "balanced_groups", "energy_optimal_group_size", "gamma_for_group_size",
    "model_layers", "grouped_layers", "variant_counts", "valid_ks",
    "network_epf", "network_curves", "per_layer_optimum",
    "paper_epf_frame", "normalize_frame", "fit_epf", "bootstrap_epf", "predict_epf", "fit_residuals",
    "leave_one_out", "loo_summary", "optimum_table",
]

#: beta in (0, 1) in Sec. III-B ("beta in (0,1]" a few lines later); alpha in (0, 1].
PAPER_BETA_RANGE = (0.0, 1.0)
_SCHEMES = ("e2gc", "fggc")
_ALIASES = {"gc": "fggc", "fggc": "fggc", "e2gc": "e2gc"}


# -- one layer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    """A convolution layer (m, n, d_k, h, w): h x w is the ofmap; h_in x w_in the ifmap
    (defaults to h x w, the paper's equal-size assumption)."""

    m: int
    n: int
    d_k: int
    h: int
    w: int
    h_in: int | None = None
    w_in: int | None = None
    name: str = ""

    @property
    def hw(self) -> int:
        return self.h * self.w

    @property
    def hw_in(self) -> int:
        return (self.h_in if self.h_in is not None else self.h) * (self.w_in if self.w_in is not None else self.w)

    @property
    def activations(self) -> int:
        """A = m h_in w_in + n h w (the true ifmaps + ofmaps; (n + m) h w on equal sizes)."""
        return self.m * self.hw_in + self.n * self.hw

    @classmethod
    def from_stats(cls, stats) -> Layer:
        """From a :class:`gconvlib.complexity.LayerStats` (or a row/dict with the same fields)."""
        get = (lambda k: stats[k]) if isinstance(stats, (dict, pd.Series)) else (lambda k: getattr(stats, k))
        (h_in, w_in), (h, w) = get("in_hw"), get("out_hw")
        return cls(int(get("in_channels")), int(get("out_channels")), int(get("kernel")), int(h), int(w),
                   int(h_in), int(w_in), str(get("name")))

    def valid_groups(self) -> list[int]:
        """Every g that divides both m and n."""
        return [g for g in range(1, self.m + 1) if self.m % g == 0 and self.n % g == 0]


def _as_layer(layer) -> Layer:
    if isinstance(layer, Layer):
        return layer
    if isinstance(layer, dict) and "m" in layer:
        return Layer(**{k: layer[k] for k in ("m", "n", "d_k", "h", "w", "h_in", "w_in", "name") if k in layer})
    return Layer.from_stats(layer)


@dataclass(frozen=True)
class Constants:
    """Platform constants.

    beta, alpha, const: Eq. 1 (gamma = const * alpha^-beta, Eq. 2's constant).
    scale (mJ per unit of Eq.-1 cost, already including alpha^beta when fitted with alpha = 1) and
    offset (mJ per frame): the energy reading EPF = offset + scale * sum_l alpha^beta M^(1-beta) (A + P/B)^beta.
    """

    beta: float = 0.5
    alpha: float = 1.0
    const: float = 1.0
    scale: float = 1.0
    offset: float = 0.0

    @property
    def gamma(self) -> float:
        return self.const * self.alpha ** (-self.beta)

    def with_gamma(self, gamma: float) -> Constants:
        """The same constants with ``const`` set so that :attr:`gamma` equals ``gamma``."""
        return replace(self, const=gamma * self.alpha ** self.beta)


# -- Tables I and II ----------------------------------------------------------------------

def table1(layer) -> dict:
    """Table I (standard convolution), evaluated at the ofmap size h x w (ifmap assumed equal)."""
    L = _as_layer(layer)
    macs = L.n * L.m * L.d_k ** 2 * L.h * L.w
    params = L.n * L.m * L.d_k ** 2
    activations = (L.n + L.m) * L.h * L.w
    return dict(macs=macs, params=params, activations=activations,
                arithmetic_intensity=macs / (params + activations), G=L.m, g=1)


def table2(layer, g: int) -> dict:
    """Table II (group convolution, g groups) via :func:`gconvlib.complexity.gconv_formulas`."""
    L = _as_layer(layer)
    _check_groups(L, g)
    f = gconv_formulas(L.n, L.m, L.h, L.w, L.d_k, g)
    return dict(f, G=L.m // g, g=g)


def tables_side_by_side(layer, g: int) -> pd.DataFrame:
    """Table I next to Table II for one layer: quantity, both expressions, both values, ratio."""
    t1, t2 = table1(layer), table2(layer, g)
    rows = [("# MACs (M_c)", "macs", "n m d_k^2 h w", "n m h w d_k^2 / g"),
            ("# parameters (P)", "params", "n m d_k^2", "n m d_k^2 / g"),
            ("# activations (A)", "activations", "(n + m) h w", "(n + m) h w"),
            ("Arith. intensity (AI)", "arithmetic_intensity", "M_c / (P + A)",
             "n m h w d_k^2 / (n m d_k^2 + g (n + m) h w)")]
    return pd.DataFrame([dict(quantity=q, table1_expression=e1, table1_value=t1[k],
                              table2_expression=e2, table2_value=t2[k], g=g, G=t2["G"],
                              ratio_table2_to_table1=t2[k] / t1[k]) for q, k, e1, e2 in rows])


def _check_groups(L: Layer, g) -> None:
    if int(g) != g or g < 1 or L.m % g or L.n % g:
        raise ValueError(f"layer {L.name or (L.m, L.n)}: g={g} must be a positive integer dividing "
                         f"m={L.m} and n={L.n}")


# -- the cost model of one layer ------------------------------------------------------------

def layer_counts(layer, g) -> dict:
    """M_c, P (Table II, bias-free) and the true A (m h_in w_in + n h w) for g groups (g may be an array)."""
    L = _as_layer(layer)
    g = np.asarray(g, dtype=float)
    macs = L.n * L.m * L.d_k ** 2 * L.hw / g
    params = L.n * L.m * L.d_k ** 2 / g
    return dict(macs=macs, params=params, activations=np.full_like(g, float(L.activations)))


def _eq1_cost(macs, data, beta, alpha=1.0):
    """alpha^beta M^(1-beta) D^beta computed in logs (= M (alpha/AI)^beta with AI = M / D)."""
    macs, data = np.asarray(macs, float), np.asarray(data, float)
    return np.exp(beta * math.log(alpha) + (1 - beta) * np.log(macs) + beta * np.log(data))


def cost_curves(layer, constants: Constants = Constants(), batch_size: int = 1,
                group_sizes: Iterable[int] | None = None, amortize_params: bool = True) -> pd.DataFrame:
    """Compute cost, data-movement cost and the Eq.-1 cost of one layer against G (fast, pure numpy).

    Columns: G, g, macs (M_c per frame), params, activations, data (A + P/B, words per frame),
    ai (M_c / data), memory_accesses (1/AI, Fig. 3's estimate), compute_cost (= M_c),
    data_movement_cost ((alpha/AI)^beta), eq1_cost (M_c (alpha/AI)^beta), energy_mj
    (scale * eq1_cost, no offset), the same normalised to G = 1 (``*_rel``), and the balance lines
    eq2_g / eq2_G (Eq. 2 with constants.gamma, constant along the curve) and is_energy_min.
    ``group_sizes`` default: every G = m/g with g dividing m and n.
    """
    L = _as_layer(layer)
    if group_sizes is None:
        group_sizes = sorted(L.m // g for g in L.valid_groups())
    G = np.asarray(list(group_sizes), dtype=float)
    g = L.m / G
    c = layer_counts(L, g)
    B = batch_size if amortize_params else 1
    data = c["activations"] + c["params"] / B
    ai = c["macs"] / data
    b, a = constants.beta, constants.alpha
    move = (a / ai) ** b
    eq1 = _eq1_cost(c["macs"], data, b, a)
    bal = balanced_groups(L, constants, batch_size=batch_size, amortize_params=amortize_params)
    df = pd.DataFrame(dict(G=G, g=g, macs=c["macs"], params=c["params"], activations=c["activations"],
                           data=data, ai=ai, memory_accesses=1 / ai, compute_cost=c["macs"],
                           data_movement_cost=move, eq1_cost=eq1, energy_mj=constants.scale * eq1))
    base = df.loc[df["g"].idxmax()] if len(df) else None  # smallest G (depthwise when G = 1), as Fig. 3
    for col in ("macs", "ai", "memory_accesses", "eq1_cost"):
        df[col + "_rel"] = df[col] / base[col] if base is not None else np.nan
    df["eq2_g"], df["eq2_G"] = bal["g"], bal["G"]
    df["is_energy_min"] = df["eq1_cost"] == df["eq1_cost"].min() if len(df) else []
    return df


def balanced_groups(layer, constants: Constants = Constants(), *, include_activations: bool = False,
                    batch_size: int = 1, amortize_params: bool = True) -> dict:
    """The balanced g and G of one layer: Eq. 2 in closed form (A dropped, as printed), or Eq. 1
    solved for g with A kept (``include_activations=True``; needs 0 <= beta <= 1).

    With B > 1 (and ``amortize_params``) P becomes P/B, so Eq. 2 reads
    g = m n d_k^2 (h w)^(1-beta) B^(-beta) / gamma; B = 1 is the printed equation.
    Returns g, G (= m/g, continuous) and g_valid, G_valid (nearest g in log that divides m and n).
    """
    L = _as_layer(layer)
    b, gamma = constants.beta, constants.gamma
    B = batch_size if amortize_params else 1
    if not include_activations:
        g = L.m * L.n * L.d_k ** 2 * L.hw ** (1 - b) * B ** (-b) / gamma
    else:
        if not 0 <= b <= 1:
            raise ValueError(f"Eq. 1 with A kept is monotone in g only for 0 <= beta <= 1, got beta={b}")
        M1, P1, A = L.n * L.m * L.d_k ** 2 * L.hw, L.n * L.m * L.d_k ** 2 / B, L.activations

        def lhs(log_g):
            gg = math.exp(log_g)
            return (1 - b) * math.log(M1 / gg) + b * math.log(A + P1 / gg) - math.log(gamma)

        lo, hi = -60.0, 60.0  # log g; lhs is non-increasing in g
        if lhs(lo) < 0 or lhs(hi) > 0:
            g = math.nan
        else:
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if lhs(mid) > 0 else (lo, mid)
            g = math.exp(0.5 * (lo + hi))
    G = L.m / g if g and not math.isnan(g) else math.nan
    valid = L.valid_groups()
    if math.isnan(g):
        gv = None
    else:
        gv = min(valid, key=lambda v: abs(math.log(v) - math.log(g)))
    return dict(g=g, G=G, g_valid=gv, G_valid=(L.m // gv) if gv else None)


def energy_optimal_group_size(layer, constants: Constants = Constants(), batch_size: int = 1,
                              amortize_params: bool = True) -> dict:
    """The G that minimises the Eq.-1 cost M^(1-beta) (A + P/B)^beta of one layer.

    Closed form (continuous, clipped to [1, m]): G* = (beta - 1) B A / (n d_k^2), an interior
    minimum only for beta > 1; for beta <= 1 the minimum is G = 1 (depthwise, largest g).
    Also the best G over the valid divisors. Returns G_star, G_star_unclipped, interior (bool),
    G_best, g_best.
    """
    L = _as_layer(layer)
    B = batch_size if amortize_params else 1
    b = constants.beta
    raw = (b - 1) * B * L.activations / (L.n * L.d_k ** 2)
    interior = b > 1 and 1 <= raw <= L.m
    G_star = float(min(max(raw, 1.0), L.m))
    curves = cost_curves(L, constants, batch_size, amortize_params=amortize_params)
    best = curves.loc[curves["eq1_cost"].idxmin()]
    return dict(G_star=G_star, G_star_unclipped=raw, interior=bool(interior),
                G_best=int(best["G"]), g_best=int(round(best["g"])))


# -- real models --------------------------------------------------------------------------

def _scheme(scheme: str, k: int):
    from .layers import ConvScheme
    s = _norm_scheme(scheme)
    return ConvScheme("e2gc", group_size=int(k)) if s == "e2gc" else ConvScheme("fggc", groups=int(k))


def _norm_scheme(scheme: str) -> str:
    s = str(scheme).lower()
    if s not in _ALIASES:
        raise ValueError(f"scheme must be one of e2gc, fggc (or gc), got {scheme!r}")
    return _ALIASES[s]


@lru_cache(maxsize=None)
def _model_layers_cached(model: str, input_size: int) -> pd.DataFrame:
    import torch

    from .complexity import layer_stats
    from .models import create_model

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


def model_layers(model: str, input_size: int = 224) -> pd.DataFrame:
    """Every conv and FC layer of ``model`` (read once with :func:`gconvlib.complexity.layer_stats`
    on the meta device, cached), ``grouped`` = the layers the E2GC/FgGC scheme changes (found by
    comparing E2GC G=1 and G=2, not by name). Counts are those of E2GC G=1."""
    return _model_layers_cached(model, input_size).copy()


def grouped_layers(model: str, input_size: int = 224) -> list[Layer]:
    """The grouped layers of ``model`` as :class:`Layer` (13 for MobileNet-V1, 16 for ResNeXt-50)."""
    df = _model_layers_cached(model, input_size)
    return [Layer(int(r.m), int(r.n), int(r.d_k), int(r.h), int(r.w), int(r.h_in), int(r.w_in), r.name)
            for r in df[df["grouped"]].itertuples()]


def _groups_for(m: np.ndarray, n: np.ndarray, scheme: str, k: int) -> np.ndarray:
    s = _norm_scheme(scheme)
    k = int(k)
    if s == "e2gc":
        if np.any(m % k) or np.any(k > m):
            raise ValueError(f"E2GC G={k} does not divide every grouped layer's channels {sorted(set(m))}")
        g = m // k
    else:
        g = np.full_like(m, k)
    if np.any(m % g) or np.any(n % g):
        raise ValueError(f"{s} k={k}: groups do not divide every grouped layer ({sorted(set(m))})")
    return g


def variant_counts(model: str, scheme: str, k: int, input_size: int = 224) -> pd.DataFrame:
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
    df.insert(0, "scheme", _norm_scheme(scheme))
    df.insert(1, "k", int(k))
    return df


def valid_ks(model: str, scheme: str, input_size: int = 224) -> list[int]:
    """Every k (G for e2gc, g for fggc) that the grouped layers of ``model`` allow."""
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
def _variant_arrays(model: str, scheme: str, k: int, input_size: int = 224):
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


def network_epf(model: str, scheme: str, k: int, constants: Constants, batch_size: int = 1,
                amortize_params: bool = True, layers: str = "all") -> float:
    """Model EPF (mJ) = offset + scale * alpha^beta * sum_l M_l^(1-beta) (A_l + P_l/B)^beta."""
    s = _cost_sum(_variant_arrays(model, _norm_scheme(scheme), int(k)), constants.beta, batch_size,
                  amortize_params, layers)
    return constants.offset + constants.scale * constants.alpha ** constants.beta * s


def network_curves(model: str, constants: Constants, batch_size: int = 1, scheme: str = "e2gc",
                   ks: Sequence[int] | None = None, amortize_params: bool = True,
                   layers: str = "all") -> pd.DataFrame:
    """Model EPF against k for one scheme (cached layer shapes: milliseconds after the first call).
    Columns: model, scheme, k, macs, params, eq1_cost_sum, epf_model_mj, is_min."""
    scheme = _norm_scheme(scheme)
    ks = valid_ks(model, scheme) if ks is None else list(ks)
    rows = []
    for k in ks:
        arr = _variant_arrays(model, scheme, int(k))
        s = _cost_sum(arr, constants.beta, batch_size, amortize_params, layers)
        rows.append(dict(model=model, scheme=scheme, k=int(k), macs=arr[0].sum(), params=arr[2].sum(),
                         eq1_cost_sum=s,
                         epf_model_mj=constants.offset + constants.scale * constants.alpha ** constants.beta * s))
    df = pd.DataFrame(rows)
    df["is_min"] = df["epf_model_mj"] == df["epf_model_mj"].min()
    return df


def gamma_for_group_size(layer, G: float, constants: Constants = Constants(), batch_size: int = 1,
                         amortize_params: bool = True) -> float:
    """The gamma for which Eq. 2 gives this layer the group size G (the inverse of Eq. 2)."""
    L = _as_layer(layer)
    B = batch_size if amortize_params else 1
    g = L.m / G
    return L.m * L.n * L.d_k ** 2 * L.hw ** (1 - constants.beta) * B ** (-constants.beta) / g


def per_layer_optimum(model: str, constants: Constants = Constants(), batch_size: int = 1,
                      amortize_params: bool = True, input_size: int = 224,
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


# -- data ---------------------------------------------------------------------------------

FRAME_COLUMNS = ("model", "scheme", "k", "batch_size", "device", "epf")


def paper_epf_frame(devices: Sequence[str] | None = None) -> pd.DataFrame:
    """The printed EPF cells of E2GC Tables III-IV as a frame with :data:`FRAME_COLUMNS`."""
    from .paper import load_values

    d = load_values("e2gc", quantity="epf")
    if devices is not None:
        d = d[d["device"].isin(list(devices))]
    out = pd.DataFrame(dict(model=d["model"].astype(str).to_numpy(), scheme=d["scheme"].astype(str).to_numpy(),
                            k=d["k"].astype(int).to_numpy(), batch_size=d["batch_size"].astype(int).to_numpy(),
                            device=d["device"].astype(str).to_numpy(), epf=d["value"].astype(float).to_numpy()))
    return out.sort_values(["device", "model", "batch_size", "scheme", "k"]).reset_index(drop=True)


def normalize_frame(frame: pd.DataFrame, value: str = "epf") -> pd.DataFrame:
    """Any frame with columns model, scheme, k, batch_size, device and ``value`` -> the standard
    columns (scheme ``gc`` -> ``fggc``, ``standard`` -> fggc k=1; rows without a value dropped)."""
    missing = [c for c in ("model", "scheme", "k", "batch_size", "device", value) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}; needs model, scheme, k, batch_size, device, {value}")
    df = frame.copy()
    scheme = df["scheme"].astype(str).str.lower()
    std = scheme.eq("standard")
    df["k"] = pd.to_numeric(df["k"], errors="coerce")
    df.loc[std, "k"] = 1
    scheme = scheme.where(~std, "fggc").map(lambda s: _ALIASES.get(s, s))
    out = pd.DataFrame(dict(model=df["model"].astype(str).to_numpy(), scheme=scheme.to_numpy(),
                            k=df["k"].to_numpy(), batch_size=pd.to_numeric(df["batch_size"]).to_numpy(),
                            device=df["device"].astype(str).to_numpy(),
                            epf=pd.to_numeric(df[value], errors="coerce").to_numpy(float)))
    out = out[out["scheme"].isin(_SCHEMES) & out["epf"].notna() & out["k"].notna()]
    out["k"] = out["k"].astype(int)
    out["batch_size"] = out["batch_size"].astype(int)
    return out.reset_index(drop=True)


# -- fitting ------------------------------------------------------------------------------

_KEY = ("model", "device", "batch_size")


class _Problem:
    """One fit group: y, and for each row its layer arrays and its (model, batch) cell index."""

    def __init__(self, df: pd.DataFrame, amortize_params: bool, layers: str):
        self.df = df.reset_index(drop=True)
        self.y = self.df["epf"].to_numpy(float)
        cells = list(dict.fromkeys(zip(self.df["model"], self.df["batch_size"])))
        self.cells = cells
        self.cell = np.array([cells.index(c) for c in zip(self.df["model"], self.df["batch_size"])])
        self.arrays = [_variant_arrays(r.model, r.scheme, int(r.k)) for r in self.df.itertuples()]
        self.B = self.df["batch_size"].to_numpy(int)
        self.amortize, self.layers = amortize_params, layers

    def S(self, beta):
        out = np.empty((len(self.y), 2))
        for i, (arr, B) in enumerate(zip(self.arrays, self.B)):
            out[i] = _cost_sum_and_derivative(arr, beta, int(B), self.amortize, self.layers)
        return out[:, 0], out[:, 1]

    def design(self, beta):
        s, ds = self.S(beta)
        K = len(self.cells)
        X = np.zeros((len(self.y), 2 * K))
        dX = np.zeros_like(X)
        rows = np.arange(len(self.y))
        X[rows, 2 * self.cell] = 1.0
        X[rows, 2 * self.cell + 1] = s
        dX[rows, 2 * self.cell + 1] = ds
        return X, dX

    def solve(self, beta):
        X, dX = self.design(beta)
        norms = np.linalg.norm(X, axis=0)
        norms[norms == 0] = 1.0
        coef, *_ = np.linalg.lstsq(X / norms, self.y, rcond=None)
        coef = coef / norms
        r = self.y - X @ coef
        return float(r @ r), coef, X, dX


def _golden(f, a, b, tol=1e-13, maxiter=200):
    gr = (math.sqrt(5) - 1) / 2
    c, d = b - gr * (b - a), a + gr * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(maxiter):
        if abs(b - a) < tol * max(1.0, abs(a) + abs(b)):
            break
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - gr * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + gr * (b - a)
            fd = f(d)
    return (c, fc) if fc <= fd else (d, fd)


def _fit_problem(p: _Problem, beta_bounds, grid: int = 161):
    lo, hi = map(float, beta_bounds)
    betas = np.linspace(lo, hi, grid)
    rss = np.array([p.solve(b)[0] for b in betas])
    i = int(np.nanargmin(rss))
    a, b = betas[max(i - 1, 0)], betas[min(i + 1, grid - 1)]
    beta, best = _golden(lambda x: p.solve(x)[0], a, b)
    if rss[i] < best:
        beta, best = float(betas[i]), float(rss[i])
    # Gauss-Newton polish on beta (variable projection, Kaufman's approximation)
    for _ in range(20):
        r_ss, coef, X, dX = p.solve(beta)
        r = p.y - X @ coef
        J = dX @ coef
        if not np.any(J):
            break
        step = float(J @ r / (J @ J))
        new = min(max(beta + step, lo), hi)
        new_rss = p.solve(new)[0]
        if new_rss < r_ss:
            beta = new
            if abs(step) < 1e-15 * max(1.0, abs(beta)):
                break
        else:
            break
    rss_val, coef, X, dX = p.solve(beta)
    return beta, rss_val, coef, X, dX


def _group_iter(df: pd.DataFrame, by: Sequence[str]):
    by = list(by)
    for c in _KEY:
        if c not in ("model", "batch_size") and c not in by:
            raise ValueError(f"`by` must include {c!r} (different devices never share constants)")
    for key, g in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(by, key)), g


def fit_epf(frame: pd.DataFrame, by: Sequence[str] = ("model", "device", "batch_size"), value: str = "epf",
            beta_bounds: tuple[float, float] = (0.0, 6.0), amortize_params: bool = True,
            layers: str = "all") -> pd.DataFrame:
    """Least-squares fit of EPF = offset + scale * sum_l M^(1-beta) (A + P/B)^beta.

    ``frame``: columns model, scheme (e2gc | fggc | gc | standard), k, batch_size, device and
    ``value`` (mJ per frame; repeats allowed). ``by``: the fit groups; beta is shared within a
    group, offset and scale are per (model, batch size). ``beta_bounds``: the search window
    (``PAPER_BETA_RANGE`` restricts to the paper's (0, 1)).

    One row per (fit group, model, batch size): the group keys, beta, beta_se, scale, scale_se,
    offset_mj, offset_se, n (points of this cell), rss, r2, rmse_mj, mape_pct (in-sample), then the
    group's n_group, p_group (parameters), rss_group, r2_group, and flags beta_in_paper_range,
    beta_at_bound, scale_positive, offset_nonneg. Standard errors: sqrt(diag(s^2 (J^T J)^-1)),
    s^2 = rss_group / (n_group - p_group), J the Jacobian in (offsets, scales, beta); beta_se is
    NaN at a bound (the others are then conditional on beta).
    """
    df = normalize_frame(frame, value)
    out = []
    for keys, g in _group_iter(df, by):
        p = _Problem(g, amortize_params, layers)
        beta, rss, coef, X, dX = _fit_problem(p, beta_bounds)
        at_bound = min(abs(beta - beta_bounds[0]), abs(beta - beta_bounds[1])) < 1e-6
        n, K = len(p.y), len(p.cells)
        J = np.c_[X, dX @ coef] if not at_bound else X
        dof = n - J.shape[1]
        se = np.full(2 * K + 1, np.nan)
        if dof > 0:
            s2 = rss / dof
            norms = np.linalg.norm(J, axis=0)
            norms[norms == 0] = 1.0
            Jn = J / norms
            try:
                cov = np.linalg.inv(Jn.T @ Jn) * s2 / np.outer(norms, norms)
                se[:J.shape[1]] = np.sqrt(np.clip(np.diag(cov), 0, None))
            except np.linalg.LinAlgError:
                pass
        resid = p.y - X @ coef
        tss_group = float(np.sum((p.y - p.y.mean()) ** 2))
        for j, (model, B) in enumerate(p.cells):
            mask = p.cell == j
            yj, rj = p.y[mask], resid[mask]
            tss = float(np.sum((yj - yj.mean()) ** 2))
            row = dict(keys)
            row.update(model=model, device=g["device"].iloc[0], batch_size=int(B))
            row.update(beta=beta, beta_se=se[-1] if not at_bound else np.nan,
                       scale=coef[2 * j + 1], scale_se=se[2 * j + 1], offset_mj=coef[2 * j],
                       offset_se=se[2 * j], n=int(mask.sum()), rss=float(rj @ rj),
                       r2=1 - float(rj @ rj) / tss if tss > 0 else np.nan,
                       rmse_mj=math.sqrt(float(rj @ rj) / mask.sum()),
                       mape_pct=float(np.mean(np.abs(rj / yj)) * 100),
                       n_group=n, p_group=2 * K + (0 if at_bound else 1), rss_group=rss,
                       r2_group=1 - rss / tss_group if tss_group > 0 else np.nan,
                       beta_in_paper_range=bool(PAPER_BETA_RANGE[0] < beta < PAPER_BETA_RANGE[1]),
                       beta_at_bound=bool(at_bound), scale_positive=bool(coef[2 * j + 1] > 0),
                       offset_nonneg=bool(coef[2 * j] >= 0), amortize_params=amortize_params,
                       layers=layers, fit_by="+".join(by), beta_lo=beta_bounds[0], beta_hi=beta_bounds[1])
            out.append(row)
    cols = ["device", "model", "batch_size"]
    res = pd.DataFrame(out)
    return res[cols + [c for c in res.columns if c not in cols]]


def bootstrap_epf(frame: pd.DataFrame, n_boot: int = 200, seed: int = 0, value: str = "epf",
                  **fit_kwargs) -> pd.DataFrame:
    """Residual bootstrap of :func:`fit_epf` (a check on its covariance standard errors, which
    assume a locally linear model): refit ``n_boot`` times on fitted + resampled residuals (scaled
    by sqrt(n / (n - p)) within each fit group). One row per fit row: the fit's values, then for
    beta, scale and offset_mj the bootstrap sd and 2.5 / 97.5 % percentiles."""
    df = normalize_frame(frame, value)
    fit = fit_epf(df, **fit_kwargs)
    res = fit_residuals(df, fit)
    by = list(fit_kwargs.get("by", ("model", "device", "batch_size")))
    rng = np.random.default_rng(seed)
    inflate = {}
    for keys, g in res.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        hit = fit.loc[np.logical_and.reduce([fit[c] == v for c, v in zip(by, keys)])].iloc[0]
        inflate[keys] = math.sqrt(hit["n_group"] / max(hit["n_group"] - hit["p_group"], 1))
    draws = []
    for _ in range(n_boot):
        boot = df.copy()
        for keys, g in res.groupby(by, sort=True):
            keys = keys if isinstance(keys, tuple) else (keys,)
            boot.loc[g.index, "epf"] = (g["epf_pred"].to_numpy()
                                        + rng.choice(g["residual_mj"].to_numpy(), len(g)) * inflate[keys])
        draws.append(fit_epf(boot, **fit_kwargs)[["device", "model", "batch_size", "beta", "scale", "offset_mj"]])
    allb = pd.concat(draws, ignore_index=True)
    agg = {}
    for col in ("beta", "scale", "offset_mj"):
        grp = allb.groupby(["device", "model", "batch_size"])[col]
        agg[f"{col}_boot_sd"] = grp.std()
        agg[f"{col}_boot_lo"] = grp.quantile(0.025)
        agg[f"{col}_boot_hi"] = grp.quantile(0.975)
    stats = pd.DataFrame(agg).reset_index()
    keep = ["device", "model", "batch_size", "beta", "beta_se", "scale", "scale_se", "offset_mj", "offset_se"]
    return fit[keep].merge(stats, on=["device", "model", "batch_size"], how="left")


def _constants_of(fit_row) -> Constants:
    return Constants(beta=float(fit_row["beta"]), scale=float(fit_row["scale"]), offset=float(fit_row["offset_mj"]))


def _fit_lookup(fit: pd.DataFrame, model, device, batch_size):
    hit = fit[(fit["model"] == model) & (fit["device"] == device) & (fit["batch_size"] == batch_size)]
    if len(hit) != 1:
        raise KeyError(f"no single fit row for {model}, {device}, B={batch_size}")
    return hit.iloc[0]


def predict_epf(fit: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    """The fitted model's EPF (mJ) for every row of ``frame`` (model, scheme, k, batch_size, device)."""
    preds = []
    for r in frame.itertuples():
        row = _fit_lookup(fit, r.model, r.device, int(r.batch_size))
        preds.append(network_epf(r.model, r.scheme, int(r.k), _constants_of(row), int(r.batch_size),
                                 bool(row["amortize_params"]), str(row["layers"])))
    return pd.Series(preds, index=frame.index, name="epf_pred")


def fit_residuals(frame: pd.DataFrame, fit: pd.DataFrame, value: str = "epf") -> pd.DataFrame:
    """Observed vs fitted EPF per point: ..., epf, epf_pred, residual_mj, pct_error."""
    df = normalize_frame(frame, value)
    df["epf_pred"] = predict_epf(fit, df)
    df["residual_mj"] = df["epf"] - df["epf_pred"]
    df["pct_error"] = 100 * df["residual_mj"] / df["epf"]
    return df


def leave_one_out(frame: pd.DataFrame, by: Sequence[str] = ("model", "device", "batch_size"),
                  value: str = "epf", beta_bounds: tuple[float, float] = (0.0, 6.0),
                  amortize_params: bool = True, layers: str = "all") -> pd.DataFrame:
    """Leave one variant out: within each fit group, drop every row of one (model, scheme, k),
    fit on the rest (as :func:`fit_epf`), predict the dropped rows.

    One row per held-out point: device, model, batch_size, scheme, k, epf, epf_pred, abs_pct_error,
    beta (of that fit), and two baselines fitted on the same rows: ``mean`` (the mean EPF of the
    other variants of that model, device and batch size) and ``macs`` (offset + slope * MACs).
    """
    df = normalize_frame(frame, value)
    out = []
    for keys, g in _group_iter(df, by):
        for (model, scheme, k), held in g.groupby(["model", "scheme", "k"], sort=True):
            train = g.drop(index=held.index)
            fit = fit_epf(train, by=by, value="epf", beta_bounds=beta_bounds,
                          amortize_params=amortize_params, layers=layers)
            for r in held.itertuples():
                cell = train[(train["model"] == model) & (train["batch_size"] == r.batch_size)]
                if cell.empty:
                    continue
                row = _fit_lookup(fit, model, r.device, int(r.batch_size))
                pred = network_epf(model, scheme, int(k), _constants_of(row), int(r.batch_size),
                                   amortize_params, layers)
                macs = np.array([_variant_arrays(model, s, int(kk))[0].sum()
                                 for s, kk in zip(cell["scheme"], cell["k"])])
                slope, icpt = np.polyfit(macs, cell["epf"].to_numpy(float), 1)
                macs_held = _variant_arrays(model, scheme, int(k))[0].sum()
                out.append(dict(device=r.device, model=model, batch_size=int(r.batch_size), scheme=scheme,
                                k=int(k), epf=r.epf, epf_pred=pred,
                                abs_pct_error=100 * abs(pred - r.epf) / r.epf, beta=float(row["beta"]),
                                beta_at_bound=bool(row["beta_at_bound"]),
                                pred_mean=float(cell["epf"].mean()),
                                abs_pct_error_mean=100 * abs(cell["epf"].mean() - r.epf) / r.epf,
                                pred_macs=float(icpt + slope * macs_held),
                                abs_pct_error_macs=100 * abs(icpt + slope * macs_held - r.epf) / r.epf))
    return pd.DataFrame(out)


def loo_summary(loo: pd.DataFrame, by: Sequence[str] = ("device", "model", "batch_size")) -> pd.DataFrame:
    """Mean (and max) absolute % error of the leave-one-out predictions, model vs the two baselines."""
    agg = loo.groupby(list(by), sort=True).agg(
        n=("epf", "size"), mape_model=("abs_pct_error", "mean"), max_ape_model=("abs_pct_error", "max"),
        mape_mean_baseline=("abs_pct_error_mean", "mean"), mape_macs_baseline=("abs_pct_error_macs", "mean"),
        beta_min=("beta", "min"), beta_max=("beta", "max"))
    return agg.reset_index()


def optimum_table(frame: pd.DataFrame, fit: pd.DataFrame, value: str = "epf",
                  extended: bool = True) -> pd.DataFrame:
    """Predicted vs measured optimum k per (device, batch size, model, scheme).

    measured_k / measured_epf: the lowest printed (measured) EPF; measured_at_edge: that k is the
    largest or smallest measured. predicted_k / predicted_epf: argmin of the fitted model over the
    same measured ks; predicted_k_extended: argmin over every k the model allows
    (:func:`valid_ks`; for e2gc G up to the narrowest grouped layer, for fggc g >= 1).
    """
    df = normalize_frame(frame, value)
    rows = []
    for (device, B, model, scheme), g in df.groupby(["device", "batch_size", "model", "scheme"], sort=True):
        try:
            frow = _fit_lookup(fit, model, device, int(B))
        except KeyError:
            continue
        c = _constants_of(frow)
        am, lay = bool(frow["amortize_params"]), str(frow["layers"])
        mean = g.groupby("k")["epf"].mean()
        ks = sorted(mean.index)
        pred = pd.Series({k: network_epf(model, scheme, k, c, int(B), am, lay) for k in ks})
        row = dict(device=device, batch_size=int(B), model=model, scheme=scheme,
                   ks="/".join(map(str, ks)), measured_k=int(mean.idxmin()), measured_epf=float(mean.min()),
                   measured_at_edge=int(mean.idxmin()) in (ks[0], ks[-1]),
                   predicted_k=int(pred.idxmin()), predicted_epf=float(pred.min()),
                   model_epf_at_measured_k=float(pred[mean.idxmin()]))
        row["agree"] = row["predicted_k"] == row["measured_k"]
        if extended:
            ext = network_curves(model, c, int(B), scheme, amortize_params=am, layers=lay)
            best = ext.loc[ext["epf_model_mj"].idxmin()]
            row.update(predicted_k_extended=int(best["k"]), predicted_epf_extended=float(best["epf_model_mj"]),
                       extended_range=f"{ext['k'].min()}..{ext['k'].max()}")
        row["beta"] = c.beta
        rows.append(row)
    return pd.DataFrame(rows)
