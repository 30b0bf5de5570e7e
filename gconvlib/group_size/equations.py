"""Tables I and II, Eqs. 1-4 and the Eq.-1 cost of one layer: pure functions of a layer shape,
constants and a batch size (the package docstring states each equation and its interpretation)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np
import pandas as pd

from ..complexity import gconv_formulas

#: beta in (0, 1) in Sec. III-B ("beta in (0,1]" a few lines later); alpha in (0, 1].
PAPER_BETA_RANGE = (0.0, 1.0)


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


def gamma_for_group_size(layer, G: float, constants: Constants = Constants(), batch_size: int = 1,
                         amortize_params: bool = True) -> float:
    """The gamma for which Eq. 2 gives this layer the group size G (the inverse of Eq. 2)."""
    L = _as_layer(layer)
    B = batch_size if amortize_params else 1
    g = L.m / G
    return L.m * L.n * L.d_k ** 2 * L.hw ** (1 - constants.beta) * B ** (-constants.beta) / g
