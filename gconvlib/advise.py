"""``gconv advise``: which group size G for this model on this device, measured, fitted and checked.

E2GC's Eq. 1 weighs saved MACs against lost data reuse with platform constants, and Eq. 4 makes a
constant group size G = const_1 the rule, "fixed for a particular DNN on a particular hardware
platform"; the paper reads const_1 off tables for two 2017 GPUs. Here the same model
(:mod:`gconvlib.group_size`: value = offset + scale * sum_l M^(1-beta) (A + P/B)^beta) is fitted
to a handful of measurements made on the device at hand:

1. an initial design, :data:`INITIAL` (both ends of each family and a middle E2GC G: enough for
   offset, scale and beta with two degrees of freedom left);
2. then one variant at a time where the fit is least sure: among the unmeasured variants that
   could still beat the best measured one of their family (prediction minus :data:`BAND` standard
   errors below it) the one whose prediction has the largest standard error (delta method on the
   fit's covariance). It stops when no variant could, when all are measured, or when what is left
   of the budget would not cover one more cell;
3. the recommendation: the E2GC G with the lowest fitted value, its predicted and measured saving
   against G = 1 and against FgGC's best g, the fit's leave-one-out error, and whether the measured
   optimum is within noise of its measured neighbours.

Every measurement is a results-store record made by the measurement cells and protocol of
:mod:`gconvlib.measure` (:func:`gconvlib.measure.sources.measure_here`): a second call with the same
arguments reads them back and measures nothing, and one stopped by its budget continues where it
stopped (the search depends only on the measured values, so a call replays the same path). On a
CPU the value is time per frame (the fastest window's step time / B), never energy; on a GPU with
an energy counter it is EPF (mJ per frame), with the time beside it. The protocol is the one the
book's e2gc_energy chapter measures with (:meth:`gconvlib.measure.protocol.EpfProtocol.measured_here`),
so their records are shared.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from . import group_size as gs
from .layers import ConvScheme
from .layers.factory import kind_label
from .measure.experiments import E2GC_VARIANTS

UNITS = {"time": "ms/frame", "energy": "mJ/frame"}
#: the saving's reference: E2GC G = 1 (depthwise where the layers allow)
REFERENCE = ConvScheme("e2gc", group_size=1).text
#: measured first: the reference, a middle G and the largest; GC's (the E2GC paper's FgGC) ends
INITIAL = (REFERENCE, "e2gc:4", "e2gc:32", "gc:4", "gc:32")
#: how the E2GC paper names the two families in the advice's text
E2GC, FGGC = kind_label("e2gc", "e2gc"), kind_label("gc", "e2gc")
#: a variant "could beat" the best measured one when its prediction minus BAND standard errors does
BAND = 2.0
#: seconds of the budget kept back for the last fit and the leave-one-out refits
RESERVE_S = 4.0


@dataclass(frozen=True)
class Measurement:
    """One measured variant (``e2gc:G`` / ``gc:g``): time per frame (ms) and, where an energy
    counter was read, EPF (mJ), each with its per-trial values."""

    variant: str
    time_ms: float
    time_trials: tuple = ()
    energy_mj: float = math.nan
    energy_trials: tuple = ()
    cv: float = math.nan
    status: str = "ok"
    record_key: str | None = None

    def value(self, metric: str) -> float:
        return self.energy_mj if metric == "energy" else self.time_ms

    def trials(self, metric: str) -> tuple:
        return self.energy_trials if metric == "energy" else self.time_trials

    def ok(self, metric: str) -> bool:
        v = self.value(metric)
        return self.status == "ok" and v is not None and math.isfinite(v)

    def spread(self, metric: str) -> float:
        """max - min over the trials: the noise a neighbour's difference is compared with."""
        t = self.trials(metric)
        return float(max(t) - min(t)) if len(t) >= 2 else 0.0


@lru_cache(maxsize=None)  # called for every candidate at every step of the search
def _family(variant: str) -> tuple[str, int]:
    """``"gc:8"`` -> (``gc``, 8): the family and its group parameter (G or g), as ConvScheme reads it."""
    scheme = ConvScheme.parse(variant)
    if scheme.kind not in gs.FAMILIES:
        raise ValueError(f"{variant!r} is not an E2GC or GC variant (e2gc:<G> or gc:<g>)")
    return scheme.kind, scheme.k


