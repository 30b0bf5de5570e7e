"""EPF protocol: pure statistics, cells built from model specs, invalid input, the CPU path end to
end (a failing cell is a result and the others go on), energy with a scripted counter, global state."""
from __future__ import annotations

import math

import pytest
import torch

from gconvlib.measure import protocol as P
from gconvlib.models import ModelSpec

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = P.EpfProtocol(warmup_steps=1, window_s=0.05, min_trials=2, max_trials=3, idle_s=0.02, calibration_s=0.02)


def cell(text: str, b: int = 1) -> P.EpfCell:
    return P.EpfCell(ModelSpec.parse(text), b)


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


def test_stopping_rule():
    assert run_until_stop([100.0, 100.5, 99.8, 100.1, 100.0] * 3) == 3     # stable: at min_trials
    assert run_until_stop([100.0, 130.0, 80.0, 120.0] * 5) == 10           # noisy: at max_trials
    # one outlier: CV is 6.7 % after 3 trials, 5.2 % after 5 and 4.8 % after 6
    assert run_until_stop([100.0, 112.0, 100.0, 100.0, 100.0, 100.0, 100.0], target_cv=0.05) == 6
    assert not P.should_stop([1.0], 1, 10, 0.02)  # CV undefined with one value: keep going
    assert P.should_stop([1.0], 1, 1, 0.02)       # ... unless max_trials says stop


@pytest.mark.parametrize("interleave, order", [(True, [0, 1, 2, 0, 1, 1]), (False, [0, 0, 1, 1, 1, 2])])
def test_trial_order(interleave, order):
    need = {0: 2, 1: 3, 2: 1}
    count = {i: 0 for i in need}
    seen = []
    for i in P.interleaved_schedule(3, lambda j: count[j] >= need[j], interleave):
        seen.append(i)
        count[i] += 1
    assert seen == order


def test_idle_subtraction_and_window_sizing():
    assert P.dynamic_joules(100.0, 20.0, 2.0) == pytest.approx(60.0)
    assert P.dynamic_joules(None, 20.0, 2.0) is None and P.dynamic_joules(100.0, None, 2.0) is None
    assert P.dynamic_joules(10.0, 20.0, 2.0) == pytest.approx(-30.0)  # not hidden by clipping
    assert P.steps_for_window(0.01, 1.0) == 100 and P.steps_for_window(10.0, 1.0) == 1
    with pytest.raises(ValueError):
        P.steps_for_window(0.0, 1.0)

    calls = []

    def fake_timer(n):  # 2 ms per step + 1 ms of fixed overhead per timing run
        calls.append(n)
        return 0.002 * n + 0.001

    step = P.calibrate_step_seconds(fake_timer, min_seconds=0.5)
    assert calls[0] == 1 and fake_timer(calls[-1]) >= 0.5
    assert step == pytest.approx(0.002, rel=0.01)  # the overhead is amortised by the long run


def test_summarize_trials_with_and_without_energy():
    trials = [P.TrialResult(steps=100, seconds=1.0, joules=50.0, watts=50.0),
              P.TrialResult(steps=100, seconds=1.0, joules=55.0, watts=55.0)]
    s = P.summarize_trials(trials, batch_size=4, idle_power_w=20.0)
    assert s["epf_total_mj"] == pytest.approx(1000 * 52.5 / 400)
    assert s["epf_std_mj"] == pytest.approx(1000 * 5.0 / 400 / math.sqrt(2))
    assert s["epf_dynamic_mj"] == pytest.approx(1000 * 32.5 / 400)
    assert s["cv"] == pytest.approx(s["epf_std_mj"] / s["epf_total_mj"]) and s["cv_quantity"] == "epf_total_mj"
    assert s["ms_per_step"] == pytest.approx(10.0) and s["energy"] == "measured"

    missing = [P.TrialResult(100, 1.0, None, unavailable_reason="NVML unavailable: x"),
               P.TrialResult(100, 1.1, None, unavailable_reason="y")]
    s = P.summarize_trials(missing, batch_size=4, idle_power_w=None)
    assert s["epf_total_mj"] is None and s["epf_dynamic_mj"] is None and s["avg_power_w"] is None
    assert s["energy"] == "unavailable: NVML unavailable: x"
    assert s["cv_quantity"] == "ms_per_step" and s["cv"] == pytest.approx(0.1 / 1.05 / math.sqrt(2))


