"""Measurement windows aligned to the updates of a stepped energy counter.

The GPU's energy counter (``nvmlDeviceGetTotalEnergyConsumption``) moves in steps about every
100 ms and one read costs ~4 ms (as observed on recent NVIDIA GPUs). Read once before and once after a block of work,
it is stale by up to one step at each end, so a 2 s window carries up to ~5 % error. Here the
counter is *polled by a background thread while the work runs*, and a window opens and closes on
an observed update:

1. a :class:`CounterPoller` thread reads the counter back to back and timestamps every change at
   the midpoint between the middle of the last read that showed the old value and the middle of
   the first read that showed the new one (so an end is known to about half a read, whatever the
   step time: a step longer than a read no longer makes the update late by up to one step);
2. the host thread only queues work, in chunks, at most ``depth`` chunks ahead of the device, so
   the device never waits for the host; it never reads the counter inside the window, so
   host-bound (eager) steps are not slowed by ~4 ms reads that would inflate their energy;
3. the window opens on the *second* update seen after the work started (the interval ending on the
   first holds the ramp from idle) and, once at least ``steps`` steps are counted, closes on the
   next update;
4. power = (E1 - E0) / (t1 - t0) over an interval that starts and ends on counter updates; time
   per step = device time of the counted chunks / their steps (CUDA events on a GPU); energy of
   the window's steps = power x their device time.

The device is busy all along, so the power over [t0, t1] is the power of the steps counted.
:func:`measure_window` takes the work as a :class:`Runner` and the meter as anything with
:meth:`~gconvlib.measure.meters.Meter.counter`, so tests drive it with a simulated device and
counter. :func:`read_ahead` sizes the chunks and the queue from the cost of one counter read.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

#: the host may stall for a few counter reads at once (a slow read, a GIL hand-over to the poller
#: thread): the queue ahead of the device holds at least this many reads' worth of work
STALL_READS = 8


class Runner(Protocol):
    """The work of a window: ``enqueue(n)`` queues n steps and returns a handle that marks their
    end (``enqueue(0)`` marks now); ``wait(handle)`` blocks until the work up to it is done;
    ``elapsed(h0, h1)`` is the device time between two handles, in seconds."""

    def enqueue(self, steps: int) -> Any: ...

    def wait(self, handle: Any) -> None: ...

    def elapsed(self, start: Any, end: Any) -> float: ...


@dataclass(frozen=True)
class Update:
    """A counter change: the new value, when it happened (host clock) and +- how exactly."""

    t: float
    value: float
    uncertainty_s: float


class CounterPoller:
    """Reads ``read()`` in a background thread until stopped, timestamping every change.

    ``pause_s`` between reads keeps a cheap counter (RAPL, a file read) from spinning a core and
    competing with the host thread for the interpreter lock. NVML reads release the lock (ctypes),
    so the host keeps queueing work while a read is in flight.
    """

    def __init__(self, read: Callable[[], float], clock: Callable[[], float] = time.perf_counter,
                 pause_s: float = 0.001):
        self.read, self.clock, self.pause_s = read, clock, pause_s
        self.updates: list[Update] = []
        self.reads, self.read_seconds = 0, 0.0
        self.last: tuple[float, float] | None = None      # (time, value) of the latest read
        self.error: str | None = None
        self._stop, self._first = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "CounterPoller":
        self._thread = threading.Thread(target=self._run, name="energy-counter-poll", daemon=True)
        self._thread.start()
        self._first.wait()
        if self.error:
            self.stop()
            raise RuntimeError(f"energy counter read failed: {self.error}")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    __enter__ = start

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False

    @property
    def read_s(self) -> float:
        """Mean seconds per read so far."""
        return self.read_seconds / self.reads if self.reads else math.nan

    def observe(self, t0: float, t1: float, value: float) -> None:
        """One read that began at ``t0``, ended at ``t1`` and showed ``value``: a change since the
        previous read is an update, timed between the two reads' middles. The thread calls it after
        every read; a test on a simulated clock calls it with the reads it simulates."""
        mid = 0.5 * (t0 + t1)
        self.reads += 1
        self.read_seconds += t1 - t0
        prev = self.last
        if prev is not None and value != prev[1]:
            self.updates.append(Update(0.5 * (prev[0] + mid), value, 0.5 * (mid - prev[0])))
        self.last = (mid, value)

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = self.clock()
            try:
                value = self.read()
            except Exception as exc:  # noqa: BLE001 - reported to the window, which fails the trial
                self.error = f"{type(exc).__name__}: {exc}"
                self._first.set()
                return
            self.observe(t0, self.clock(), value)
            self._first.set()
            if self.pause_s > 0:
                self._stop.wait(self.pause_s)


@dataclass(frozen=True)
class Window:
    """One measured window.

    steps / seconds: the steps counted and their device time. joules: energy of those steps
    (``None`` without an energy source; ``unavailable_reason`` says why). counter_joules /
    counter_seconds: the counter's change and the host time between the two updates that bound
    it (aligned windows), or between begin and end (others). aligned: both ends on an update.
    uncertainty_s: how exactly the two ends are timed (sum of both). opened_after_s: host time
    from the first queued step to the update that opened the window. read_ms: one counter read.
    """

    steps: int
    seconds: float
    joules: float | None
    counter_joules: float | None
    counter_seconds: float
    aligned: bool
    reads: int
    unavailable_reason: str | None = None
    note: str | None = None
    uncertainty_s: float = math.nan
    opened_after_s: float = math.nan
    read_ms: float = math.nan

    @property
    def watts(self) -> float | None:
        if self.counter_joules is None or self.counter_seconds <= 0:
            return None
        return self.counter_joules / self.counter_seconds


def read_ahead(step_s: float, chunk_s: float, read_s: float | None) -> tuple[int, int]:
    """``(chunk_steps, depth)``: chunks of about ``chunk_s`` (at least one step) and enough of
    them queued that the device outlasts a host stall of :data:`STALL_READS` counter reads (a 4 ms
    read: 32 ms queued, where two 5 ms chunks starve on one read spike over ~8 ms)."""
    if not (step_s > 0 and math.isfinite(step_s)) or chunk_s <= 0:
        raise ValueError(f"read_ahead needs step_s > 0 and chunk_s > 0, got {step_s} and {chunk_s}")
    chunk = max(1, round(chunk_s / step_s))
    ahead_s = STALL_READS * read_s if read_s is not None and read_s > 0 and math.isfinite(read_s) else 0.0
    depth = max(2, math.ceil(ahead_s / (chunk * step_s)))
    return chunk, depth


def measure_window(runner: Runner, meter, steps: int, chunk_steps: int = 1, *,
                   clock: Callable[[], float] = time.perf_counter, timeout_s: float | None = None,
                   depth: int = 2, poll_pause_s: float = 0.001,
                   make_poller: Callable[..., CounterPoller] = CounterPoller) -> Window:
    """Run at least ``steps`` steps in chunks of ``chunk_steps`` and measure them (see module doc).

    A meter with a counter (``meter.counter()`` not None) is polled from a thread and the window
    aligned to its updates when ``meter.update_period_s > 0``; if no update is seen within
    ``timeout_s`` (default max(0.5 s, 5 update periods)) that end is left unaligned and ``note``
    says so. A meter without a counter is read with ``begin()``/``end()`` around the steps.
    ``make_poller(read, clock, pause_s)`` makes the poller: a test on a simulated clock passes one whose
    reads are simulated on that clock instead of run in a thread on the real one.
    """
    steps, chunk_steps, depth = max(1, int(steps)), max(1, int(chunk_steps)), max(1, int(depth))
    period = float(getattr(meter, "update_period_s", 0.0) or 0.0)
    timeout = timeout_s if timeout_s is not None else max(0.5, 5 * period)
    if meter.counter() is None:
        return _begin_end_window(runner, meter, steps, chunk_steps)

    align = period > 0
    need_to_open = 2 if align else 0      # the first update's interval holds the ramp from idle
    queued: deque = deque()
    start = end = None                    # (handle, Update, aligned)
    counted = 0
    with make_poller(meter.counter, clock, poll_pause_s) as poller:
        seen = len(poller.updates)        # updates before the work are not the window's
        began = since = clock()
        while end is None:
            handle = runner.enqueue(chunk_steps)
            queued.append(handle)
            if len(queued) > depth:       # keep at most `depth` chunks ahead of the host
                runner.wait(queued.popleft())
            if poller.error:
                raise RuntimeError(f"energy counter read failed: {poller.error}")
            now = clock()
            new = poller.updates[seen:]
            if start is None:
                if len(new) >= need_to_open and need_to_open:
                    start, seen, since = (handle, new[need_to_open - 1], True), seen + need_to_open, now
                elif not need_to_open or now - since > timeout:
                    start, since = (handle, _latest(poller), False), now
                    seen = len(poller.updates)
                continue
            counted += chunk_steps        # every chunk after the start handle is in the window
            if counted - chunk_steps < steps <= counted:
                seen, since = len(poller.updates), now   # an update from now on closes the window
                continue
            if counted < steps:
                continue
            if align and new:
                end = (handle, new[0], True)
            elif not align or now - since > timeout:
                end = (handle, _latest(poller), False)
        runner.wait(end[0])
        reads, read_s = poller.reads, poller.read_s
    return _window(runner, start, end, counted, reads, read_s, began, align, timeout)


def _latest(poller: CounterPoller) -> Update:
    t, value = poller.last
    return Update(t, value, math.nan)


def _window(runner: Runner, start, end, counted: int, reads: int, read_s: float, began: float, align: bool,
            timeout: float) -> Window:
    seconds = runner.elapsed(start[0], end[0])
    u0, u1 = start[1], end[1]
    counter_joules, counter_seconds = u1.value - u0.value, u1.t - u0.t
    aligned = bool(start[2] and end[2])
    note = None
    if align and not aligned:
        ends = [name for name, b in (("start", start), ("end", end)) if not b[2]]
        note = (f"no counter update seen within {timeout:g} s at the window's {' and '.join(ends)}: "
                f"not aligned there")
    extra = dict(uncertainty_s=u0.uncertainty_s + u1.uncertainty_s, opened_after_s=u0.t - began,
                 read_ms=1000 * read_s)
    if counter_joules <= 0 or counter_seconds <= 0:
        return Window(counted, seconds, None, counter_joules, counter_seconds, aligned, reads,
                      "the energy counter did not move during the window", note, **extra)
    joules = counter_joules * seconds / counter_seconds
    return Window(counted, seconds, joules, counter_joules, counter_seconds, aligned, reads, None, note, **extra)


def _begin_end_window(runner: Runner, meter, steps: int, chunk_steps: int) -> Window:
    """Meters without a counter: ``begin`` after the queue is drained, ``end`` after the steps."""
    runner.wait(runner.enqueue(0))
    meter.begin()
    start = runner.enqueue(0)
    handle = start
    for done in range(0, steps, chunk_steps):
        handle = runner.enqueue(min(chunk_steps, steps - done))
    runner.wait(handle)
    reading = meter.end()
    seconds = runner.elapsed(start, handle)
    return Window(steps, seconds, reading.joules, reading.joules, reading.seconds, False, 2,
                  reading.unavailable_reason, None)


def idle_power(meter, seconds: float, *, settle_s: float = 0.0, sleep: Callable[[float], Any] = time.sleep,
               clock: Callable[[], float] = time.perf_counter, poll_s: float = 0.005,
               timeout_s: float | None = None) -> tuple[float | None, str | None]:
    """Average power (W) with nothing running for about ``seconds``, after ``settle_s`` of rest
    (a device coming off work ramps down); (None, reason) without energy or when the counter never
    moved (an idle power of 0 W would make dynamic EPF silently equal total EPF).

    With a stepped counter the interval starts and ends on observed updates (polled every
    ``poll_s``; nothing runs, so reads cost the work nothing), timed as the windows' are.
    """
    if seconds <= 0:
        return None, "idle power not measured (idle window 0 s)"
    if settle_s > 0:
        sleep(settle_s)
    first = meter.counter()
    if first is None:
        meter.begin()
        sleep(seconds)
        reading = meter.end()
        return (reading.watts, None) if reading.joules is not None else (None, reading.unavailable_reason)
    period = float(getattr(meter, "update_period_s", 0.0) or 0.0)
    timeout = timeout_s if timeout_s is not None else max(0.5, 5 * period)

    def read() -> tuple[float, float]:
        t0 = clock()
        value = meter.counter()
        return value, 0.5 * (t0 + clock())

    def next_update(after: tuple[float, float]) -> tuple[float, float, bool]:
        """The next change after ``after`` = (value, time): (value, time, seen)."""
        began, prev = clock(), after
        while True:
            value, mid = read()
            if period <= 0 or value != prev[0]:
                return value, 0.5 * (prev[1] + mid), True
            if clock() - began > timeout:
                return value, mid, False
            prev = (value, mid)
            sleep(poll_s)

    e0, t0, seen0 = next_update(read())
    sleep(seconds)
    e1, t1, seen1 = next_update(read())
    if e1 == e0 or not (seen0 or seen1):
        return None, f"the energy counter did not move during the {seconds:g} s idle window"
    if t1 <= t0:
        return None, "idle window of zero length"
    note = None if (seen0 and seen1) else "idle window not aligned to counter updates at one end"
    return (e1 - e0) / (t1 - t0), note


__all__ = ["CounterPoller", "Runner", "STALL_READS", "Update", "Window", "idle_power", "measure_window",
           "read_ahead"]
