"""How good the fit is: leave-one-variant-out prediction error against two baselines, and the
predicted optimum next to the measured one."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .fit import _constants_of, _fit_lookup, _group_iter, fit_epf
from .frames import normalize_frame
from .networks import _variant_arrays, network_curves, network_epf

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
                size = int(r.input_size)
                pred = network_epf(model, scheme, int(k), _constants_of(row), int(r.batch_size),
                                   amortize_params, layers, size)
                macs = np.array([_variant_arrays(model, s, int(kk), size)[0].sum()
                                 for s, kk in zip(cell["scheme"], cell["k"])])
                slope, icpt = np.polyfit(macs, cell["epf"].to_numpy(float), 1)
                macs_held = _variant_arrays(model, scheme, int(k), size)[0].sum()
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
    (:func:`valid_ks`; for e2gc G up to the narrowest grouped layer, for gc g >= 1).
    """
    df = normalize_frame(frame, value)
    rows = []
    for (device, B, model, scheme), g in df.groupby(["device", "batch_size", "model", "scheme"], sort=True):
        try:
            frow = _fit_lookup(fit, model, device, int(B))
        except KeyError:
            continue
        c = _constants_of(frow)
        am, lay, size = bool(frow["amortize_params"]), str(frow["layers"]), int(frow["input_size"])
        mean = g.groupby("k")["epf"].mean()
        ks = sorted(mean.index)
        pred = pd.Series({k: network_epf(model, scheme, k, c, int(B), am, lay, size) for k in ks})
        row = dict(device=device, batch_size=int(B), model=model, scheme=scheme,
                   ks="/".join(map(str, ks)), measured_k=int(mean.idxmin()), measured_epf=float(mean.min()),
                   measured_at_edge=int(mean.idxmin()) in (ks[0], ks[-1]),
                   predicted_k=int(pred.idxmin()), predicted_epf=float(pred.min()),
                   model_epf_at_measured_k=float(pred[mean.idxmin()]))
        row["agree"] = row["predicted_k"] == row["measured_k"]
        if extended:
            ext = network_curves(model, c, int(B), scheme, amortize_params=am, layers=lay, input_size=size)
            best = ext.loc[ext["epf_model_mj"].idxmin()]
            row.update(predicted_k_extended=int(best["k"]), predicted_epf_extended=float(best["epf_model_mj"]),
                       extended_range=f"{ext['k'].min()}..{ext['k'].max()}")
        row["beta"] = c.beta
        rows.append(row)
    return pd.DataFrame(rows)
