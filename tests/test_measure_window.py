"""Windows aligned to a stepped energy counter, against a fake device, clock and counter."""
from __future__ import annotations

import math

import pytest

from gconvlib.measure import meters as M
from gconvlib.measure.window import idle_power, measure_window


class FakeGPU:
    """A device on a fake clock: ``enqueue(n)`` runs n steps of ``step_s`` at ``busy_w``; sleeping
    runs at ``idle_w``. Its counter integrates the power exactly but shows a new value only at
    updates every ``period`` s (the first at ``phase``), like NVML's. It is the Runner, the clock
    and the meter of a window."""

    update_period_s = 0.1
    name = "fake_counter"
    approximate = False

    def __init__(self, step_s=0.001, busy_w=300.0, idle_w=100.0, period=0.1, phase=0.0, start=0.0):
        self.step_s, self.busy_w, self.idle_w = step_s, busy_w, idle_w
        self.period, self.phase = period, phase
        self.t, self.segments = start, []   # (t0, t1, watts)
        self.reads = 0
        self.update_period_s = period

    # the true energy and the counter ---------------------------------------------------------
    def energy(self, t: float) -> float:
        return sum(w * (min(t, b) - a) for a, b, w in self.segments if a < t)

    def last_update(self, t: float) -> float:
        return self.phase + math.floor((t - self.phase) / self.period) * self.period

    def counter(self) -> float:
        self.reads += 1
        return self.energy(self.last_update(self.t))

    # the device -------------------------------------------------------------------------------
    def advance(self, seconds: float, watts: float) -> None:
        self.segments.append((self.t, self.t + seconds, watts))
        self.t += seconds

    def enqueue(self, steps: int) -> float:
        if steps:
            self.advance(steps * self.step_s, self.busy_w)
        return self.t

    def wait(self, handle) -> None:
        pass

    def elapsed(self, start: float, end: float) -> float:
        return end - start

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds, self.idle_w)


def true_epf_mj(gpu: FakeGPU, batch: int) -> float:
    return 1000.0 * gpu.busy_w * gpu.step_s / batch


def naive_window(gpu: FakeGPU, steps: int) -> float:
    """What reading the counter once before and once after the steps gives (joules)."""
    e0 = gpu.counter()
    gpu.enqueue(steps)
    return gpu.counter() - e0


@pytest.mark.parametrize("phase", [0.0, 0.013, 0.051, 0.0899])
def test_aligned_window_removes_the_counter_quantisation(phase):
    gpu = FakeGPU(phase=phase, start=0.0371)
    steps, chunk, batch = 1000, 5, 4                           # a 1 s window, 5 ms chunks
    w = measure_window(gpu, gpu, steps, chunk, clock=gpu.clock)
    assert w.aligned and w.note is None and w.unavailable_reason is None
    assert w.steps >= steps and w.steps % chunk == 0
    assert w.seconds == pytest.approx(w.steps * gpu.step_s)
    # the measured energy per frame is the true one, within one chunk out of the window
    epf = 1000.0 * w.joules / (w.steps * batch)
    assert epf == pytest.approx(true_epf_mj(gpu, batch), rel=chunk / steps)
    assert w.watts == pytest.approx(gpu.busy_w, rel=chunk / steps)


def test_window_starts_and_ends_on_a_counter_update():
    gpu = FakeGPU(phase=0.03, start=0.0)
    chunk = 5
    w = measure_window(gpu, gpu, 600, chunk, clock=gpu.clock)
    # the counter's change over the window is its change between two updates: a whole number of
    # update periods of busy power (the device is busy all along)
    periods = w.counter_joules / (gpu.busy_w * gpu.period)
    assert periods == pytest.approx(round(periods), abs=1e-9) and round(periods) >= 6
    # and each end is seen within one chunk after its update
    assert abs(w.counter_seconds - round(periods) * gpu.period) < chunk * gpu.step_s + 1e-12


def test_an_unaligned_window_of_the_same_length_is_off_by_up_to_one_update():
    errors = []
    for start in (0.0, 0.02, 0.05, 0.099):
        gpu = FakeGPU(start=start)
        gpu.enqueue(1)  # something ran before
        joules = naive_window(gpu, 1000)
        errors.append(abs(joules / (gpu.busy_w * 1000 * gpu.step_s) - 1))
    assert max(errors) > 0.05      # what the alignment is for: up to a 100 ms step in a 1 s window
    gpu = FakeGPU(phase=0.02, start=0.0)
    w = measure_window(gpu, gpu, 1000, 5, clock=gpu.clock)
    assert abs(w.joules / (w.steps * gpu.step_s * gpu.busy_w) - 1) <= 0.005


def test_a_counter_that_never_moves_is_not_aligned_and_not_zero_energy():
    class Stuck(FakeGPU):
        def counter(self):
            return 1234.5

    gpu = Stuck()
    w = measure_window(gpu, gpu, 100, 5, clock=gpu.clock, timeout_s=0.05)
    assert not w.aligned and "no counter update seen within 0.05 s" in w.note
    assert w.joules is None and w.unavailable_reason == "the energy counter did not move during the window"
    assert w.steps >= 100 and w.seconds > 0


def test_meter_without_counter_uses_begin_end_and_reports_missing_energy():
    gpu = FakeGPU()
    meter = M.NullMeter("no energy source", clock=gpu.clock)
    w = measure_window(gpu, meter, 50, 7, clock=gpu.clock)
    assert w.steps == 50 and w.seconds == pytest.approx(50 * gpu.step_s)
    assert w.joules is None and w.unavailable_reason == "no energy source" and not w.aligned


def test_idle_power_between_two_updates():
    gpu = FakeGPU(phase=0.042, start=0.01)
    watts, note = idle_power(gpu, 1.0, sleep=gpu.sleep, clock=gpu.clock, poll_s=0.002)
    assert note is None and watts == pytest.approx(gpu.idle_w, rel=0.005)
    assert idle_power(gpu, 0.0, sleep=gpu.sleep, clock=gpu.clock) == (None, "idle power not measured (idle window 0 s)")


def test_nvml_and_rapl_counters_read_joules(tmp_path):
    from test_measure_meters import FakeNvml, make_rapl, set_energy

    nv = FakeNvml(counter=[1_000_000, 1_000_000, 1_250_500])  # mJ
    meter = M.select_meter("cuda", nvml=nv)
    assert meter.update_period_s == pytest.approx(0.1)
    assert meter.counter() == pytest.approx(1000.0) and meter.counter() == pytest.approx(1250.5)
    meter.close()

    top = 1_000_000
    make_rapl(tmp_path, packages=((top - 300_000, top),))
    rapl = M.RaplMeter(tmp_path)
    assert rapl.counter() == 0.0
    set_energy(tmp_path, 0, 200_000)          # wrapped: 0.3 J + 0.2 J
    assert rapl.counter() == pytest.approx(0.5)
    assert M.NullMeter("x").counter() is None
