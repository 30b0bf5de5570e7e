"""EPF protocol: pure statistics, configurations, invalid input, and the CPU path end to end."""
from __future__ import annotations

import math

import pytest
import torch

from gconvlib.measure import meters as M
from gconvlib.measure import protocol as P


pytestmark = pytest.mark.usefixtures("one_thread")


FAST = P.EpfProtocol(warmup_steps=1, window_s=0.05, min_trials=2, max_trials=3, cooldown_s=0.0,
                     idle_s=0.02, calibration_s=0.02)
TINY = dict(num_classes=10, input_size=64)  # 64 px: BN still sees 2x2 at the last stage with B=1


# -- statistics ---------------------------------------------------------------------------------

def test_coefficient_of_variation():
    assert P.coefficient_of_variation([5.0, 5.0, 5.0]) == 0.0
    assert P.coefficient_of_variation([1.0, 2.0, 3.0]) == pytest.approx(0.5)  # sd 1 / mean 2
    assert math.isnan(P.coefficient_of_variation([4.0]))
    assert math.isnan(P.coefficient_of_variation([0.0, 0.0]))


def run_until_stop(values, min_trials=3, max_trials=10, target_cv=0.02):
    seen = []
    for v in values:
        seen.append(v)
        if P.should_stop(seen, min_trials, max_trials, target_cv):
            return len(seen)
    raise AssertionError("never stopped")


def test_stopping_rule_stops_at_min_trials_when_stable():
    assert run_until_stop([100.0, 100.5, 99.8, 100.1, 100.0] * 3) == 3


def test_stopping_rule_runs_to_max_trials_when_noisy():
    assert run_until_stop([100.0, 130.0, 80.0, 120.0] * 5) == 10