def candidates_for(model: str, input_size: int) -> list[str]:
    """The paper's variants (:data:`gconvlib.measure.experiments.E2GC_VARIANTS`) the model's grouped
    layers allow; ValueError, in one line, for a model without E2GC / FgGC variants."""
    try:
        allowed = {fam: set(gs.valid_ks(model, fam, input_size)) for fam in gs.FAMILIES}
    except (ValueError, KeyError) as e:   # an unknown model, or one whose layers take no E2GC / FgGC grouping
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{model} has no {E2GC}/{FGGC} variants to compare ({type(e).__name__}: {first}); "
                         "advise works for mobilenet_v1, resnext50") from None
    out = [v for v in E2GC_VARIANTS if _family(v)[1] in allowed[_family(v)[0]]]
    if not any(_family(v)[0] == "e2gc" for v in out):
        raise ValueError(f"{model}: none of the paper's group sizes divides its grouped layers")
    return out


# -- the fit and its uncertainty ------------------------------------------------------------------

@dataclass
class FitState:
    """The fit to the measured variants and each candidate's prediction with its standard errors
    (``se``: of the fitted mean; ``se_new``: of a new measurement, adding the larger of the residual
    variance and the median variance of a variant's trials)."""

    row: pd.Series
    mu: dict
    se: dict
    se_new: dict
    sigma: float


def fit_measurements(model: str, measured: Sequence[Measurement], candidates: Sequence[str], metric: str,
                     batch_size: int, input_size: int, device: str = "device") -> FitState:
    """:func:`gconvlib.group_size.fit_epf` on the successful measurements, then every candidate's
    prediction with its standard error by the delta method: the gradient in (offset, scale, beta)
    through s^2 (J^T J)^-1, J the gradients at the measured variants (beta left out at a bound)."""
    ok = [m for m in measured if m.ok(metric)]
    if len(ok) < 4:
        bad = [f"{m.variant}: {m.status}" for m in measured if not m.ok(metric)]
        raise ValueError(f"only {len(ok)} of {len(measured)} variants measured successfully and the fit needs 4"
                         + (f" (first failure: {bad[0]})" if bad else ""))
    frame = pd.DataFrame([dict(model=model, scheme=_family(m.variant)[0], k=_family(m.variant)[1],
                               batch_size=batch_size, device=device, input_size=input_size, value=m.value(metric))
                          for m in ok])
    row = gs.fit_epf(frame, value="value").iloc[0]
    beta, scale, offset = float(row["beta"]), float(row["scale"]), float(row["offset_mj"])

    def grad(variant):
        s, ds = gs.network_cost(model, _family(variant)[0], _family(variant)[1], beta, batch_size,
                                input_size=input_size)
        g = [1.0, s] + ([] if row["beta_at_bound"] else [scale * ds])
        return offset + scale * s, np.array(g)

    J = np.array([grad(m.variant)[1] for m in ok])
    dof = len(ok) - J.shape[1]
    sigma2 = float(row["rss_group"]) / dof if dof > 0 else math.inf
    norms = np.linalg.norm(J, axis=0)
    norms[norms == 0] = 1.0
    try:  # columns scaled first: 1, S (~1e3) and scale dS/dbeta differ by orders of magnitude
        cov = np.linalg.inv((J / norms).T @ (J / norms)) / np.outer(norms, norms)
    except np.linalg.LinAlgError:
        cov = np.full((J.shape[1],) * 2, math.inf)
    # a new measurement scatters by the fit's residual or by the trials' own spread, whichever is larger
    # (a good fit to five fastest windows can leave residuals far below the windows' scatter)
    sds = [statistics.stdev(m.trials(metric)) for m in ok if len(m.trials(metric)) >= 2]
    noise2 = max(sigma2, statistics.median(sds) ** 2 if sds else 0.0)
    mu, se, se_new = {}, {}, {}
    for v in candidates:
        mu[v], g = grad(v)
        var = float(g @ cov @ g) * sigma2 if math.isfinite(sigma2) else math.inf
        se[v] = math.sqrt(max(var, 0.0)) if math.isfinite(var) else math.inf
        se_new[v] = math.sqrt(se[v] ** 2 + noise2) if math.isfinite(se[v]) else math.inf
    return FitState(row, mu, se, se_new, math.sqrt(sigma2) if math.isfinite(sigma2) else math.inf)


