"""The E2GC paper's optimum-group-size model (Sec. III, Eqs. 1-4) as code, fitted to EPF data.

Jha, Saini, Nag, Mittal, "E2GC: Energy-efficient Group Convolution in Deep Neural Networks"
(Sec. III, Tables I-II, Eqs. 1-4). Everything here is a pure function of layer
shapes, constants and a batch size (milliseconds; meant to sit behind notebook sliders), except the
places that build a real model once to read its layer shapes (cached in :mod:`.networks`).

Symbols (Table I): m input fmaps, n output fmaps, d_k x d_k filter, h x w fmap, g groups,
G = m / g group size, M_c MACs, P parameters, A activations (ifmaps + ofmaps), AI arithmetic
intensity. The dataclass :class:`Layer` calls the kernel ``d_k`` (the issue's "k"); in data frames
``k`` is the *group parameter* (G for ``e2gc`` rows, g for ``gc`` rows: the paper's FgGC, which
``values.csv`` writes ``fggc``), as in ``paper.py``. ``scheme`` is always the canonical ConvScheme
kind (:data:`FAMILIES`); :func:`paper_epf_frame` and :func:`normalize_frame` convert on the way in.

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

Modules: :mod:`.equations` (Tables I-II, Eqs. 1-4 and the one-layer cost model), :mod:`.networks`
(layer shapes read off a real model, the network cost and its EPF reading), :mod:`.frames` (EPF
data in one shape), :mod:`.fit` (the least-squares fit), :mod:`.validation` (leave-one-out and
predicted vs measured optimum).
"""
from .equations import (PAPER_BETA_RANGE, Constants, Layer, balanced_groups, cost_curves, energy_optimal_group_size,
                        gamma_for_group_size, layer_counts, table1, table2, tables_side_by_side)
from .fit import bootstrap_epf, fit_epf, fit_residuals, predict_epf
from .frames import FRAME_COLUMNS, normalize_frame, paper_epf_frame
from .networks import (FAMILIES, grouped_layers, network_cost, network_curves, network_epf,
                       per_layer_optimum, scheme_kind, valid_ks, variant_counts)
from .validation import leave_one_out, loo_summary, optimum_table

__all__ = [
    "Layer", "Constants", "PAPER_BETA_RANGE", "FRAME_COLUMNS", "FAMILIES", "scheme_kind",
    "table1", "table2", "tables_side_by_side",
    "layer_counts", "cost_curves", "balanced_groups", "energy_optimal_group_size", "gamma_for_group_size",
    "grouped_layers", "variant_counts", "valid_ks",
    "network_cost", "network_epf", "network_curves", "per_layer_optimum",
    "paper_epf_frame", "normalize_frame", "fit_epf", "bootstrap_epf", "predict_epf", "fit_residuals",
    "leave_one_out", "loo_summary", "optimum_table",
]
