"""Windows aligned to a stepped energy counter, against a simulated device and counter on a
simulated clock, and idle power against a fake clock: deterministic, whatever else the machine runs.

The window's counter poller is gconvlib's :class:`CounterPoller` with its thread replaced by the
reads that thread would make (back to back from its start, each taking ``read_s``), made on the
simulated clock whenever the window reads it; the timestamping is the poller's own. One test runs
the real thread (it reads and reports a failed read), without timing bounds.
"""
from __future__ import annotations

import bisect
import math
import time

import pytest

from gconvlib.measure import meters as M
from gconvlib.measure.window import CounterPoller, STALL_READS, idle_power, measure_window, read_ahead

#: simulated host time to queue one chunk of asynchronous steps (a CUDA launch's order)
QUEUE_S = 20e-6


class SimGPU:
    """A device and its energy counter on a simulated clock (:meth:`clock`).

    Busy at ``busy_w`` while it runs steps of ``step_s``, else ``idle_w``; the first ``ramp_s`` of
    a busy period after idle draws ``ramp_w`` (clocks ramping up). Asynchronous (``host_bound=False``):
    ``enqueue`` queues the steps behind the ones queued before and returns after :data:`QUEUE_S`,
    like CUDA. Host-bound (eager PyTorch at small batches): the host is busy issuing each step while
    the device runs it, so the device idles whenever the host does something else. The counter
    integrates the power exactly but shows a new value only at updates every ``period`` s (the
    first at ``phase``); one read takes ``read_s`` and samples at its middle: a read by the host
    (:meth:`counter`) costs the host that time, the poller's reads (:meth:`poller`) do not.
    It is the Runner, the meter and the clock of a window.
    """

    name, approximate = "sim_counter", False

    def __init__(self, step_s=0.001, busy_w=300.0, idle_w=100.0, period=0.02, phase=0.0, read_s=0.002,
                 host_bound=False, ramp_s=0.0, ramp_w=None):
        self.step_s, self.busy_w, self.idle_w, self.period, self.read_s = step_s, busy_w, idle_w, period, read_s
        self.host_bound, self.ramp_s = host_bound, ramp_s
        self.ramp_w = idle_w if ramp_w is None else ramp_w
        self.update_period_s = period
        self.now = self.t0 = self.free_at = 0.0
        self.phase = self.t0 + phase
        self.starts, self.ends, self.ramps = [], [], []   # busy segments and their ramps
        self.cum = [0.0]                                   # joules above idle, cumulative
        self.reads = 0
        self.work_started: float | None = None
        self.pollers: list[SimPoller] = []

    def clock(self) -> float:
        for poller in self.pollers:           # what the poller thread would have read by now
            poller.catch_up(self.now)
        return self.now

    # the true energy and the counter ---------------------------------------------------------
    def _add(self, a: float, b: float) -> None:
        if self.work_started is None:
            self.work_started = a
        ramp = self.ramp_s if not self.ends or a - self.ends[-1] > 0.05 else 0.0   # after a real rest
        r = min(ramp, b - a)
        extra = (self.ramp_w - self.idle_w) * r + (self.busy_w - self.idle_w) * (b - a - r)
        self.starts.append(a)
        self.ends.append(b)
        self.cum.append(self.cum[-1] + extra)
        self.ramps.append(r)

    def energy(self, t: float) -> float:
        k = bisect.bisect_right(self.starts, t)     # segments that began by t
        e = self.idle_w * (t - self.t0) + self.cum[k]
        if k and self.ends[k - 1] > t:              # t inside segment k-1: only what of it ran
            a, r = self.starts[k - 1], self.ramps[k - 1]
            ran = (self.ramp_w - self.idle_w) * min(r, t - a) + (self.busy_w - self.idle_w) * max(0.0, t - a - r)
            e += ran - (self.cum[k] - self.cum[k - 1])
        return e

    def last_update(self, t: float) -> float:
        return self.phase + math.floor((t - self.phase) / self.period) * self.period

    def update_times(self, a: float, b: float) -> list[float]:
        first = self.last_update(a) + self.period
        return [first + k * self.period for k in range(int((b - first) / self.period) + 1) if first + k * self.period <= b]

    def shown(self, t: float) -> float:
        """What a read sampling at ``t`` shows: the energy at the last update."""
        return self.energy(self.last_update(t))

    def counter(self) -> float:
        value = self.shown(self.now + self.read_s / 2)
        self.now += self.read_s
        self.reads += 1
        return value

    def poller(self, read, clock, pause_s) -> "SimPoller":
        """``make_poller`` of :func:`measure_window`: reads :meth:`shown` on this clock, not ``read``."""
        return SimPoller(self, pause_s)

    # the device -------------------------------------------------------------------------------
    def enqueue(self, steps: int) -> float:
        if not steps:
            return max(self.now, self.free_at)
        if self.host_bound:
            for _ in range(steps):
                a = self.now
                self.now += self.step_s
                self._add(a, self.now)
            self.free_at = self.now
            return self.now
        a = max(self.now, self.free_at)
        self.free_at = a + steps * self.step_s
        self._add(a, self.free_at)
        self.now += QUEUE_S
        return self.free_at

    def wait(self, handle) -> None:
        self.now = max(self.now, handle)

    def elapsed(self, start: float, end: float) -> float:
        return end - start