def next_variant(state: FitState, measured: dict, todo: Sequence[str], metric: str) -> str | None:
    """Where the fit is least sure among the variants that could still beat their family's best."""
    best = {}
    for v, m in measured.items():
        if m.ok(metric):
            fam = _family(v)[0]
            best[fam] = min(best.get(fam, math.inf), m.value(metric))
    plausible = [v for v in todo if state.mu[v] - BAND * state.se_new[v] < best.get(_family(v)[0], math.inf)]
    if not plausible:
        return None
    widest = max(state.se[v] for v in plausible)
    if not math.isfinite(widest) or widest > 1e-9 * max(abs(state.mu[v]) for v in plausible):
        return max(plausible, key=lambda v: state.se[v])  # first in candidate order on ties
    return min(plausible, key=lambda v: state.mu[v])  # an exact fit: the lowest prediction


# -- the search -----------------------------------------------------------------------------------

@dataclass
class Advice:
    """What :func:`search` found; :meth:`table`, :meth:`lines` and :meth:`summary_line` print it."""

    model: str
    device: str
    metric: str
    batch_size: int
    input_size: int
    candidates: list
    measured: dict
    order: list
    state: FitState
    stop_reason: str
    new: int = 0
    cached: int = 0
    loo: pd.DataFrame = field(default_factory=pd.DataFrame)
    complete: list = field(default_factory=list)

    @property
    def unit(self) -> str:
        return UNITS[self.metric]

    def _value(self, v: str) -> float:
        m = self.measured.get(v)
        return m.value(self.metric) if m is not None and m.ok(self.metric) else math.nan

    @staticmethod
    def _best(family: str, values: dict) -> str | None:
        got = {v: x for v, x in values.items() if _family(v)[0] == family and math.isfinite(x)}
        return min(got, key=got.get) if got else None

    @property
    def recommended(self) -> str:
        return self._best("e2gc", {v: self.state.mu[v] for v in self.candidates})

    @property
    def measured_best(self) -> str | None:
        return self._best("e2gc", {v: self._value(v) for v in self.measured})

    @property
    def gc_best(self) -> str | None:
        """The measured best GC variant (the E2GC paper's FgGC)."""
        return self._best("gc", {v: self._value(v) for v in self.measured})

    def saving_pct(self, against: str | None, predicted: bool) -> float:
        """100 (cost(against) - cost(recommended)) / cost(against): > 0 when the recommendation saves."""
        if against is None:
            return math.nan
        cost = self.state.mu if predicted else {v: self._value(v) for v in self.candidates}
        a, r = cost.get(against, math.nan), cost.get(self.recommended, math.nan)
        return 100.0 * (a - r) / a if a and math.isfinite(a) and math.isfinite(r) else math.nan

    @property
    def loo_error_pct(self) -> float:
        return float(self.loo["abs_pct_error"].mean()) if len(self.loo) else math.nan

    def tied(self) -> list[str]:
        """The measured best E2GC variant and each measured neighbour (next smaller, next larger G)
        that is closer to it than the larger of their two trial spreads: within noise of it."""
        best = self.measured_best
        if best is None:
            return []
        sizes = sorted(_family(v)[1] for v, m in self.measured.items()
                       if _family(v)[0] == "e2gc" and m.ok(self.metric))
        i = sizes.index(_family(best)[1])
        b = self.measured[best]
        near = [ConvScheme("e2gc", group_size=G).text for G in sizes[max(i - 1, 0):i] + sizes[i + 1:i + 2]]
        return sorted([best] + [v for v in near if self._value(v) - b.value(self.metric)
                                <= max(b.spread(self.metric), self.measured[v].spread(self.metric))],
                      key=lambda v: _family(v)[1])

    def noise_note(self) -> str:
        """"G = 8 or 16: within noise" when :meth:`tied` names more than the measured best, else
        "G = 8: outside its measured neighbours' spread"."""
        tied = self.tied()
        if not tied:
            return f"no {E2GC} variant measured"
        ks = [str(_family(v)[1]) for v in tied]
        sizes = ks[0] if len(ks) == 1 else f"{', '.join(ks[:-1])} or {ks[-1]}"
        return f"G = {sizes}: " + ("within noise" if len(tied) > 1 else "outside its measured neighbours' spread")

    def per_layer_note(self) -> str | None:
        """The fitted model's best G per grouped layer, when it is not one G for all of them."""
        c = gs.Constants(beta=float(self.state.row["beta"]), scale=float(self.state.row["scale"]),
                         offset=float(self.state.row["offset_mj"]))
        per = gs.per_layer_optimum(self.model, c, self.batch_size, input_size=self.input_size)
        counts = per["energy_G_best"].value_counts().sort_index()
        if len(counts) <= 1:
            return None
        return ("per layer, the fitted model's best G differs: "
                + ", ".join(f"G = {G} ({n} layer{'s' if n > 1 else ''})" for G, n in counts.items()))

    def table(self) -> pd.DataFrame:
        rows = []
        for v in self.candidates:
            m = self.measured.get(v)
            rows.append(dict(variant=v, order=self.order.index(v) + 1 if v in self.order else None,
                             measured=self._value(v), spread=m.spread(self.metric) if m else math.nan,
                             time_ms=m.time_ms if m else math.nan, cv_pct=100 * m.cv if m else math.nan,
                             predicted=self.state.mu[v], predicted_se=self.state.se[v],
                             status=m.status if m else ("measured after the search" if v in self.complete
                                                        else "not measured")))
        return pd.DataFrame(rows)

    def summary_line(self) -> str:
        g = lambda v: _family(v)[1] if v else "nan"  # noqa: E731
        return (f"recommended_G={g(self.recommended)} measured_best_G={g(self.measured_best)} "
                f"predicted_saving_pct={self.saving_pct(REFERENCE, True):.1f} "
                f"measured_saving_pct={self.saving_pct(REFERENCE, False):.1f} loo_error_pct={self.loo_error_pct:.1f}")

    def lines(self) -> list[str]:
        r = self.state.row
        rec, fg = self.recommended, self.gc_best
        out = [f"{self.model} on {self.device}, B = {self.batch_size}, {self.input_size} px: {self.metric} "
               f"({self.unit}); {len(self.order)} variants measured by the search ({self.new} now, "
               f"{self.cached} read from the store); stopped: {self.stop_reason}",
               self.table().to_string(index=False, float_format=lambda x: f"{x:.4g}"),
               f"fit: beta = {r['beta']:.3f} +- {r['beta_se']:.3f}, scale = {r['scale']:.4g} +- {r['scale_se']:.2g}, "
               f"offset = {r['offset_mj']:.4g} +- {r['offset_se']:.2g} {self.unit}; in-sample R^2 {r['r2']:.3f}; "
               f"leave-one-out error {self.loo_error_pct:.1f} %",
               f"recommended: {E2GC} G = {_family(rec)[1]}; saving against G = 1: predicted "
               f"{self.saving_pct(REFERENCE, True):.1f} %, measured {self.saving_pct(REFERENCE, False):.1f} %"
               + (f"; against {FGGC}'s best measured g = {_family(fg)[1]}: predicted "
                  f"{self.saving_pct(fg, True):.1f} %, measured {self.saving_pct(fg, False):.1f} %" if fg else ""),
               f"measured best: {self.noise_note()}"]
        layer = self.per_layer_note()
        if layer:
            out.append(layer)
        return out + [self.summary_line()]


