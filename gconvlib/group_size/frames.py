"""EPF (or time) data in one shape: the paper's printed tables and any measured frame."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from .networks import DEFAULT_INPUT_SIZE, FAMILIES, scheme_kind

# -- data ---------------------------------------------------------------------------------

FRAME_COLUMNS = ("model", "scheme", "k", "batch_size", "device", "epf")


def paper_epf_frame(devices: Sequence[str] | None = None) -> pd.DataFrame:
    """The printed EPF cells of E2GC Tables III-IV as a frame with :data:`FRAME_COLUMNS`; the scheme is
    the canonical kind (``values.csv`` writes the paper's ``fggc``, read here as ``gc``)."""
    from ..paper import load_values

    d = load_values("e2gc", quantity="epf")
    if devices is not None:
        d = d[d["device"].isin(list(devices))]
    # the one place the group-size code meets values.csv's names (paper.py keeps them as printed:
    # the claims registry filters on them)
    out = pd.DataFrame(dict(model=d["model"].astype(str).to_numpy(), scheme=d["scheme"].map(scheme_kind).to_numpy(),
                            k=d["k"].astype(int).to_numpy(), batch_size=d["batch_size"].astype(int).to_numpy(),
                            device=d["device"].astype(str).to_numpy(), epf=d["value"].astype(float).to_numpy()))
    return out.sort_values(["device", "model", "batch_size", "scheme", "k"]).reset_index(drop=True)


def normalize_frame(frame: pd.DataFrame, value: str = "epf") -> pd.DataFrame:
    """Any frame with columns model, scheme, k, batch_size, device and ``value`` -> the standard
    columns (scheme: the canonical kind, ``fggc`` -> ``gc``, ``standard`` -> gc k=1; rows of other
    schemes or without a value dropped), and ``input_size`` (the frame's own column, else the paper's
    224 px: the layer shapes the fit uses)."""
    missing = [c for c in ("model", "scheme", "k", "batch_size", "device", value) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}; needs model, scheme, k, batch_size, device, {value}")
    df = frame.copy()
    scheme = df["scheme"].astype(str).str.lower()
    std = scheme.eq("standard")
    df["k"] = pd.to_numeric(df["k"], errors="coerce")
    df.loc[std, "k"] = 1
    scheme = scheme.where(~std, "gc")
    scheme = scheme.map({s: _family_or_none(s) for s in scheme.unique()})
    out = pd.DataFrame(dict(model=df["model"].astype(str).to_numpy(), scheme=scheme.to_numpy(),
                            k=df["k"].to_numpy(), batch_size=pd.to_numeric(df["batch_size"]).to_numpy(),
                            device=df["device"].astype(str).to_numpy(),
                            epf=pd.to_numeric(df[value], errors="coerce").to_numpy(float),
                            input_size=(pd.to_numeric(df["input_size"]).to_numpy() if "input_size" in df.columns
                                        else DEFAULT_INPUT_SIZE)))
    out = out[out["scheme"].isin(FAMILIES) & out["epf"].notna() & out["k"].notna()]
    out["k"] = out["k"].astype(int)
    out["batch_size"] = out["batch_size"].astype(int)
    out["input_size"] = out["input_size"].astype(int)
    return out.reset_index(drop=True)


def _family_or_none(scheme: str) -> str | None:
    """The canonical family of a frame's scheme, None for the schemes the model does not compare."""
    try:
        return scheme_kind(scheme)
    except ValueError:
        return None