class SimPoller(CounterPoller):
    """:class:`CounterPoller` without its thread: the reads it would make from :meth:`start` on,
    back to back ``pause_s`` apart, each ``read_s`` long and showing the counter at its middle,
    observed (:meth:`CounterPoller.observe`) as the simulated clock passes their ends."""

    def __init__(self, gpu: SimGPU, pause_s: float = 0.0):
        super().__init__(lambda: math.nan, gpu.clock, pause_s)
        self.gpu, self.next_read = gpu, math.nan

    def start(self) -> "SimPoller":
        self.next_read = self.gpu.now
        self.catch_up(self.next_read + self.gpu.read_s)   # the first read, which start() waits for
        self.gpu.pollers.append(self)
        return self

    def stop(self) -> None:
        if self in self.gpu.pollers:
            self.gpu.pollers.remove(self)

    __enter__ = start

    def catch_up(self, now: float) -> None:
        while self.next_read + self.gpu.read_s <= now:
            t0, t1 = self.next_read, self.next_read + self.gpu.read_s
            self.observe(t0, t1, self.gpu.shown(0.5 * (t0 + t1)))
            self.next_read = t1 + self.pause_s


def window(gpu: SimGPU, steps: int, chunk_steps: int, **kw):
    return measure_window(gpu, gpu, steps, chunk_steps, clock=gpu.clock, make_poller=gpu.poller, **kw)


def test_sim_energy_is_the_integral_of_its_power():
    """The simulation itself, against a hand computation."""
    gpu = SimGPU(busy_w=300.0, idle_w=100.0, ramp_s=0.01, ramp_w=50.0)
    t0 = gpu.t0
    gpu._add(t0 + 1.0, t0 + 2.0)                     # ramp 10 ms at 50 W, then 990 ms at 300 W
    assert gpu.energy(t0 + 0.5) == pytest.approx(50.0)
    assert gpu.energy(t0 + 1.005) == pytest.approx(100.5 + 0.005 * (50 - 100))
    assert gpu.energy(t0 + 1.5) == pytest.approx(150.0 + 0.01 * -50 + 0.49 * 200)
    assert gpu.energy(t0 + 3.0) == pytest.approx(300.0 + 0.01 * -50 + 0.99 * 200)