def search(model: str, measure: Callable[[list], tuple[list, int]], *, batch_size: int = 1, input_size: int = 224,
           metric: str = "time", device: str = "device", candidates: Sequence[str] | None = None,
           initial: Sequence[str] = INITIAL, budget_s: float | None = 60.0, reserve_s: float = RESERVE_S,
           complete: bool = False, clock: Callable[[], float] = time.monotonic, spent_s: float = 0.0,
           log: Callable[[str], object] | None = None) -> Advice:
    """Measure, fit, choose the next variant, until done (module docstring); returns the :class:`Advice`.

    ``measure(variants)`` returns ``(measurements, n_new)``: one :class:`Measurement` per variant and
    how many were measured now (the rest read from a store). ``metric``: "time", "energy" or "auto"
    (energy when every initial measurement has it). ``complete``: after the search, measure the
    variants it left out too (for the check against the full sweep; budget permitting). ``spent_s``:
    seconds of the budget already used before the call (a command's start-up)."""
    say = log or (lambda msg: None)
    candidates = list(candidates) if candidates is not None else candidates_for(model, input_size)
    start, measured, order, spent = clock() - spent_s, {}, [], {"per_cell": None, "new": 0, "cached": 0}

    def take(variants):
        t0 = clock()
        got, n_new = measure(list(variants))
        if n_new:
            spent["per_cell"] = max(spent["per_cell"] or 0.0, (clock() - t0) / n_new)
        spent["new"] += n_new
        spent["cached"] += sum(not m.status.startswith("not ") for m in got) - n_new  # "not ...": no record
        for m in got:
            measured[m.variant] = m
        return got

    def affordable() -> bool:
        if budget_s is None or spent["per_cell"] is None:
            return True
        return budget_s - (clock() - start) - reserve_s >= spent["per_cell"]

    for m in take([v for v in initial if v in candidates]):
        order.append(m.variant)
    if metric == "auto":
        ok = [m for m in measured.values() if m.status == "ok"]   # none ok: time, whose error says why
        metric = "energy" if ok and all(m.ok("energy") for m in ok) else "time"
        say(f"metric: {metric}")
    elif metric == "energy" and not any(m.ok("energy") for m in measured.values()):
        raise ValueError(f"energy is not measured on {device} (no energy counter read); use --metric time")
    stop = "all variants measured"
    while True:
        state = fit_measurements(model, list(measured.values()), candidates, metric, batch_size, input_size, device)
        todo = [v for v in candidates if v not in measured]
        if not todo:
            break
        nxt = next_variant(state, measured, todo, metric)
        if nxt is None:
            stop = f"no unmeasured variant could beat its family's best (prediction - {BAND:g} se)"
            break
        if not affordable():
            stop = "budget spent (run again to continue)"
            break
        say(f"next: {nxt} (predicted {state.mu[nxt]:.4g} +- {state.se[nxt]:.2g})")
        order.extend(m.variant for m in take([nxt]))
    rec = Advice._best("e2gc", {v: state.mu[v] for v in candidates})   # as Advice.recommended
    extra = [v for v in candidates if v not in measured] if complete else ([rec] if rec not in measured else [])
    if extra and affordable():
        take(extra)  # checked against, not fitted: the recommendation stays the search's
    advice = Advice(model, device, metric, batch_size, input_size, candidates, measured, order, state, stop,
                    spent["new"], spent["cached"], complete=[v for v in extra if v in measured])
    advice.loo = _loo(advice)
    return advice