def test_stopping_rule_stops_when_cv_drops():
    # one outlier: CV is 6.7 % after 3 trials, 5.2 % after 5 and 4.8 % after 6
    values = [100.0, 112.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    assert run_until_stop(values, target_cv=0.05) == 6
    assert not P.should_stop([1.0], 1, 10, 0.02)  # CV undefined with one value: keep going
    assert P.should_stop([1.0], 1, 1, 0.02)       # ... unless max_trials says stop


def test_interleaving_order_round_robin():
    need = {0: 2, 1: 3, 2: 1}
    count = {i: 0 for i in need}
    order = []
    for i in P.interleaved_schedule(3, lambda j: count[j] >= need[j]):
        order.append(i)
        count[i] += 1
    assert order == [0, 1, 2, 0, 1, 1]


def test_sequential_order_without_interleaving():
    need = {0: 2, 1: 3, 2: 1}
    count = {i: 0 for i in need}
    order = []
    for i in P.interleaved_schedule(3, lambda j: count[j] >= need[j], interleave=False):
        order.append(i)
        count[i] += 1
    assert order == [0, 0, 1, 1, 1, 2]


def test_idle_subtraction():
    assert P.dynamic_joules(100.0, 20.0, 2.0) == pytest.approx(60.0)
    assert P.dynamic_joules(None, 20.0, 2.0) is None
    assert P.dynamic_joules(100.0, None, 2.0) is None
    assert P.dynamic_joules(10.0, 20.0, 2.0) == pytest.approx(-30.0)  # not hidden by clipping


def test_steps_per_window_calibration():
    assert P.steps_for_window(0.01, 5.0, margin=1.0) == 500
    assert P.steps_for_window(0.01, 5.0) == 525
    assert P.steps_for_window(10.0, 5.0) == 1
    with pytest.raises(ValueError):
        P.steps_for_window(0.0, 5.0)
    with pytest.raises(ValueError):
        P.steps_for_window(0.01, 0.0)

    calls = []

    def fake_timer(n):  # 2 ms per step + 1 ms of fixed overhead per timing run
        calls.append(n)
        return 0.002 * n + 0.001

    step = P.calibrate_step_seconds(fake_timer, min_seconds=0.5)
    assert calls[0] == 1 and fake_timer(calls[-1]) >= 0.5
    assert step == pytest.approx(0.002, rel=0.01)  # the overhead is amortised by the long run


def test_summarize_trials_with_and_without_energy():
    trials = [P.TrialResult(steps=100, step_seconds=1.0, joules=50.0, meter_seconds=1.0),
              P.TrialResult(steps=100, step_seconds=1.0, joules=50.0, meter_seconds=1.0)]
    s = P.summarize_trials(trials, batch_size=4, idle_power_w=20.0)
    assert s["epf_total_mj"] == pytest.approx(1000 * 50.0 / 400)
    assert s["epf_dynamic_mj"] == pytest.approx(1000 * 30.0 / 400)
    assert s["avg_power_w"] == pytest.approx(50.0) and s["cv"] == 0.0 and s["cv_quantity"] == "epf_total_mj"
    assert s["ms_per_step"] == pytest.approx(10.0) and s["frames_per_s"] == pytest.approx(400.0)

    missing = [P.TrialResult(100, 1.0, None, 1.0, "NVML unavailable: x"), P.TrialResult(100, 1.1, None, 1.1, "y")]
    s = P.summarize_trials(missing, batch_size=4, idle_power_w=None)
    assert s["epf_total_mj"] is None and s["epf_dynamic_mj"] is None and s["avg_power_w"] is None
    assert not s["energy_available"] and s["unavailable_reason"] == "NVML unavailable: x"
    assert s["cv_quantity"] == "ms_per_step" and s["cv"] > 0


# -- configurations and invalid input -----------------------------------------------------------

def test_scheme_mapping():
    _, kw = P.model_kwargs("mobilenet_v1", "e2gc", 4)
    assert (kw["scheme"].kind, kw["scheme"].group_size) == ("e2gc", 4)
    _, kw = P.model_kwargs("resnext50", "fggc", 32)
    assert (kw["scheme"].kind, kw["scheme"].groups) == ("fggc", 32)
    name, kw = P.model_kwargs("wrn28_10", "gc2l_unfused", 8)
    assert name == "wrn28" and kw["width"] == 10
    assert (kw["scheme"].kind, kw["scheme"].groups, kw["scheme"].fused) == ("gc2l", 8, False)
    assert P.model_kwargs("wrn28_10", "gc2l", 8)[1]["scheme"].fused is True
    assert P.model_kwargs("vgg13_bn", "C", None)[1] == {"scheme": "C"}
    assert P.model_kwargs("wrn28", "standard", None)[1]["scheme"].kind == "standard"


def test_build_model_unfused_gc2l():
    from gconvlib.layers.two_level import TwoLevelConv2d

    model = P.build_model(P.EpfConfig("wrn28_1", "gc2l_unfused", 2, 1, num_classes=10, input_size=32))
    layers = [m for m in model.modules() if isinstance(m, TwoLevelConv2d)]
    assert layers and not any(m.fused for m in layers) and all(m.groups == 2 for m in layers)


@pytest.mark.parametrize("kwargs, match", [
    (dict(model="mobilenet_v1", scheme_kind="e2gc", k=1, batch_size=0), "batch_size must be an integer >= 1"),
    (dict(model="mobilenet_v1", scheme_kind="e2gc", k=1, batch_size=-2), "batch_size"),
    (dict(model="alexnet", scheme_kind="e2gc", k=1, batch_size=1), "unknown model 'alexnet'"),
    (dict(model="mobilenet_v1", scheme_kind="e2gc", k=None, batch_size=1), "needs an integer k"),
    (dict(model="mobilenet_v1", scheme_kind="fancy", k=2, batch_size=1), "unknown scheme kind"),
    (dict(model="vgg13_bn", scheme_kind="F", k=None, batch_size=1), "VGG scheme must be one of"),
])
def test_invalid_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.EpfConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(window_s=0), "window_s must be > 0"),
    (dict(window_s=-1.0), "window_s must be > 0"),
    (dict(min_trials=5, max_trials=3), "min_trials <= max_trials"),
    (dict(mode="jit"), "mode must be one of"),
    (dict(cooldown_s=-1), "cooldown_s"),
])
def test_invalid_protocol(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.EpfProtocol(**kwargs)


def test_invalid_device():
    config = P.EpfConfig("mobilenet_v1", "e2gc", 1, 1, **TINY)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        P.measure_epf([config], FAST, "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            P.measure_epf([config], FAST, "cuda")


# -- the CPU path end to end --------------------------------------------------------------------

def test_train_step_zeroes_grads_between_steps():
    config = P.EpfConfig("mobilenet_v1", "e2gc", 2, 2, **TINY)
    step = P.TrainStep(config, "cpu", "eager", warmup_steps=0)
    step.run(1)
    first = [p.grad.clone() for p in step.params]
    step.run(2)  # would double the grads if zero_grad did not run inside the step
    for a, p in zip(first, step.params):
        torch.testing.assert_close(p.grad, a, rtol=1e-4, atol=1e-5)


def test_measure_epf_cpu_end_to_end():
    configs = [P.EpfConfig("mobilenet_v1", "e2gc", 1, 1, **TINY), P.EpfConfig("mobilenet_v1", "fggc", 2, 1, **TINY)]
    finished = []
    rows = P.measure_epf(configs, FAST, "cpu", on_result=finished.append)
    assert [r["scheme"] for r in rows] == ["e2gc", "fggc"] and len(finished) == 2
    for r in rows:
        assert r["ms_per_step"] > 0 and r["frames_per_s"] > 0 and r["window_s"] > 0
        assert 2 <= r["trials"] <= 3 and r["steps_per_trial"] >= 1
        assert r["mode"] == "eager" and r["requested_mode"] == "graph" and "CUDA graphs need a GPU" in r["mode_note"]
        assert r["device_type"] == "cpu" and r["torch"] == torch.__version__ and r["measured_at"]
        assert len(r["protocol_key"]) == 16
        if r["meter"] == "rapl":  # a machine where RAPL is readable
            assert r["energy_available"] and r["epf_total_mj"] > 0
        else:
            assert r["energy_available"] is False and r["unavailable_reason"].startswith("RAPL not readable")
            assert r["epf_total_mj"] is None and r["epf_dynamic_mj"] is None and r["avg_power_w"] is None


class ScriptedMeter(M.Meter):
    """Constant power, 20 W for the first window (the idle one) and 50 W afterwards."""

    name = "scripted"

    def __init__(self):
        super().__init__()
        self.windows = 0

    def begin(self):
        self._t0 = self.clock()

    def end(self):
        seconds = self._elapsed()
        watts = 20.0 if self.windows == 0 else 50.0
        self.windows += 1
        return M.Reading(watts * seconds, seconds, self.name)


def test_measure_epf_with_energy_and_idle_subtraction():
    config = P.EpfConfig("mobilenet_v1", "e2gc", 4, 2, **TINY)
    protocol = P.EpfProtocol(warmup_steps=0, window_s=0.05, min_trials=2, max_trials=2, cooldown_s=0.0,
                             idle_s=0.01, calibration_s=0.02, mode="eager", interleave=False)
    (row,) = P.measure_epf([config], protocol, "cpu", meter=ScriptedMeter())
    assert row["energy_available"] and row["meter"] == "scripted"
    assert row["idle_power_w"] == pytest.approx(20.0) and row["avg_power_w"] == pytest.approx(50.0)
    assert row["epf_dynamic_mj"] / row["epf_total_mj"] == pytest.approx(30.0 / 50.0)
    # EPF = power x time per frame (the meter window holds the timed steps)
    assert row["epf_total_mj"] >= 50.0 * row["ms_per_step"] / 2 * 0.99
    assert row["cv_quantity"] == "epf_total_mj" and row["trials"] == 2 and row["stop_reason"] in ("target_cv", "max_trials")