# -- cells and invalid input ----------------------------------------------------------------------

def test_cells_are_model_specs():
    c = P.EpfCell("wrn28_10/gc2l:8:unfused", 128)
    assert c.spec == ModelSpec("wrn28", "gc2l:8:unfused", width=10) and c.key() == {
        "model": "wrn28_10/gc2l:8:unfused", "batch_size": 128}
    assert P.EpfCell("mobilenet_v1/fggc:8", 4).spec.text == "mobilenet_v1/gc:8"  # one canonical text
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        P.EpfCell("mobilenet_v1/e2gc:4", 0)
    with pytest.raises(ValueError, match="unknown model"):
        P.EpfCell("alexnet/gc:2", 1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(window_s=0), "window_s must be > 0"),
    (dict(min_trials=5, max_trials=3), "min_trials <= max_trials"),
    (dict(mode="jit"), "mode must be one of"),
    (dict(cooldown_s=-1), "cooldown_s"),
    (dict(chunk_s=0), "chunk_s"),
])
def test_invalid_protocol(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.EpfProtocol(**kwargs)


@pytest.mark.parametrize("window_s, calibration_s", [(0.05, 0.05), (0.5, 0.1), (None, 0.1)])
def test_a_measurement_made_here_never_calibrates_longer_than_one_window(window_s, calibration_s):
    """The calibration run sizes the windows: a 0.05 s smoke window that waited for a 0.1 s
    calibration would spend most of its cell calibrating; longer windows keep the default's 0.1 s."""
    protocol = P.EpfProtocol.measured_here(window_s, min_trials=2, max_trials=None)
    assert (protocol.calibration_s, protocol.min_trials, protocol.idle_s) == (calibration_s, 2, 0.0)


@pytest.mark.parametrize("window_s, knobs, match", [(0, {}, "window_s must be > 0"), ("1", {}, "window_s must be > 0"),
                                                    (0.5, dict(calibration_s=0.2), "calibration_s follows")])
def test_a_measurement_made_here_rejects_bad_knobs_in_one_line(window_s, knobs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        P.EpfProtocol.measured_here(window_s, **knobs)


def test_invalid_device():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        P.measure_epf([cell("mobilenet_v1/e2gc:1/size=64")], FAST, "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            P.measure_epf([cell("mobilenet_v1/e2gc:1/size=64")], FAST, "cuda")


# -- the CPU path end to end --------------------------------------------------------------------

def test_train_step_zeroes_grads_between_steps():
    step = P.TrainStep(cell("mobilenet_v1/e2gc:2/classes=10/size=64", 2), "cpu", "eager", warmup_steps=0)
    step.run(1)
    first = [p.grad.clone() for p in step.params]
    step.run(2)  # would double the grads if zeroing did not run inside the step
    for a, p in zip(first, step.params):
        torch.testing.assert_close(p.grad, a, rtol=1e-4, atol=1e-5)


def test_measure_epf_cpu_a_failing_cell_is_a_result_and_the_others_go_on():
    cells = [cell("mobilenet_v1/e2gc:1/classes=10/size=64"),
             cell("mobilenet_v1/gc:2/classes=10/size=32"),    # B=1 at 32 px: BatchNorm sees 1 value, fails
             cell("mobilenet_v1/gc:2/classes=10/size=64")]
    finished = []
    threads, bench, rng = torch.get_num_threads(), torch.backends.cudnn.benchmark, torch.get_rng_state()
    from gconvlib.measure.meters import NullMeter

    results = P.measure_epf(cells, FAST, "cpu", on_result=lambda c, r: finished.append(c.spec.text),
                            meter=NullMeter("RAPL not readable: test"))
    assert torch.get_num_threads() == threads and torch.backends.cudnn.benchmark == bench
    assert torch.equal(torch.get_rng_state(), rng)  # the random state is as before
    assert [r["status"] for r in results][0::2] == ["ok", "ok"]
    assert results[1]["status"].startswith("failed: ValueError: Expected more than 1 value per channel")
    assert sorted(finished) == sorted(c.spec.text for c in cells)
    for r in results[0::2]:
        assert r["ms_per_step"] > 0 and 2 <= r["trials"] <= 3 and r["steps_per_trial"] >= 1
        assert r["mode"] == "eager" and r["requested_mode"] == "graph" and "CUDA graphs need a GPU" in r["mode_note"]
        assert r["device_type"] == "cpu" and r["torch"] == torch.__version__ and r["measured_at"]
        assert r["energy"] == "unavailable: RAPL not readable: test"       # missing, never 0
        assert r["epf_total_mj"] is None and r["epf_dynamic_mj"] is None and r["avg_power_w"] is None


class ScriptedCounter:
    """A counter-less meter with constant power: 20 W while idle (the first window) and 50 W
    afterwards, read with begin/end."""

    name, approximate, update_period_s = "scripted", False, 0.0

    def __init__(self):
        import time

        self.clock, self.windows, self.t0 = time.perf_counter, 0, None

    def counter(self):
        return None

    def begin(self):
        self.t0 = self.clock()

    def end(self):
        from gconvlib.measure.meters import Reading

        seconds = self.clock() - self.t0
        watts = 20.0 if self.windows == 0 else 50.0
        self.windows += 1
        return Reading(watts * seconds, seconds, self.name)

    def close(self):
        pass


def test_measure_epf_with_energy_and_idle_subtraction():
    protocol = P.EpfProtocol(warmup_steps=0, window_s=0.05, min_trials=2, max_trials=2, idle_s=0.01,
                             calibration_s=0.02, mode="eager", interleave=False)
    (r,) = P.measure_epf([cell("mobilenet_v1/e2gc:4/classes=10/size=64", 2)], protocol, "cpu",
                         meter=ScriptedCounter())
    assert r["status"] == "ok" and r["energy"] == "measured" and r["meter"] == "scripted"
    assert r["idle_power_w"] == pytest.approx(20.0) and r["avg_power_w"] == pytest.approx(50.0, rel=0.05)
    assert r["epf_dynamic_mj"] / r["epf_total_mj"] == pytest.approx(30.0 / 50.0, rel=0.05)
    # EPF = power x time per frame (the meter's window holds the counted steps)
    assert r["epf_total_mj"] == pytest.approx(50.0 * r["ms_per_step"] / 2, rel=0.1)
    assert r["trials"] == 2 and r["cv_quantity"] == "epf_total_mj"


class SteppedNvml:
    """A GPU's energy counter on the real clock: ``watts`` all the time, shown in steps of
    ``period`` s (what nvmlDeviceGetTotalEnergyConsumption does every ~100 ms), in mJ."""

    def __init__(self, watts=200.0, period=0.04):
        import time

        self.watts, self.period, self.reads = watts, period, 0
        self.clock = time.perf_counter
        self.t0 = self.clock()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        self.reads += 1
        t = self.clock() - self.t0
        return int(1000 * self.watts * self.period * math.floor(t / self.period))

    def nvmlShutdown(self):
        pass


def test_idle_power_unknown_since_part_1_is_not_measured_again_per_group():
    protocol = P.EpfProtocol(warmup_steps=0, window_s=0.02, min_trials=1, max_trials=1, idle_s=0.5,
                             calibration_s=0.01, mode="eager")
    meter = ScriptedCounter()
    (r,) = P.measure_epf([cell("mobilenet_v1/e2gc:4/classes=10/size=64", 2)], protocol, "cpu", meter=meter,
                         idle_note="the energy counter did not move during the 3 s idle window")
    assert r["idle_power_w"] is None and r["epf_dynamic_mj"] is None and "did not move" in r["idle_note"]
    assert meter.windows == 1                     # the trial's window only, no idle window


def test_memory_format_precision_and_backend_flags_are_chosen_and_recorded():
    step = P.TrainStep(cell("mobilenet_v1/e2gc:2/classes=10/size=64", 2), "cpu", "eager", warmup_steps=0)
    assert step.x.is_contiguous(memory_format=torch.channels_last)
    conv = next(m for m in step.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = P.TrainStep(cell("mobilenet_v1/e2gc:2/classes=10/size=64", 2), "cpu", "eager", 0,
                        memory_format="contiguous")
    assert not plain.x.is_contiguous(memory_format=torch.channels_last)

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        protocol = P.EpfProtocol(warmup_steps=0, window_s=0.02, min_trials=1, max_trials=1, idle_s=0.0,
                                 calibration_s=0.01, mode="eager")
        (r,) = P.measure_epf([cell("mobilenet_v1/e2gc:4/classes=10/size=64", 2)], protocol, "cpu",
                             meter=ScriptedCounter())
        assert r["memory_format"] == "channels_last" and r["amp"] is None
        assert r["backend_flags"]["cudnn_allow_tf32"] is False and r["backend_flags"]["matmul_allow_tf32"] is False
        assert r["backend_flags"]["cudnn_benchmark"] is True
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32   # restored
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    with pytest.raises(ValueError, match="memory_format must be one of"):
        P.EpfProtocol(memory_format="nhwc")
    with pytest.raises(ValueError, match="amp must be None"):
        P.EpfProtocol(amp="fp8")


def test_one_side_stream_for_all_the_cells_of_a_run(monkeypatch):
    made, seen = [], []

    def one_stream(device, mode):
        made.append((device, mode))
        return f"stream {len(made)}"

    class Recording(P.TrainStep):
        def __init__(self, *args, stream=None, **kwargs):
            seen.append(stream)
            super().__init__(*args, **kwargs)   # on a CPU the step runs eager: no stream used

    monkeypatch.setattr(P, "side_stream", one_stream)
    monkeypatch.setattr(P, "TrainStep", Recording)
    protocol = P.EpfProtocol(warmup_steps=0, window_s=0.02, min_trials=1, max_trials=1, idle_s=0.0,
                             calibration_s=0.01)
    P.measure_epf([cell("mobilenet_v1/e2gc:4/classes=10/size=64", 2), cell("mobilenet_v1/gc:2/classes=10/size=64", 2)],
                  protocol, "cpu", meter=ScriptedCounter())
    assert made == [("cpu", "eager")] and seen == ["stream 1", "stream 1"]


def test_measure_epf_aligns_its_windows_to_a_stepped_nvml_counter():
    from gconvlib.measure.meters import NvmlEnergyMeter

    nvml = SteppedNvml()
    meter = NvmlEnergyMeter(handle=("gpu", 0), nvml=nvml)
    meter.update_period_s = nvml.period
    protocol = P.EpfProtocol(warmup_steps=1, window_s=0.4, min_trials=2, max_trials=2, idle_s=0.2, calibration_s=0.02,
                             mode="eager")
    (r,) = P.measure_epf([cell("mobilenet_v1/e2gc:4/classes=10/size=64", 2)], protocol, "cpu", meter=meter,
                         counter_read_s=0.02)
    assert r["status"] == "ok" and r["meter"] == "nvml_energy" and r["aligned"] and r["energy"] == "measured"
    # a 20 ms read: the queue holds several reads' worth of steps (two 5 ms chunks would not)
    assert r["counter_read_ms"] == 20.0 and r["queue_depth"] * r["chunk_steps"] * r["calibrated_step_s"] >= 0.16
    assert nvml.reads > 10                                 # polled while the steps ran, not read twice
    # the counter is constant power in 40 ms steps and windows last at least 0.4 s: a window aligned
    # to the counter's steps is off by less than one step's energy (a misaligned one by up to two)
    tol = nvml.period / protocol.window_s
    assert r["avg_power_w"] == pytest.approx(200.0, rel=tol)
    assert r["epf_total_mj"] == pytest.approx(200.0 * r["ms_per_step"] / 2, rel=2 * tol)
    assert r["idle_power_w"] == pytest.approx(200.0, rel=0.1) and abs(r["epf_dynamic_mj"]) < 0.15 * r["epf_total_mj"]


def test_a_killed_call_resumes_from_its_journalled_trials(monkeypatch):
    """Round-robin cells finish together at the end of their group: a call killed before would lose
    them all. Each trial is journalled as it ends, and the next call starts from those trials."""
    protocol = P.EpfProtocol(warmup_steps=0, window_s=0.02, min_trials=3, max_trials=3, idle_s=0.0,
                             calibration_s=0.01, mode="eager")
    c = cell("mobilenet_v1/e2gc:4/classes=10/size=64", 2)
    journal = []

    class Killed(BaseException):
        pass

    def killed_after_two(_, trial):
        journal.append(trial)
        if len(journal) == 2:
            raise Killed

    with pytest.raises(Killed):
        P.measure_epf([c], protocol, "cpu", meter=ScriptedCounter(), on_trial=killed_after_two)
    new = []
    (r,) = P.measure_epf([c], protocol, "cpu", meter=ScriptedCounter(), on_trial=lambda _, t: new.append(t),
                         resume={c: journal})
    assert len(new) == 1 and r["trials"] == 3 and r["trials_resumed"] == 2
    assert r["trial_ms_per_step"][:2] == [round(1000 * t["seconds"] / t["steps"], 6) for t in journal]

    def no_build(*args, **kwargs):
        raise AssertionError("a cell with all its trials journalled is not built again")

    monkeypatch.setattr(P, "TrainStep", no_build)
    (r,) = P.measure_epf([c], protocol, "cpu", meter=ScriptedCounter(), resume={c: journal + new})
    assert r["status"] == "ok" and r["trials"] == 3 and r["trials_resumed"] == 3


def test_memory_is_freed_between_the_warm_up_and_the_capture(monkeypatch):
    """The capture path against a fake torch.cuda (no GPU here): cached blocks go back to the device
    after the side-stream warm-up and before the capture starts, on the run's side stream."""
    import contextlib

    from gconvlib.measure import step as S

    calls = []

    class Stream:
        def __init__(self, name):
            self.name = name

        def wait_stream(self, other):
            calls.append(f"{self.name} waits for {other.name}")

    @contextlib.contextmanager
    def on(stream):
        calls.append(f"on {stream.name}")
        yield

    @contextlib.contextmanager
    def capture(graph, stream=None):
        calls.append(f"capture on {stream.name}")
        yield

    class Graph:
        def replay(self):
            calls.append("replay")

    for name, value in (("current_stream", lambda device: Stream("current")), ("stream", on),
                        ("synchronize", lambda device: calls.append("sync")), ("CUDAGraph", Graph),
                        ("graph", capture), ("empty_cache", lambda: calls.append("empty_cache"))):
        monkeypatch.setattr(S.torch.cuda, name, value)

    class Step:
        device = "cuda:0"

        def eager_step(self):
            calls.append("step")

    S.TrainStep._capture(Step(), 1, Stream("side"))
    assert calls == ["side waits for current", "on side", "step", "step", "step", "current waits for side", "sync",
                     "empty_cache", "capture on side", "step", "replay"]
