"""The E2GC optimum-group-size model (gconvlib.group_size): formulas, fit, leave-one-out.

Hand-computed cases use one small layer throughout:  m = 4, n = 8, d_k = 3, h = w = 2.
    Table I : M_c = n m d_k^2 h w = 8*4*9*4 = 1152;  P = n m d_k^2 = 288;  A = (n+m) h w = 12*4 = 48;
              AI = 1152 / (288 + 48) = 1152 / 336 = 24/7
    Table II, g = 2: M_c = 576, P = 144, A = 48, AI = 576 / 192 = 3
    Table II, g = 4: M_c = 288, P = 72,  A = 48, AI = 288 / 120 = 2.4
"""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from gconvlib import group_size as gs
from gconvlib.complexity import layer_stats
from gconvlib.layers import ConvScheme
from gconvlib.models import create_model

SMALL = gs.Layer(m=4, n=8, d_k=3, h=2, w=2)
MOBILENET_VARIANTS = [("e2gc", G) for G in (1, 2, 4, 8, 16, 32)] + [("gc", g) for g in (2, 4, 8, 16, 32)]


def _printed(model, scheme, k, quantity):
    from gconvlib.paper import load_values

    # values.csv keeps the E2GC paper's name for GC (FgGC, written fggc)
    v = load_values("e2gc", model=model, scheme={"gc": "fggc"}.get(scheme, scheme), quantity=quantity)
    return float(v.loc[v["k"] == k, "value"].iloc[0])


def _hook_stats(model, scheme, k):
    sc = ConvScheme("e2gc", group_size=k) if scheme == "e2gc" else ConvScheme("gc", groups=k)
    with torch.device("meta"):
        net = create_model(model, scheme=sc)
    return layer_stats(net)


@pytest.fixture(scope="module")
def mobilenet_hooks():
    """Hook counts (complexity.layer_stats) of all 11 MobileNet-V1 variants of Table III."""
    return {v: _hook_stats("mobilenet_v1", *v) for v in MOBILENET_VARIANTS}


# -- Tables I and II ----------------------------------------------------------------------

def test_table1_small_layer_by_hand():
    t = gs.table1(SMALL)
    assert (t["macs"], t["params"], t["activations"]) == (1152, 288, 48)
    assert t["arithmetic_intensity"] == pytest.approx(24 / 7)


