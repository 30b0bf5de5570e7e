"""The statistics of the EPF protocol, free of any device: coefficient of variation, the stopping
rule, the order of trials, window sizing and the per-cell summary of trials (``measure.protocol``
runs them; tests check them against hand-computed values)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence


# -- pure statistics ----------------------------------------------------------------------------

def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation / mean; NaN for fewer than two values or a zero mean."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return math.nan
    mean = statistics.fmean(values)
    if mean == 0:
        return math.nan
    return statistics.stdev(values) / abs(mean)


def sample_std(values: Sequence[float]) -> float:
    values = [float(v) for v in values]
    return statistics.stdev(values) if len(values) >= 2 else math.nan


def should_stop(values: Sequence[float], min_trials: int, max_trials: int, target_cv: float) -> bool:
    """Stopping rule: never before ``min_trials``, always at ``max_trials``, else when CV <= target."""
    n = len(values)
    if n < min_trials:
        return False
    if n >= max_trials:
        return True
    cv = coefficient_of_variation(values)
    return not math.isnan(cv) and cv <= target_cv


def interleaved_schedule(n_cells: int, is_done: Callable[[int], bool], interleave: bool = True) -> Iterator[int]:
    """Order of trials: yields the index of the cell whose next trial runs now.

    Interleaved: round-robin over the cells not yet done (trial 1 of every one, then trial 2, ...).
    Otherwise one cell after the other. ``is_done`` is asked just before each yield.
    """
    if interleave:
        while True:
            active = [i for i in range(n_cells) if not is_done(i)]
            if not active:
                return
            for i in active:
                if not is_done(i):
                    yield i
    else:
        for i in range(n_cells):
            while not is_done(i):
                yield i


def dynamic_joules(joules: float | None, idle_power_w: float | None, seconds: float) -> float | None:
    """Energy above active idle: ``E - P_idle * t``; ``None`` if either input is missing.

    Not clipped at 0: a negative value means the idle estimate was off, and hiding it would not help.
    """
    if joules is None or idle_power_w is None:
        return None
    return joules - idle_power_w * seconds


def steps_for_window(step_seconds: float, window_s: float, margin: float = 1.0) -> int:
    """Steps so that a window lasts at least ``window_s``."""
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    if step_seconds <= 0 or not math.isfinite(step_seconds):
        raise ValueError(f"step time must be a positive number, got {step_seconds}")
    return max(1, math.ceil(window_s * margin / step_seconds))


def calibrate_step_seconds(time_steps: Callable[[int], float], min_seconds: float,
                           max_steps: int = 1 << 20) -> float:
    """Seconds per step from timing runs of growing length until one lasts ``min_seconds``.

    ``time_steps(n)`` runs n steps (synchronised) and returns the elapsed seconds.
    """
    n = 1
    while True:
        elapsed = time_steps(n)
        if elapsed >= min_seconds or n >= max_steps:
            return max(elapsed, 1e-9) / n
        grow = 1.2 * min_seconds / elapsed if elapsed > 0 else 100.0
        n = min(max_steps, max(2 * n, math.ceil(n * min(grow, 100.0))))


@dataclass(frozen=True)
class TrialResult:
    """One window: ``steps`` steps in ``seconds`` of device time; ``joules`` their energy (None
    without an energy source); ``watts`` the average power of the aligned interval."""

    steps: int
    seconds: float
    joules: float | None
    watts: float | None = None
    counter_seconds: float = math.nan
    aligned: bool = False
    unavailable_reason: str | None = None
    note: str | None = None
    telemetry: dict | None = None
    uncertainty_s: float = math.nan   # how exactly the window's two ends are timed (sum of both)


def summarize_trials(trials: Sequence[TrialResult], batch_size: int, idle_power_w: float | None) -> dict:
    """Per-cell numbers from its trials: means over trials, their sample std, the CV (EPF in mJ
    per frame; of the time per step where energy is unavailable)."""
    ms = [1000.0 * t.seconds / t.steps for t in trials]
    energy = all(t.joules is not None for t in trials)
    out: dict[str, Any] = {
        "ms_per_step": statistics.fmean(ms), "ms_std": sample_std(ms),
        "frames_per_s": batch_size * 1000.0 / statistics.fmean(ms),
        "cv_time": coefficient_of_variation(ms), "trials": len(trials),
        "trial_ms_per_step": [round(v, 6) for v in ms],
        "window_s": statistics.fmean(t.seconds for t in trials),
        "aligned": all(t.aligned for t in trials),
        "align_uncertainty_s": max((t.uncertainty_s for t in trials if not math.isnan(t.uncertainty_s)),
                                   default=None),
        "energy": "measured" if energy else
        f"unavailable: {next(t.unavailable_reason for t in trials if t.joules is None) or 'no energy source'}",
        "epf_total_mj": None, "epf_dynamic_mj": None, "epf_std_mj": None, "avg_power_w": None,
        "trial_epf_mj": None, "cv": coefficient_of_variation(ms), "cv_quantity": "ms_per_step",
    }
    if energy:
        frames = [t.steps * batch_size for t in trials]
        epf = [1000.0 * t.joules / f for t, f in zip(trials, frames)]
        watts = [t.watts if t.watts is not None else t.joules / t.seconds for t in trials]
        out.update(epf_total_mj=statistics.fmean(epf), epf_std_mj=sample_std(epf),
                   avg_power_w=statistics.fmean(watts), trial_epf_mj=[round(v, 6) for v in epf],
                   cv=coefficient_of_variation(epf), cv_quantity="epf_total_mj")
        if idle_power_w is not None:
            dyn = [1000.0 * dynamic_joules(t.joules, idle_power_w, t.seconds) / f for t, f in zip(trials, frames)]
            out["epf_dynamic_mj"] = statistics.fmean(dyn)
    return out


def stopping_values(trials: Sequence[TrialResult], batch_size: int) -> list[float]:
    """What the stopping rule looks at: EPF per trial, or time per step where energy is missing."""
    if all(t.joules is not None for t in trials):
        return [t.joules / (t.steps * batch_size) for t in trials]
    return [t.seconds / t.steps for t in trials]


def summarize_telemetry(trials: Sequence[TrialResult]) -> dict | None:
    """GPU telemetry per trial as series (temperatures, clocks, power) and the throttle reasons seen."""
    tel = [t.telemetry for t in trials if t.telemetry]
    if not tel:
        return None

    def series(key):
        return [t.get(key) for t in tel]

    reasons = sorted({r for t in tel for r in (t.get("throttle_reasons") or [])})
    return {"throttle_reasons": reasons,
            **{k: series(k) for k in ("temperature_gpu_c", "temperature_memory_c", "sm_clock_mhz",
                                      "memory_clock_mhz", "power_w")}}


__all__ = ["TrialResult", "calibrate_step_seconds", "coefficient_of_variation", "dynamic_joules",
           "interleaved_schedule", "sample_std", "should_stop", "steps_for_window", "stopping_values",
           "summarize_telemetry", "summarize_trials"]
