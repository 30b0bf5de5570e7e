"""The least-squares fit of EPF = offset + scale * sum_l M^(1-beta) (A + P/B)^beta (variable
projection over beta), its standard errors, a residual bootstrap and predictions."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from .equations import PAPER_BETA_RANGE, Constants
from .frames import normalize_frame
from .networks import _cost_sum_and_derivative, _variant_arrays, network_epf

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
        sizes = self.df.groupby(["model", "batch_size"])["input_size"].nunique()
        if (sizes > 1).any():  # one cell, one offset and scale: the layer shapes must be one network's
            raise ValueError(f"one fit cell mixes input sizes: {sizes[sizes > 1].index.tolist()}; fit them apart")
        self.input_size = [int(self.df.loc[self.cell == j, "input_size"].iloc[0]) for j in range(len(cells))]
        self.arrays = [_variant_arrays(r.model, r.scheme, int(r.k), int(r.input_size))
                       for r in self.df.itertuples()]
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

    ``frame``: columns model, scheme (e2gc | gc; fggc reads as gc, standard as gc k=1), k,
    batch_size, device and ``value`` (mJ per frame; repeats allowed). ``by``: the fit groups; beta is shared within a
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
            row.update(model=model, device=g["device"].iloc[0], batch_size=int(B), input_size=p.input_size[j])
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
                                 input_size=int(row["input_size"]), amortize_params=bool(row["amortize_params"]),
                                 layers=str(row["layers"])))
    return pd.Series(preds, index=frame.index, name="epf_pred")


def fit_residuals(frame: pd.DataFrame, fit: pd.DataFrame, value: str = "epf") -> pd.DataFrame:
    """Observed vs fitted EPF per point: ..., epf, epf_pred, residual_mj, pct_error."""
    df = normalize_frame(frame, value)
    df["epf_pred"] = predict_epf(fit, df)
    df["residual_mj"] = df["epf"] - df["epf_pred"]
    df["pct_error"] = 100 * df["residual_mj"] / df["epf"]
    return df