def test_the_poller_timestamps_updates_to_within_half_a_read():
    """Reads of 4 ms back to back: each update is timed between the middles of the read before
    and the read after it, so to within half a read (2 ms), wherever the update fell in the read."""
    gpu = SimGPU(period=0.03, read_s=0.004, phase=0.011)
    gpu._add(gpu.t0, gpu.t0 + 10.0)                 # busy all along: every update moves the counter
    with SimPoller(gpu) as poller:
        gpu.now = 0.35
        gpu.clock()
    seen = poller.updates
    assert len(seen) == len(gpu.update_times(0.002, 0.35 - 0.002))   # each update once, none missed
    for u in seen:
        true = gpu.last_update(u.t + gpu.period / 2)       # the update nearest to the timestamp
        assert abs(u.t - true) <= u.uncertainty_s + 1e-12
        assert u.uncertainty_s == pytest.approx(gpu.read_s / 2)
    assert poller.read_s == pytest.approx(0.004)           # a read costs what the counter takes


def test_the_poller_thread_reads_until_stopped_and_reports_a_failed_read():
    """The real thread, on the real clock: no timing bound, only that it reads, sees changes and
    stops; a counter whose read fails is an error at start, not a window of zero energy."""
    reads = iter(range(10**9))
    with CounterPoller(lambda: float(next(reads)), pause_s=0.0) as poller:
        deadline = time.monotonic() + 30
        while len(poller.updates) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
    count = poller.reads
    time.sleep(0.01)
    assert len(poller.updates) >= 3 and poller.reads == count   # stopped: no read after stop()

    def broken():
        raise OSError("counter gone")

    with pytest.raises(RuntimeError, match="energy counter read failed: OSError: counter gone"):
        CounterPoller(broken).start()


def epf_error(w, gpu) -> float:
    """Relative error of the window's energy per step against the simulated device's: busy power
    x the steps' mean duration."""
    durations = [b - a for a, b in zip(gpu.starts, gpu.ends)]
    steps = sum(round(d / gpu.step_s) for d in durations) if not gpu.host_bound else len(durations)
    per_step = gpu.busy_w * sum(durations) / steps
    return w.joules / w.steps / per_step - 1


@pytest.mark.parametrize("phase", [0.0, 0.007, 0.013])
def test_an_aligned_window_measures_the_busy_power(phase):
    gpu = SimGPU(step_s=0.001, period=0.02, read_s=0.002, phase=phase)
    w = window(gpu, 300, 5, depth=20)
    assert w.aligned and w.note is None and w.unavailable_reason is None
    assert w.steps >= 300 and w.steps % 5 == 0
    assert w.seconds == pytest.approx(w.steps * gpu.step_s, rel=1e-6)
    assert w.watts == pytest.approx(gpu.busy_w, rel=0.03) and abs(epf_error(w, gpu)) < 0.03


@pytest.mark.parametrize("phase", [0.0, 0.013, 0.031])
def test_slow_steps_are_aligned_finer_than_one_step(phase):
    """Steps of 80 ms, longer than a chunk: the host sees an update only once per step, up to 80 ms
    late; the poller times both ends to half a read, so the window spans whole update periods."""
    gpu = SimGPU(step_s=0.08, period=0.05, read_s=0.002, phase=phase)
    w = window(gpu, 5, 1)
    assert w.aligned and w.uncertainty_s <= 2 * gpu.read_s   # a host polling after each step: up to 0.16
    periods = round(w.counter_seconds / gpu.period)
    assert periods >= 5 and abs(w.counter_seconds - periods * gpu.period) <= w.uncertainty_s
    assert w.watts == pytest.approx(gpu.busy_w, rel=0.03)


def test_counter_reads_do_not_inflate_host_bound_eager_steps():
    """Eager steps of 10 ms issued by the host, a read of 4 ms: reading after every chunk would leave
    the device idle 4 ms per step (+13 % EPF here); the poller thread reads while the host issues."""
    gpu = SimGPU(step_s=0.01, period=0.02, read_s=0.004, host_bound=True)
    w = window(gpu, 80, 1)
    assert w.aligned
    assert abs(epf_error(w, gpu)) < 0.06      # reading in the host loop: +13 % to +16 % here