def _loo(advice: Advice) -> pd.DataFrame:
    """Leave-one-variant-out over the variants the search measured (the fit it recommends from)."""
    ok = [advice.measured[v] for v in advice.order if advice.measured[v].ok(advice.metric)]
    if len(ok) < 5:  # leaving one out must leave the 4 a fit needs
        return pd.DataFrame()
    frame = pd.DataFrame([dict(model=advice.model, scheme=_family(m.variant)[0], k=_family(m.variant)[1],
                               batch_size=advice.batch_size, device=advice.device, input_size=advice.input_size,
                               value=m.value(advice.metric)) for m in ok])
    return gs.leave_one_out(frame, value="value")


# -- on a real device -----------------------------------------------------------------------------

def measurement_of(row: pd.Series) -> Measurement:
    """A :class:`Measurement` from a row of :func:`gconvlib.measure.analysis.frame` (one EPF record):
    time per frame = the fastest window's step time / B; EPF where the energy counter was read."""
    B = int(row["batch_size"])
    trials = tuple(float(t) / B for t in (row.get("trial_ms_per_step") or []))
    epf = row.get("epf_total_mj")
    energy = tuple(float(t) for t in (row.get("trial_epf_mj") or [])) if row.get("trial_epf_mj") is not None else ()
    ms = row.get("ms_fastest")
    return Measurement(str(row["variant"]), float(ms) / B if ms is not None and pd.notna(ms) else math.nan, trials,
                       float(epf) if epf is not None and pd.notna(epf) else math.nan, energy,
                       float(row.get("cv")) if pd.notna(row.get("cv")) else math.nan, str(row["status"]),
                       row.get("record_key"))