@pytest.mark.parametrize("g, macs, params, ai", [(2, 576, 144, 3.0), (4, 288, 72, 2.4)])
def test_table2_small_layer_by_hand(g, macs, params, ai):
    t = gs.table2(SMALL, g)
    assert (t["macs"], t["params"], t["activations"], t["G"]) == (macs, params, 48, 4 // g)
    assert t["arithmetic_intensity"] == pytest.approx(ai)


def test_table2_rejects_groups_that_do_not_divide():
    with pytest.raises(ValueError):
        gs.table2(SMALL, 3)


@pytest.mark.parametrize("layer", [SMALL, gs.Layer(32, 32, 3, 112, 112), gs.Layer(512, 1024, 1, 14, 14),
                                   gs.Layer(3, 64, 7, 112, 112)])
def test_table2_at_g1_equals_table1(layer):
    t1, t2 = gs.table1(layer), gs.table2(layer, 1)
    for key in ("macs", "params", "activations", "arithmetic_intensity"):
        assert t2[key] == t1[key]


def test_tables_side_by_side_ratios():
    df = gs.tables_side_by_side(SMALL, 2)
    ratio = dict(zip(df["quantity"], df["ratio_table2_to_table1"]))
    assert ratio["# MACs (M_c)"] == 0.5 and ratio["# parameters (P)"] == 0.5
    assert ratio["# activations (A)"] == 1.0
    assert ratio["Arith. intensity (AI)"] == pytest.approx(3 / (24 / 7))  # = 7/8


def test_grouped_layers_are_found_by_comparison_not_by_name():
    assert len(gs.grouped_layers("mobilenet_v1")) == 13
    assert len(gs.grouped_layers("resnext50")) == 16  # blocks [3, 4, 6, 3]
    assert all(L.d_k == 3 and L.m == L.n for L in gs.grouped_layers("mobilenet_v1"))


@pytest.mark.parametrize("variant", [("e2gc", 1), ("e2gc", 4), ("e2gc", 32), ("gc", 2), ("gc", 32)])
def test_formulas_equal_hook_counts_on_every_grouped_layer_of_mobilenet(mobilenet_hooks, variant):
    stats = [s for s in mobilenet_hooks[variant] if s.name in {L.name for L in gs.grouped_layers("mobilenet_v1")}]
    assert len(stats) == 13
    for s in stats:
        L = gs.Layer.from_stats(s)
        t2 = gs.table2(L, s.groups)
        assert t2["macs"] == s.macs and t2["params"] == s.params, s.name
        c = gs.layer_counts(L, s.groups)
        assert c["macs"] == s.macs and c["params"] == s.params and c["activations"] == s.activations
        if L.h_in == L.h:  # Table II's A = (n + m) h w is exact only where ifmap and ofmap are equal
            assert t2["activations"] == s.activations


def test_variant_counts_equal_hooks_on_every_layer(mobilenet_hooks):
    for (scheme, k), stats in mobilenet_hooks.items():
        df = gs.variant_counts("mobilenet_v1", scheme, k)
        assert list(df["name"]) == [s.name for s in stats]
        assert list(df["macs"]) == [s.macs for s in stats]
        assert list(df["params"]) == [s.params for s in stats]
        assert list(df["activations"]) == [s.activations for s in stats]
    # E2GC Table III prints the MACs of G = 1 (values.csv) to two decimals of millions
    g1 = gs.variant_counts("mobilenet_v1", "e2gc", 1)
    assert round(g1["macs"].sum() / 1e6, 2) == _printed("mobilenet_v1", "e2gc", 1, "macs")


def test_variant_counts_equal_hooks_resnext_g32():
    stats = _hook_stats("resnext50", "gc", 32)
    df = gs.variant_counts("resnext50", "gc", 32)
    assert list(df["macs"]) == [s.macs for s in stats] and list(df["params"]) == [s.params for s in stats]
    assert round(df["macs"].sum() / 1e9, 2) == _printed("resnext50", "gc", 32, "macs")  # Table IV, in G


def test_valid_ks():
    assert gs.valid_ks("mobilenet_v1", "e2gc") == [1, 2, 4, 8, 16, 32]
    assert gs.valid_ks("resnext50", "e2gc")[-1] == 128
    assert 3 not in gs.valid_ks("mobilenet_v1", "gc")


# -- cost model and the balance equations --------------------------------------------------

def test_eq1_cost_by_hand():
    # g = 2, beta = 0.5, alpha = 1, B = 1: M^0.5 (A + P)^0.5 = sqrt(576 * 192) = sqrt(110592)
    #   = sqrt(2^12 * 27) = 64 sqrt(27) = 332.5537550532244; (alpha/AI)^beta = (1/3)^0.5
    row = gs.cost_curves(SMALL, gs.Constants(beta=0.5), 1, [2]).iloc[0]
    assert (row["g"], row["macs"], row["params"], row["data"]) == (2, 576, 144, 192)
    assert row["eq1_cost"] == pytest.approx(332.5537550532244, rel=1e-12)
    assert row["data_movement_cost"] == pytest.approx(3 ** -0.5, rel=1e-12)
    # alpha = 0.25: alpha^beta = 0.5 halves it
    row = gs.cost_curves(SMALL, gs.Constants(beta=0.5, alpha=0.25), 1, [2]).iloc[0]
    assert row["eq1_cost"] == pytest.approx(166.2768775266122, rel=1e-12)
    # B = 4: data = A + P/B = 48 + 36 = 84, AI = 576/84; sqrt(576 * 84) = 24 sqrt(84) = 219.96363335788...
    row = gs.cost_curves(SMALL, gs.Constants(beta=0.5, scale=2.0), 4, [2]).iloc[0]
    assert row["data"] == 84 and row["ai"] == pytest.approx(576 / 84)
    assert row["eq1_cost"] == pytest.approx(24 * math.sqrt(84), rel=1e-12)
    assert row["energy_mj"] == pytest.approx(48 * math.sqrt(84), rel=1e-12)


def test_cost_curves_columns_and_normalisation():
    df = gs.cost_curves(gs.Layer(512, 512, 3, 14, 14), gs.Constants(beta=0.5))
    assert list(df["G"])[:3] == [1, 2, 4] and df["G"].iloc[-1] == 512
    assert df["macs_rel"].iloc[0] == 1 and df["macs_rel"].iloc[-1] == 512
    assert np.allclose(df["memory_accesses"], 1 / df["ai"])
    # beta in (0, 1): the Eq.-1 cost falls with g, so its minimum is G = 1 (no interior optimum)
    assert df.loc[df["is_energy_min"], "G"].tolist() == [1]


def test_eq2_closed_form_by_hand():
    # g = m n d_k^2 (h w)^(1-beta) / gamma = 4*8*9*sqrt(4)/144 = 576/144 = 4 -> G = 1
    b = gs.balanced_groups(SMALL, gs.Constants(beta=0.5).with_gamma(144))
    assert b["g"] == pytest.approx(4) and b["G"] == pytest.approx(1) and b["g_valid"] == 4
    # beta = 0: g = m n d_k^2 h w / gamma = 1152 / 288 = 4
    assert gs.balanced_groups(SMALL, gs.Constants(beta=0.0, const=288))["g"] == pytest.approx(4)
    # gamma = const * alpha^-beta
    assert gs.Constants(beta=0.5, alpha=0.25, const=3.0).gamma == pytest.approx(6.0)


def test_eq1_with_activations_solves_back():
    # at g = 2 the Eq.-1 left side is 64 sqrt(27) (see test_eq1_cost_by_hand): solving for g returns 2
    b = gs.balanced_groups(SMALL, gs.Constants(beta=0.5).with_gamma(64 * math.sqrt(27)), include_activations=True)
    assert b["g"] == pytest.approx(2, rel=1e-9) and b["G"] == pytest.approx(2, rel=1e-9)
    with pytest.raises(ValueError):
        gs.balanced_groups(SMALL, gs.Constants(beta=1.5), include_activations=True)


def test_gamma_for_group_size_inverts_eq2():
    L = gs.grouped_layers("resnext50")[7]
    c = gs.Constants(beta=0.7)
    gamma = gs.gamma_for_group_size(L, 8, c, batch_size=4)
    assert gs.balanced_groups(L, c.with_gamma(gamma), batch_size=4)["G"] == pytest.approx(8)


def test_energy_optimum_closed_form_by_hand():
    # m = n = 8, d_k = 1, h = w = 2: A = 16*4 = 64, P_1 = n m d_k^2 = 64, M_1 = 256.
    # G* = (beta - 1) B A / (n d_k^2) = 0.25 * 1 * 64 / 8 = 2  (g* = 4). By hand, log cost
    # -0.25 ln M + 1.25 ln(A + P): g=2: -0.25 ln128 + 1.25 ln96 = 4.4924; g=4: -0.25 ln64 + 1.25 ln80
    # = 4.4378; g=8: -0.25 ln32 + 1.25 ln72 = -0.86643 + 5.34583 = 4.4794 -> g = 4 is the minimum.
    L = gs.Layer(8, 8, 1, 2, 2)
    opt = gs.energy_optimal_group_size(L, gs.Constants(beta=1.25))
    assert opt["G_star"] == pytest.approx(2) and opt["interior"] and (opt["G_best"], opt["g_best"]) == (2, 4)
    cost = gs.cost_curves(L, gs.Constants(beta=1.25), 1, [4, 2, 1]).set_index("g")["eq1_cost"]
    assert np.log(cost).to_dict() == pytest.approx({2: 4.4924, 4: 4.4378, 8: 4.4794}, abs=1e-4)
    # B = 2 doubles G* (weights amortised over the batch): G* = 4, g* = 2
    opt = gs.energy_optimal_group_size(L, gs.Constants(beta=1.25), batch_size=2)
    assert opt["G_star"] == pytest.approx(4) and opt["G_best"] == 4
    # beta <= 1: no interior optimum, the cost is lowest at G = 1
    opt = gs.energy_optimal_group_size(L, gs.Constants(beta=0.5))
    assert not opt["interior"] and opt["G_best"] == 1 and opt["G_star"] == 1


def test_closed_form_matches_numeric_minimum():
    L = gs.Layer(512, 512, 3, 14, 14)
    c = gs.Constants(beta=1.8)
    G = np.geomspace(1, 512, 20001)
    cost = gs.cost_curves(L, c, 4, G)["eq1_cost"].to_numpy()
    expect = gs.energy_optimal_group_size(L, c, 4)["G_star"]
    assert G[np.argmin(cost)] == pytest.approx(expect, rel=1e-3)


def test_eq2_on_real_shapes_resnext_constant_mobilenet_alternates():
    # beta = 0.5: G ∝ 1 / (n d_k^2 d_f). ResNeXt-50: n d_f = 128*56 = 256*28 = 512*14 = 1024*7 -> Eq. 4 holds.
    r = gs.per_layer_optimum("resnext50", gs.Constants(beta=0.5))
    assert np.allclose(r["eq2_G_rel"], 1.0)
    # MobileNet-V1 (n = m in the grouped conv): 32*112 = 64*56 but 128*56 is twice that -> 1 or 1/2
    m = gs.per_layer_optimum("mobilenet_v1", gs.Constants(beta=0.5), anchor_G=4)
    assert m["eq2_G_rel"].round(12).tolist() == [1, 1, .5, 1, .5, 1, .5, .5, .5, .5, .5, 1, .5]
    assert m["eq2_G"].iloc[0] == pytest.approx(4)


def test_network_epf_is_offset_plus_scaled_layer_sum():
    c = gs.Constants(beta=1.3, scale=2e-4, offset=100.0)
    df = gs.variant_counts("mobilenet_v1", "gc", 8)
    s = np.sum(df["macs"] ** (1 - 1.3) * (df["activations"] + df["params"] / 4) ** 1.3)
    assert gs.network_epf("mobilenet_v1", "gc", 8, c, 4) == pytest.approx(100 + 2e-4 * s, rel=1e-12)
    grouped = df[df["grouped"]]
    s_g = np.sum(grouped["macs"] ** (1 - 1.3) * (grouped["activations"] + grouped["params"] / 4) ** 1.3)
    assert gs.network_epf("mobilenet_v1", "gc", 8, c, 4, layers="grouped") == pytest.approx(100 + 2e-4 * s_g)


# -- fitting on synthetic data --------------------------------------------------------------

TRUE = gs.Constants(beta=1.7, scale=3e-4, offset=250.0)


def _synthetic(constants=TRUE, model="mobilenet_v1", batch_sizes=(4,), device="SYN", noise=None):
    rows = []
    for B in batch_sizes:
        c = constants if not isinstance(constants, dict) else constants[B]
        for scheme, k in MOBILENET_VARIANTS:
            rows.append(dict(model=model, scheme=scheme, k=k, batch_size=B, device=device,
                             epf=gs.network_epf(model, scheme, k, c, B)))
    df = pd.DataFrame(rows)
    if noise is not None:
        df["epf"] *= 1 + noise
    return df


def test_fit_recovers_generating_constants():
    fit = gs.fit_epf(_synthetic())
    assert len(fit) == 1
    row = fit.iloc[0]
    assert row["beta"] == pytest.approx(TRUE.beta, rel=1e-6)
    assert row["scale"] == pytest.approx(TRUE.scale, rel=1e-6)
    assert row["offset_mj"] == pytest.approx(TRUE.offset, rel=1e-6)
    assert row["r2"] == pytest.approx(1.0, abs=1e-12) and row["mape_pct"] < 1e-6
    assert not row["beta_in_paper_range"] and row["scale_positive"] and row["offset_nonneg"]


def test_fit_uses_the_frames_input_size():
    """Layer shapes at 112 px (M and A a quarter of 224 px, P unchanged): a fit that read the 224 px
    shapes could not recover the generating constants exactly."""
    frame = _synthetic().assign(input_size=112)
    frame["epf"] = [gs.network_epf("mobilenet_v1", s, k, TRUE, 4, input_size=112)
                    for s, k in zip(frame["scheme"], frame["k"])]
    row = gs.fit_epf(frame).iloc[0]
    assert row["input_size"] == 112
    assert (row["beta"], row["scale"], row["offset_mj"]) == pytest.approx((TRUE.beta, TRUE.scale, TRUE.offset),
                                                                          rel=1e-6)
    wrong = gs.fit_epf(frame.drop(columns="input_size")).iloc[0]  # read as 224 px
    assert wrong["rss"] > 1e-6 * (frame["epf"] ** 2).sum()


def test_fit_recovers_beta_shared_across_batch_sizes():
    cs = {1: gs.Constants(beta=1.4, scale=5e-4, offset=400.0), 16: gs.Constants(beta=1.4, scale=2e-4, offset=120.0)}
    fit = gs.fit_epf(_synthetic(cs, batch_sizes=(1, 16)), by=("model", "device")).set_index("batch_size")
    assert fit["beta"].nunique() == 1 and fit.loc[1, "beta"] == pytest.approx(1.4, rel=1e-6)
    for B, c in cs.items():
        assert fit.loc[B, "scale"] == pytest.approx(c.scale, rel=1e-6)
        assert fit.loc[B, "offset_mj"] == pytest.approx(c.offset, rel=1e-6)


def test_fit_standard_errors_shrink_with_noise():
    noise = np.random.default_rng(0).normal(0, 1, 11)
    small = gs.fit_epf(_synthetic(noise=1e-4 * noise)).iloc[0]
    large = gs.fit_epf(_synthetic(noise=1e-2 * noise)).iloc[0]
    assert 0 < small["beta_se"] < large["beta_se"] and 0 < small["scale_se"] < large["scale_se"]
    assert small["beta"] == pytest.approx(TRUE.beta, abs=5 * small["beta_se"] + 1e-9)


def test_bootstrap_agrees_with_covariance_on_small_noise():
    noise = np.random.default_rng(0).normal(0, 1e-3, 11)
    b = gs.bootstrap_epf(_synthetic(noise=noise), n_boot=30, seed=1).iloc[0]
    assert b["beta_boot_lo"] <= b["beta"] <= b["beta_boot_hi"]
    assert 0.3 < b["beta_boot_sd"] / b["beta_se"] < 3  # same order as sigma^2 (J^T J)^-1
    exact = gs.bootstrap_epf(_synthetic(), n_boot=5, seed=1).iloc[0]
    assert exact["beta_boot_sd"] < 1e-6


def test_predicted_optimum_equals_generating_optimum():
    frame = _synthetic()
    fit = gs.fit_epf(frame)
    opt = gs.optimum_table(frame, fit).set_index("scheme")
    for scheme in ("e2gc", "gc"):
        truth = gs.network_curves("mobilenet_v1", TRUE, 4, scheme)
        assert opt.loc[scheme, "predicted_k_extended"] == truth.loc[truth["epf_model_mj"].idxmin(), "k"]
        measured = frame[frame["scheme"] == scheme].set_index("k")["epf"]
        assert opt.loc[scheme, "predicted_k"] == opt.loc[scheme, "measured_k"] == measured.idxmin()


def test_leave_one_out_noise_free_is_exact():
    loo = gs.leave_one_out(_synthetic())
    assert len(loo) == 11 and set(zip(loo["scheme"], loo["k"])) == set(MOBILENET_VARIANTS)
    assert loo["abs_pct_error"].max() < 1e-5
    s = gs.loo_summary(loo)
    assert len(s) == 1 and s["mape_model"].iloc[0] < 1e-5 and s["mape_mean_baseline"].iloc[0] > 1


def test_normalize_frame_accepts_reference_style_columns():
    # fggc (the E2GC paper's name) and gc are one family; gc2l is not compared by the model: dropped
    raw = pd.DataFrame(dict(model=["mobilenet_v1"] * 5, scheme=["gc", "standard", "e2gc", "FgGC", "gc2l"],
                            k=[8, None, 4, 16, 4], batch_size=[4] * 5, device=["H200"] * 5,
                            epf_total_mj=[1.0, 2.0, np.nan, 3.0, 4.0]))
    df = gs.normalize_frame(raw, value="epf_total_mj")
    assert df[["scheme", "k"]].values.tolist() == [["gc", 8], ["gc", 1], ["gc", 16]]
    alone = gs.normalize_frame(raw.iloc[[1]], value="epf_total_mj")  # standard with no gc row beside it
    assert alone[["scheme", "k"]].values.tolist() == [["gc", 1]]
    with pytest.raises(ValueError):
        gs.normalize_frame(raw.drop(columns="device"), value="epf_total_mj")


def test_one_scheme_vocabulary():
    """The group-size code names the families as ConvScheme does: fggc reads as gc, and both give
    the same network (one cache entry, one curve)."""
    assert [gs.scheme_kind(s) for s in ("gc", "fggc", "FGGC", "e2gc")] == ["gc", "gc", "gc", "e2gc"]
    for bad in ("gc2l", "standard", "gc:8", "fg"):
        with pytest.raises(ValueError, match="scheme must be one of e2gc, gc"):
            gs.scheme_kind(bad)
    a, b = gs.variant_counts("mobilenet_v1", "fggc", 8), gs.variant_counts("mobilenet_v1", "gc", 8)
    assert set(a["scheme"]) == {"gc"} and a.equals(b)
    curve = gs.network_curves("mobilenet_v1", gs.Constants(beta=1.5), 4, scheme="fggc")
    assert set(curve["scheme"]) == {"gc"} and list(curve["k"]) == gs.valid_ks("mobilenet_v1", "gc")


def test_paper_frame_converts_the_papers_name_once():
    """values.csv writes FgGC as fggc (read here with the csv module, not paper.py); the EPF frame has
    every such row as gc and no other name."""
    import csv

    from gconvlib.paper import values_path

    with open(values_path(), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["paper"] == "e2gc" and r["quantity"] == "epf"]
    frame = gs.paper_epf_frame()
    assert set(frame["scheme"]) == {"e2gc", "gc"}
    assert (frame["scheme"] == "gc").sum() == sum(r["scheme"] == "fggc" for r in rows) > 0
    assert (frame["scheme"] == "e2gc").sum() == sum(r["scheme"] == "e2gc" for r in rows) > 0


# -- the paper's P100 / P4000 tables --------------------------------------------------------

@pytest.fixture(scope="module")
def paper_fit():
    frame = gs.paper_epf_frame()
    return frame, gs.fit_epf(frame)


def test_paper_fit_structure(paper_fit):
    frame, fit = paper_fit
    assert len(frame) == 132 and set(frame["device"]) == {"P100", "P4000"}
    assert len(fit) == 12 and (fit["n"] == 11).all() and (fit["p_group"] <= 3).all()
    # the residuals of an independent prediction path (network_epf per row) sum to the fit's RSS
    res = gs.fit_residuals(frame, fit)
    assert res.groupby(["device", "model", "batch_size"])["residual_mj"].apply(lambda r: (r ** 2).sum()).to_numpy() \
        == pytest.approx(fit.set_index(["device", "model", "batch_size"]).sort_index()["rss"].to_numpy(), rel=1e-9)


@pytest.mark.parametrize("device, batch_size", [("P100", 1), ("P4000", 16)])
def test_paper_fit_rss_equals_independent_numpy(paper_fit, mobilenet_hooks, device, batch_size):
    """At the fitted beta, offset and scale must be the ordinary least-squares solution, built here
    from the hook counts (not the module's formulas) and numpy's lstsq."""
    frame, fit = paper_fit
    row = fit[(fit["model"] == "mobilenet_v1") & (fit["device"] == device) & (fit["batch_size"] == batch_size)].iloc[0]
    sub = frame[(frame["model"] == "mobilenet_v1") & (frame["device"] == device) & (frame["batch_size"] == batch_size)]

    def rss_at(beta):
        s = []
        for r in sub.itertuples():
            st = mobilenet_hooks[(r.scheme, r.k)]
            s.append(sum(x.macs ** (1 - beta) * (x.activations + x.params / batch_size) ** beta for x in st))
        X = np.c_[np.ones(len(s)), s]
        coef, *_ = np.linalg.lstsq(X, sub["epf"].to_numpy(), rcond=None)
        r = sub["epf"].to_numpy() - X @ coef
        return r @ r, coef

    rss, coef = rss_at(row["beta"])
    assert row["rss"] == pytest.approx(rss, rel=1e-8)
    assert (row["offset_mj"], row["scale"]) == pytest.approx(tuple(coef), rel=1e-6)
    assert rss_at(row["beta"] - 0.01)[0] > rss and rss_at(row["beta"] + 0.01)[0] > rss  # a local minimum


def test_paper_range_fit_is_reported_not_judged(paper_fit):
    frame, _ = paper_fit
    sub = frame[(frame["device"] == "P100") & (frame["batch_size"] == 1)]
    fit = gs.fit_epf(sub, beta_bounds=gs.PAPER_BETA_RANGE)
    assert ((fit["beta"] >= 0) & (fit["beta"] <= 1)).all() and (fit["beta_lo"] == 0).all()
    assert set(fit.columns) >= {"r2", "scale_positive", "offset_nonneg", "beta_at_bound"}


def test_optimum_table_on_paper(paper_fit):
    frame, fit = paper_fit
    opt = gs.optimum_table(frame, fit)
    assert len(opt) == 24
    # the printed minima, read off Tables III-IV by hand: E2GC always G = 32 (the grid's edge);
    # FgGC MobileNet-V1 always g = 8; ResNeXt-50 P100 B=1 g = 16
    assert (opt.loc[opt["scheme"] == "e2gc", "measured_k"] == 32).all()
    assert opt.loc[opt["scheme"] == "e2gc", "measured_at_edge"].all()
    assert (opt.loc[(opt["scheme"] == "gc") & (opt["model"] == "mobilenet_v1"), "measured_k"] == 8).all()
    one = opt[(opt["model"] == "resnext50") & (opt["scheme"] == "gc") & (opt["device"] == "P100")
              & (opt["batch_size"] == 1)].iloc[0]
    assert (one["measured_k"], one["measured_epf"]) == (16, 1131.0)


def test_leave_one_out_on_paper_group(paper_fit):
    frame, _ = paper_fit
    sub = frame[(frame["device"] == "P100") & (frame["batch_size"] == 16) & (frame["model"] == "resnext50")]
    loo = gs.leave_one_out(sub)
    assert len(loo) == 11
    # the mean baseline, recomputed from the printed table: the mean of the other ten variants
    printed = sub.set_index(["scheme", "k"])["epf"]
    for r in loo.itertuples():
        assert r.pred_mean == pytest.approx(printed.drop((r.scheme, r.k)).mean(), rel=1e-12)