@pytest.mark.parametrize("phase", [0.0, 0.005, 0.017])
def test_the_window_opens_on_the_second_update_after_the_work_starts(phase):
    """The interval that ends on the first update holds the ramp from idle (here 15 ms at idle
    power): the window opens one update period later, and the ramp stays out of it."""
    gpu = SimGPU(step_s=0.001, period=0.02, read_s=0.001, ramp_s=0.015, phase=phase)
    w = window(gpu, 200, 5, depth=20)
    assert w.opened_after_s >= gpu.period - gpu.read_s
    first = gpu.update_times(gpu.work_started, gpu.work_started + 1.0)[0]
    assert w.opened_after_s > first - gpu.work_started + gpu.read_s
    assert w.watts == pytest.approx(gpu.busy_w, rel=0.04)


def test_a_counter_that_never_moves_is_not_aligned_and_not_zero_energy():
    class Stuck(SimGPU):
        def shown(self, t):
            return 1234.5

    gpu = Stuck()
    w = window(gpu, 20, 5, timeout_s=0.03)
    assert not w.aligned and "no counter update seen within 0.03 s" in w.note
    assert w.joules is None and w.unavailable_reason == "the energy counter did not move during the window"
    assert w.steps >= 20 and w.seconds > 0


def test_read_ahead_queues_enough_work_to_outlast_a_read_spike():
    chunk, depth = read_ahead(0.001, 0.005, 0.004)             # 1 ms steps, 4 ms reads
    assert chunk == 5 and depth * chunk * 0.001 >= STALL_READS * 0.004 > 2 * 0.005
    assert read_ahead(0.001, 0.005, 0.0001) == (5, 2)          # cheap reads: two chunks are enough
    assert read_ahead(0.001, 0.005, None) == (5, 2)
    chunk, depth = read_ahead(0.05, 0.005, 0.004)              # slow steps: one per chunk
    assert chunk == 1 and depth * 0.05 >= STALL_READS * 0.004
    with pytest.raises(ValueError, match="step_s > 0"):
        read_ahead(0.0, 0.005, 0.004)


def test_meter_without_counter_uses_begin_end_and_reports_missing_energy():
    gpu = SimGPU()
    meter = M.NullMeter("no energy source")
    w = measure_window(gpu, meter, 50, 7, clock=gpu.clock)
    assert w.steps == 50 and w.seconds == pytest.approx(50 * gpu.step_s, rel=1e-9)
    assert w.joules is None and w.unavailable_reason == "no energy source" and not w.aligned


# -- idle power, on a fake clock (nothing runs, so the reads are synchronous) -----------------------

class FakeIdle:
    """An idle device on a fake clock: ``idle_w`` all along, a counter updated every ``period``."""

    def __init__(self, idle_w=100.0, period=0.1, phase=0.042, moving=True):
        self.t, self.idle_w, self.period, self.phase, self.moving = 0.01, idle_w, period, phase, moving
        self.update_period_s = period
        self.slept = []

    def counter(self):
        self.t += 0.002                                 # one read
        if not self.moving:
            return 5.0
        return self.idle_w * (self.phase + math.floor((self.t - self.phase) / self.period) * self.period)

    def clock(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_idle_power_settles_then_measures_between_two_updates():
    dev = FakeIdle()
    watts, note = idle_power(dev, 3.0, settle_s=1.0, sleep=dev.sleep, clock=dev.clock, poll_s=0.002)
    assert note is None and watts == pytest.approx(dev.idle_w, rel=0.002)
    assert dev.slept[0] == 1.0 and 3.0 in dev.slept      # settled first, then the idle window
    assert idle_power(dev, 0.0, sleep=dev.sleep, clock=dev.clock) == (None, "idle power not measured (idle window 0 s)")


def test_idle_power_is_none_not_zero_when_the_counter_never_moves():
    dev = FakeIdle(moving=False)
    watts, note = idle_power(dev, 1.0, sleep=dev.sleep, clock=dev.clock, timeout_s=0.3)
    assert watts is None and "did not move" in note


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