def device_measure(model: str, device: str = "cpu", batch_size: int = 1, input_size: int | None = None, *,
                   store=None, threads: int | None = None, protocol=None, profile: str | None = "advise",
                   log: Callable[[str], object] | None = None) -> Callable[[list], tuple[list, int]]:
    """The ``measure`` of :func:`search` on this machine: the EPF cells and protocol of
    :mod:`gconvlib.measure`, each cell a record in ``store`` (default: this machine's results store);
    ``protocol`` (default: :meth:`~gconvlib.measure.protocol.EpfProtocol.measured_here`)."""
    from .measure.protocol import EpfCell, EpfProtocol
    from .measure.records import EPF
    from .measure.sources import measure_here
    from .models import ModelSpec

    protocol = protocol if protocol is not None else EpfProtocol.measured_here()

    def measure(variants):
        cells = [EpfCell(ModelSpec(model, v, input_size=input_size), batch_size) for v in variants]
        frame, counts = measure_here(EPF, cells, device, epf_protocol=protocol, threads=threads, store=store,
                                     profile=profile, group_of=lambda cell: 0, log=log)
        rows = {r["spec"]: r for _, r in frame.iterrows()}
        out = [measurement_of(rows[c.spec.text]) if c.spec.text in rows else
               Measurement(v, math.nan, status="failed: no record") for v, c in zip(variants, cells)]
        return out, int(counts["measured"])

    return measure


def advise(model: str, device: str = "cpu", batch_size: int = 1, input_size: int | None = None, *,
           budget_s: float | None = 60.0, metric: str | None = None, out: Path | str | None = None, store=None,
           threads: int | None = None, protocol=None, complete: bool = False, profile: str | None = "advise",
           spent_s: float = 0.0, log: Callable[[str], object] | None = None) -> Advice:
    """:func:`search` on this machine's ``device``. ``metric``: None = energy on a GPU where its counter
    is read, else time. ``out``: a store root for the records, with a CSV beside them (e.g.
    ``data/results/reference/<device>/`` to contribute them); ``threads``: CPU threads (None: 1 on a
    CPU, the e2gc_energy chapter's setting; all on a GPU host)."""
    from .measure.protocol import device_name, resolve_device
    from .models import ModelSpec
    from .store import ResultsStore

    if metric not in (None, *UNITS):
        raise ValueError(f"metric must be one of {', '.join(UNITS)}, got {metric!r}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    device = resolve_device(device)
    size = ModelSpec(model, input_size=input_size).input_size
    if threads is None and device == "cpu":
        threads = 1
    if out is not None:
        store = ResultsStore(out)
    measure = device_measure(model, device, batch_size, input_size, store=store, threads=threads,
                             protocol=protocol, profile=profile, log=log)
    advice = search(model, measure, batch_size=batch_size, input_size=size,
                    metric=metric or ("auto" if device.startswith("cuda") else "time"), device=device_name(device),
                    budget_s=budget_s, complete=complete, spent_s=spent_s, log=log)
    if out is not None:
        export(advice, store)
    return advice


def process_age_s() -> float:
    """Seconds since this process started (Linux; 0 elsewhere): a command's budget includes the
    seconds Python spent importing torch before the command ran."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = float(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def export(advice: Advice, store) -> list[Path]:
    """The records of every measured variant as ``advise_<device>.csv`` beside the store's records."""
    from .measure.records import EPF, export_csv

    keys = {m.record_key for m in advice.measured.values() if m.record_key}
    return export_csv([r for r in store.records(EPF) if r["key"] in keys], "advise", store.root)


# -- results contributed from other devices --------------------------------------------------------

def other_devices(root: Path | str | None = None) -> pd.DataFrame:
    """E2GC / FgGC measurements under ``<root>/<device>/`` (default ``data/results/reference/``): a
    results store that ``gconv advise --out`` or ``gconv reference --out`` wrote (its EPF records),
    or only its CSVs. One row per (device folder, model variant, batch size), the newest record:
    folder, device, model, variant, scheme, k, batch_size, input_size, time_ms (per frame, fastest
    window), epf_mj (NaN where no energy was measured), trials, time_trials and epf_trials (the
    per-trial values, per frame), ok, status."""
    from .measure import analysis as A
    from .measure.records import EPF, latest_records, read_csv
    from .store import REFERENCE_DIR, ResultsStore

    root = Path(root) if root is not None else REFERENCE_DIR
    frames = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        if (folder / EPF).is_dir():  # a store: its records
            rows = A.frame(latest_records(ResultsStore(folder), EPF))
        elif any(folder.glob("*.csv")):  # CSVs only: the same columns, lists written as JSON
            rows = pd.concat([read_csv(p) for p in sorted(folder.glob("*.csv"))], ignore_index=True)
            rows = _csv_rows(rows)
        else:
            continue  # a store kind of the root itself (epf/, latency/, ...), not a device folder
        if len(rows):
            frames.append(rows.assign(folder=folder.name))
    columns = ["folder", "device", "model", "variant", "scheme", "k", "batch_size", "input_size", "time_ms",
               "epf_mj", "trials", "time_trials", "epf_trials", "ok", "status"]
    if not frames:
        return pd.DataFrame(columns=columns)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["scheme"].isin(gs.FAMILIES)]
    ms = pd.to_numeric(rows["ms_fastest"], errors="coerce")
    epf = pd.to_numeric(rows.get("epf_total_mj", pd.Series(index=rows.index, dtype=float)), errors="coerce")
    B = rows["batch_size"].astype(int)
    listed = lambda col: rows[col] if col in rows.columns else pd.Series(None, index=rows.index)  # noqa: E731
    out = rows.assign(time_ms=ms / B, epf_mj=epf,
                      time_trials=[tuple(t / b for t in v) if isinstance(v, list) else ()
                                   for v, b in zip(listed("trial_ms_per_step"), B)],
                      epf_trials=[tuple(v) if isinstance(v, list) else () for v in listed("trial_epf_mj")])
    return out.drop_duplicates(["folder", "model", "variant", "batch_size", "input_size"], keep="last")[columns] \
        .reset_index(drop=True)


