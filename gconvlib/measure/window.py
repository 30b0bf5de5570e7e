"""Measurement windows aligned to the updates of a stepped energy counter.

The GPU's energy counter (``nvmlDeviceGetTotalEnergyConsumption``) moves in steps about every
100 ms (REFERENCE §7). Read once before and once after a block of work, it is stale by up to one
step at each end, so a 2 s window carries up to ~5 % error. Here the counter is *polled while the
work runs*, and a window opens and closes on an observed update:

1. the work runs in chunks (a few ms of steps each) queued back to back, at most ``depth`` chunks
   ahead of the host, so the device never waits for the host (one counter read costs ~4 ms);
2. after queueing each chunk the counter is read; the first change seen opens the window
   (counter value E0 at host time t0, which is within one read interval after the update);
3. steps are counted from there; once the window holds at least ``steps`` steps, the next change
   seen closes it (E1, t1);
4. power = (E1 - E0) / (t1 - t0) over an interval that starts and ends on counter updates (each
   end known to within one read interval); time per step = device time of the counted chunks /
   their steps (CUDA events on a GPU); energy of the window's steps = power x their device time.

The device is busy all along (the wait for the first update runs the same steps, a warm-up), so
the power over [t0, t1] is the power of the steps counted. :func:`measure_window` takes the work
as a :class:`Runner` and the meter as anything with :meth:`~gconvlib.measure.meters.Meter.counter`,
so tests drive it with a fake clock, a fake device and a fake stepped counter.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol


class Runner(Protocol):
    """The work of a window: ``enqueue(n)`` queues n steps and returns a handle that marks their
    end (``enqueue(0)`` marks now); ``wait(handle)`` blocks until the work up to it is done;
    ``elapsed(h0, h1)`` is the device time between two handles, in seconds."""

    def enqueue(self, steps: int) -> Any: ...

    def wait(self, handle: Any) -> None: ...

    def elapsed(self, start: Any, end: Any) -> float: ...


@dataclass(frozen=True)
class Window:
    """One measured window.

    steps / seconds: the steps counted and their device time. joules: energy of those steps
    (``None`` without an energy source; ``unavailable_reason`` says why). counter_joules /
    counter_seconds: the counter's change and the host time between the two updates that bound
    it (aligned windows), or between begin and end (others). aligned: both ends on an update.
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

    @property
    def watts(self) -> float | None:
        if self.counter_joules is None or self.counter_seconds <= 0:
            return None
        return self.counter_joules / self.counter_seconds


def measure_window(runner: Runner, meter, steps: int, chunk_steps: int = 1, *,
                   clock: Callable[[], float] = time.perf_counter, timeout_s: float | None = None,
                   depth: int = 2) -> Window:
    """Run at least ``steps`` steps in chunks of ``chunk_steps`` and measure them (see module doc).

    A meter with a counter (``meter.counter()`` not None) is polled and the window aligned to its
    updates when ``meter.update_period_s > 0``; if no update is seen within ``timeout_s`` (default
    max(0.5 s, 5 update periods)) that end is left unaligned and ``note`` says so. A meter without
    a counter is read with ``begin()``/``end()`` around the steps (power polling, or no energy).
    """
    steps, chunk_steps, depth = max(1, int(steps)), max(1, int(chunk_steps)), max(1, int(depth))
    period = float(getattr(meter, "update_period_s", 0.0) or 0.0)
    timeout = timeout_s if timeout_s is not None else max(0.5, 5 * period)
    first = meter.counter()
    if first is None:
        return _begin_end_window(runner, meter, steps, chunk_steps)

    align = period > 0
    last, reads = first, 1
    queued: deque = deque()
    start = end = None            # (handle, counter value, host time, aligned)
    counted = 0
    since = clock()               # when the current phase began (for the timeouts)
    while end is None:
        handle = runner.enqueue(chunk_steps)
        value = meter.counter()
        now = clock()
        reads += 1
        updated = (value != last) if align else True
        last = value
        queued.append(handle)
        if len(queued) > depth:   # keep at most `depth` chunks ahead of the host
            runner.wait(queued.popleft())
        if start is None:
            if updated or now - since > timeout:
                start, since = (handle, value, now, updated), now
            continue
        counted += chunk_steps
        if counted < steps:
            since = now
            continue
        if updated or now - since > timeout:
            end = (handle, value, now, updated)
    runner.wait(end[0])
    seconds = runner.elapsed(start[0], end[0])
    counter_joules, counter_seconds = end[1] - start[1], end[2] - start[2]
    aligned = bool(start[3] and end[3])
    note = None
    if align and not aligned:
        ends = [name for name, b in (("start", start), ("end", end)) if not b[3]]
        note = (f"no counter update seen within {timeout:g} s at the window's {' and '.join(ends)}: "
                f"not aligned there")
    if counter_joules <= 0 or counter_seconds <= 0:
        return Window(counted, seconds, None, counter_joules, counter_seconds, aligned, reads,
                      "the energy counter did not move during the window", note)
    joules = counter_joules * seconds / counter_seconds
    return Window(counted, seconds, joules, counter_joules, counter_seconds, aligned, reads, None, note)


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


def idle_power(meter, seconds: float, *, sleep: Callable[[float], Any] = time.sleep,
               clock: Callable[[], float] = time.perf_counter, poll_s: float = 0.005,
               timeout_s: float | None = None) -> tuple[float | None, str | None]:
    """Average power (W) with nothing running for about ``seconds``; (None, reason) without energy.

    With a stepped counter the interval starts and ends on observed updates (polled every
    ``poll_s``), as the windows do.
    """
    if seconds <= 0:
        return None, "idle power not measured (idle window 0 s)"
    first = meter.counter()
    if first is None:
        meter.begin()
        sleep(seconds)
        reading = meter.end()
        return (reading.watts, None) if reading.joules is not None else (None, reading.unavailable_reason)
    period = float(getattr(meter, "update_period_s", 0.0) or 0.0)
    timeout = timeout_s if timeout_s is not None else max(0.5, 5 * period)

    def next_update(after: float) -> tuple[float, float]:
        began = clock()
        while True:
            value = meter.counter()
            now = clock()
            if period <= 0 or value != after or now - began > timeout:
                return value, now
            sleep(poll_s)

    e0, t0 = next_update(first)
    sleep(seconds)
    e1, t1 = next_update(meter.counter())
    if t1 <= t0:
        return None, "idle window of zero length"
    return (e1 - e0) / (t1 - t0), None


__all__ = ["Runner", "Window", "idle_power", "measure_window"]