def _csv_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """A reference CSV (``export_csv``) in the shape of :func:`gconvlib.measure.analysis.frame`."""
    import json

    from .models import ModelSpec

    out = []
    for r in rows.to_dict("records"):
        try:
            spec = ModelSpec.parse(str(r["model"]))
        except ValueError:
            continue
        trials = json.loads(r["trial_ms_per_step"]) if isinstance(r.get("trial_ms_per_step"), str) else None
        epf_trials = json.loads(r["trial_epf_mj"]) if isinstance(r.get("trial_epf_mj"), str) else None
        out.append(dict(device=r.get("device"), model=spec.model, variant=spec.scheme, scheme=spec.kind, k=spec.k,
                        batch_size=int(r["batch_size"]), input_size=spec.input_size, trials=r.get("trials"),
                        ms_fastest=min(trials) if trials else r.get("ms_per_step"), trial_ms_per_step=trials,
                        trial_epf_mj=epf_trials,
                        epf_total_mj=r.get("epf_total_mj"), status=str(r.get("status")),
                        ok=str(r.get("status")) == "ok"))
    return pd.DataFrame(out)


def replay(rows: pd.DataFrame, metric: str = "time", complete: bool = True) -> Advice:
    """:func:`search` over stored measurements of one device, model, batch size and input size (the
    rows of :func:`other_devices`): the advice that device's numbers give; nothing is measured."""
    first = rows.iloc[0]
    have = {r["variant"]: Measurement(r["variant"], float(r["time_ms"]), tuple(r["time_trials"]), float(r["epf_mj"]),
                                      tuple(r["epf_trials"]), status=str(r["status"]))
            for r in rows.to_dict("records")}

    def measure(variants):
        return [have.get(v, Measurement(v, math.nan, status="not among its results")) for v in variants], 0

    return search(str(first["model"]), measure, batch_size=int(first["batch_size"]),
                  input_size=int(first["input_size"]), metric=metric, device=str(first["device"]), budget_s=None,
                  complete=complete)
