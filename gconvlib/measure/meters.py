"""Energy meters behind one interface: ``begin()`` ... ``end() -> Reading``.

* :class:`NvmlEnergyMeter`: the GPU's cumulative energy counter (mJ, Volta and newer), read once
  at ``begin`` and once at ``end``, each read after ``sync()`` so that queued kernels are inside
  the window. This is the meter to trust (it integrates on the GPU; power readings are averages).
* :class:`NvmlPowerMeter`: for GPUs without the counter, a thread polls the board power (mW) and
  integrates it (trapezoid). NVML power is a ~1 s average on recent GPUs, so the result is
  labelled ``approximate``.
* :class:`RaplMeter`: CPU package energy from the powercap sysfs tree (``energy_uj``), with
  wrap-around handled through ``max_energy_range_uj``.
* :class:`NullMeter`: no energy source; ``joules`` is ``None`` with the reason. Never 0: a zero
  would read as "free" in a table, a missing value reads as missing.

A meter with a cumulative counter (NVML energy, RAPL) also answers :meth:`Meter.counter` (joules
so far) and says how often the counter moves (:attr:`Meter.update_period_s`): the EPF protocol
then aligns each window to counter updates (:mod:`gconvlib.measure.window`) instead of calling
``begin``/``end``, which removes the counter's 100 ms quantisation from short windows.

:func:`select_meter` picks the best one for a device. The NVML module is injectable (the
``nvml`` parameter, or the module-level :data:`nvml_module` hook) so tests run a fake NVML.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

#: Tests (or callers with a wrapped NVML) may set this; ``None`` means ``import pynvml``.
nvml_module: Any = None

DEFAULT_RAPL_ROOT = Path("/sys/class/powercap")


@dataclass(frozen=True)
class Reading:
    """One metered window. ``joules`` is ``None`` when no energy could be measured."""

    joules: float | None
    seconds: float
    meter: str
    approximate: bool = False
    unavailable_reason: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.joules is not None

    @property
    def watts(self) -> float | None:
        if self.joules is None or self.seconds <= 0:
            return None
        return self.joules / self.seconds


def _noop() -> None:
    return None


class Meter(ABC):
    """Base class: ``begin()`` opens a window, ``end()`` closes it and returns a :class:`Reading`.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before every read so that work queued on the
    device is finished, and therefore inside the window, when the meter is read.
    """

    name = "meter"
    approximate = False
    #: seconds between updates of the counter (0: it moves continuously, or there is none)
    update_period_s = 0.0

    def __init__(self, sync: Callable[[], Any] | None = None, clock: Callable[[], float] = time.perf_counter):
        self.sync = sync or _noop
        self.clock = clock
        self._t0: float | None = None

    @abstractmethod
    def begin(self) -> None:
        """Sync, then open the window."""

    @abstractmethod
    def end(self) -> Reading:
        """Sync, then close the window and return what was measured."""

    def close(self) -> None:
        """Release what the meter holds (NVML handle, polling thread)."""

    def counter(self) -> float | None:
        """The cumulative energy counter in joules (no sync; one read), or ``None`` for a meter
        without one (power polling, no energy source): those are read with begin/end."""
        return None

    def _elapsed(self) -> float:
        if self._t0 is None:
            raise RuntimeError(f"{type(self).__name__}.end() called without begin()")
        return self.clock() - self._t0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _CounterMeter(Meter):
    """A meter that reads a cumulative energy counter at begin and at end: subclasses say how to
    read it (``_read``), which errors mean "not readable" (``read_errors``, with ``read_failure``
    as the reason's prefix) and how two reads become joules (``_joules``)."""

    read_errors: tuple[type[BaseException], ...] = (Exception,)
    read_failure = "energy read failed"

    @abstractmethod
    def _read(self) -> Any:
        """One read of the counter, in the meter's own unit."""

    @abstractmethod
    def _joules(self, e0: Any, e1: Any) -> float:
        """Joules between two reads."""

    def _details(self, e0: Any, e1: Any) -> dict:
        return {}

    def begin(self) -> None:
        self.sync()
        self._e0 = self._read()
        self._t0 = self.clock()

    def end(self) -> Reading:
        self.sync()
        try:
            e1 = self._read()
        except self.read_errors as exc:  # a failed read is a missing value, not a crash
            return Reading(None, self._elapsed(), self.name, False, f"{self.read_failure}: {exc}")
        return Reading(self._joules(self._e0, e1), self._elapsed(), self.name, False, None,
                       self._details(self._e0, e1))


class NullMeter(Meter):
    """No energy source: every reading has ``joules=None`` and says why."""

    name = "none"

    def __init__(self, reason: str, sync: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__(sync, clock)
        self.reason = reason

    def begin(self) -> None:
        self.sync()
        self._t0 = self.clock()

    def end(self) -> Reading:
        self.sync()
        return Reading(None, self._elapsed(), self.name, False, self.reason)


# -- NVML ---------------------------------------------------------------------------------

def load_nvml(nvml: Any = None) -> Any:
    """The NVML module to use: the argument, else the :data:`nvml_module` hook, else ``pynvml``."""
    if nvml is not None:
        return nvml
    if nvml_module is not None:
        return nvml_module
    import pynvml

    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_handle(nvml: Any, index: int = 0, uuid: str | None = None, pci_bus_id: str | None = None) -> Any:
    """Handle of the GPU torch calls ``cuda:index`` (see :func:`find_nvml_device`)."""
    return find_nvml_device(nvml, index, uuid, pci_bus_id)[0]


def find_nvml_device(nvml: Any, index: int = 0, uuid: str | None = None,
                     pci_bus_id: str | None = None) -> tuple[Any, str]:
    """``(handle, how)`` of the GPU torch calls ``cuda:index``; ``how`` says what matched.

    NVML numbers GPUs in PCI order ignoring ``CUDA_VISIBLE_DEVICES``, CUDA fastest first: the
    index names the same GPU in both only when NVML sees one. So the UUID (from torch's device
    properties) is tried first, then the PCI bus id, then the index where NVML sees a single GPU;
    otherwise ValueError: metering another GPU than the one measured would be a wrong number.
    """
    if uuid:
        uuid = str(uuid)
        name = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
        try:
            return nvml.nvmlDeviceGetHandleByUUID(name), "uuid"
        except Exception:  # noqa: BLE001 - older drivers/bindings: try the bus id
            pass
    if pci_bus_id:
        try:
            return nvml.nvmlDeviceGetHandleByPciBusId(str(pci_bus_id)), "pci_bus_id"
        except Exception:  # noqa: BLE001
            pass
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception:  # noqa: BLE001 - unknown count: the index cannot be trusted either
        count = None
    if count == 1 and index == 0:
        return nvml.nvmlDeviceGetHandleByIndex(0), "index (the only GPU NVML sees)"
    raise ValueError(f"cannot tell which NVML device is cuda:{index}: neither its UUID ({uuid}) nor its PCI bus "
                     f"id ({pci_bus_id}) matched, and NVML sees {count if count is not None else 'an unknown number of'} "
                     f"GPUs")


def nvml_identity(nvml: Any, handle: Any) -> dict:
    """The NVML UUID and PCI bus id of a handle (``None`` where NVML does not answer): recorded
    with every measurement, so that the metered GPU can be checked against the measured one."""
    out = {}
    for key, read in (("nvml_uuid", lambda: _text(nvml.nvmlDeviceGetUUID(handle))),
                      ("nvml_pci_bus_id", lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId))):
        try:
            out[key] = read()
        except Exception:  # noqa: BLE001 - each field is optional
            out[key] = None
    return out


def _is_not_supported(nvml: Any, exc: BaseException) -> bool:
    cls = getattr(nvml, "NVMLError_NotSupported", None)
    return isinstance(cls, type) and isinstance(exc, cls)


class _NvmlMeter(Meter):
    """Shared NVML set-up: owns one ``nvmlInit`` (NVML counts them) when it made the handle."""

    #: why a less exact meter was chosen (set by select_meter), reported in every reading's meta
    fallback_reason: str | None = None

    #: how the handle was matched to the CUDA device (see find_nvml_device)
    matched_by: str | None = None

    def __init__(self, handle: Any = None, index: int = 0, uuid: str | None = None,
                 sync: Callable[[], Any] | None = None, nvml: Any = None,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__(sync, clock)
        self.nvml = load_nvml(nvml)
        self._owns_init = handle is None
        if handle is None:
            self.nvml.nvmlInit()
            try:
                handle, self.matched_by = find_nvml_device(self.nvml, index, uuid)
            except BaseException:
                self.nvml.nvmlShutdown()
                raise
        self.handle = handle

    def identity(self) -> dict:
        """NVML UUID and PCI bus id of the metered GPU, and how it was matched."""
        return {**nvml_identity(self.nvml, self.handle), "nvml_matched_by": self.matched_by}

    def adopt_init(self) -> None:
        """Take over an ``nvmlInit`` made by the caller (select_meter), to be undone by close()."""
        self._owns_init = True

    def close(self) -> None:
        if self._owns_init:
            self._owns_init = False
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001 - shutting down is best effort
                pass


class NvmlEnergyMeter(_CounterMeter, _NvmlMeter):
    """``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load), read at begin and end, or
    polled through :meth:`counter` by an aligned window (:mod:`gconvlib.measure.window`).

    The counter refreshes every ~100 ms: a plain begin/end window of 2 s carries up to ~5 %
    error from that step; aligned windows do not.
    """

    name = "nvml_energy"
    update_period_s = 0.1  # observed on recent NVIDIA GPUs: refreshes about every 100 ms; one read costs ~4 ms

    read_failure = "NVML energy read failed"

    def _read(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def counter(self) -> float:
        return self._read() / 1000.0

    def _joules(self, e0: int, e1: int) -> float:
        return (e1 - e0) / 1000.0

    def _details(self, e0: int, e1: int) -> dict:
        return {"counter_mj_begin": e0, "counter_mj_end": e1}


def integrate_power(samples: Sequence[tuple[float, float]]) -> float:
    """Trapezoid integral of ``(time_s, watts)`` samples, in joules."""
    joules = 0.0
    for (t0, p0), (t1, p1) in zip(samples, samples[1:]):
        joules += 0.5 * (p0 + p1) * (t1 - t0)
    return joules


class NvmlPowerMeter(_NvmlMeter):
    """Board power (``nvmlDeviceGetPowerUsage``, mW) polled by a thread and integrated.

    Only for GPUs without the energy counter: NVML power is a ~1 s average (or samples 25 ms of
    every 100 ms) on recent GPUs, so short windows and fast changes are smeared. ``approximate``.
    """

    name = "nvml_power"
    approximate = True

    def __init__(self, handle: Any = None, index: int = 0, uuid: str | None = None,
                 sync: Callable[[], Any] | None = None, nvml: Any = None,
                 clock: Callable[[], float] = time.perf_counter, interval_s: float = 0.05):
        super().__init__(handle, index, uuid, sync, nvml, clock)
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._samples: list[tuple[float, float]] = []
        self._error: str | None = None

    def _sample(self) -> tuple[float, float]:
        watts = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        return self.clock(), watts

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._samples.append(self._sample())
            except Exception as exc:  # noqa: BLE001 - reported by end()
                self._error = f"NVML power read failed: {exc}"
                return

    def begin(self) -> None:
        self._stop_thread()
        self.sync()
        self._error = None
        self._samples = [self._sample()]
        self._t0 = self._samples[0][0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="nvml-power-poll", daemon=True)
        self._thread.start()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def end(self) -> Reading:
        self.sync()
        self._stop_thread()
        try:
            self._samples.append(self._sample())
        except Exception as exc:  # noqa: BLE001
            self._error = self._error or f"NVML power read failed: {exc}"
        seconds = self._samples[-1][0] - self._samples[0][0] if self._samples else self._elapsed()
        meta = {"samples": len(self._samples), "interval_s": self.interval_s,
                "fallback_reason": self.fallback_reason}
        if self._error:
            return Reading(None, seconds, self.name, True, self._error, meta)
        return Reading(integrate_power(self._samples), seconds, self.name, True, None, meta)

    def close(self) -> None:
        self._stop_thread()
        super().close()


# -- RAPL -------------------------------------------------------------------------------------

class RaplMeter(_CounterMeter):
    """CPU package energy from ``<root>/intel-rapl:N/energy_uj`` (powercap sysfs).

    Sums the top-level package domains (``intel-rapl:N``, not the ``intel-rapl:N:M`` sub-domains
    they already contain; ``psys`` is skipped when packages exist because it contains them too).
    The counters wrap at ``max_energy_range_uj``; one wrap per window is undone (a wrap takes
    minutes at server power, windows are seconds). Reading usually needs root.
    """

    name = "rapl"

    def __init__(self, root: Path | str = DEFAULT_RAPL_ROOT, sync: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__(sync, clock)
        self.root = Path(root)
        domains = sorted(p for p in self.root.glob("intel-rapl:*") if p.name.count(":") == 1)
        if not domains:
            raise OSError(f"no intel-rapl:* domains under {self.root}")
        names = {d: self._name(d) for d in domains}
        packages = [d for d in domains if names[d] != "psys"]
        self.domains = packages or domains
        self.names = [names[d] for d in self.domains]
        # probe now, so that an unreadable tree is found when the meter is chosen, not mid-sweep
        self.max_range_uj = [int((d / "max_energy_range_uj").read_text().strip()) for d in self.domains]
        self._read()

    @staticmethod
    def _name(domain: Path) -> str:
        try:
            return (domain / "name").read_text().strip()
        except OSError:
            return domain.name

    def _read(self) -> list[int]:
        return [int((d / "energy_uj").read_text().strip()) for d in self.domains]

    update_period_s = 0.001  # the package counters move about every millisecond

    def counter(self) -> float:
        """Joules since the first call (one wrap per domain between two calls is undone)."""
        now = self._read()
        last = getattr(self, "_counter_last", None)
        if last is not None:
            self._counter_total += rapl_delta_joules(last, now, self.max_range_uj)
        else:
            self._counter_total = 0.0
        self._counter_last = now
        return self._counter_total

    read_errors = (OSError, ValueError)
    read_failure = "RAPL not readable"

    def _joules(self, e0: list[int], e1: list[int]) -> float:
        return rapl_delta_joules(e0, e1, self.max_range_uj)

    def _details(self, e0, e1) -> dict:
        return {"domains": self.names}


def rapl_delta_joules(begin_uj: Sequence[int], end_uj: Sequence[int], max_range_uj: Sequence[int]) -> float:
    """Energy between two reads of the domains' counters, undoing one wrap-around per domain."""
    total = 0
    for e0, e1, top in zip(begin_uj, end_uj, max_range_uj):
        total += e1 - e0 if e1 >= e0 else e1 + top - e0
    return total / 1e6


# -- selection and telemetry ----------------------------------------------------------------

def _cuda_index(device: str) -> int:
    _, _, idx = device.partition(":")
    return int(idx) if idx else 0


def select_meter(device: str, sync: Callable[[], Any] | None = None, *, nvml: Any = None,
                 uuid: str | None = None, pci_bus_id: str | None = None,
                 rapl_root: Path | str = DEFAULT_RAPL_ROOT, power_interval_s: float = 0.05) -> Meter:
    """The best meter available for ``device`` ("cuda", "cuda:N" or "cpu"); ``uuid`` and
    ``pci_bus_id`` (torch's, for cuda) find the same GPU in NVML (:func:`find_nvml_device`).

    cuda: the NVML energy counter; if the GPU lacks it, power polling (approximate); no NVML
    (library, driver) -> :class:`NullMeter`. cpu: RAPL if readable, else :class:`NullMeter`.
    """
    if device == "cpu":
        try:
            return RaplMeter(rapl_root, sync)
        except (OSError, ValueError) as exc:
            return NullMeter(f"RAPL not readable: {exc}", sync)
    if device != "cuda" and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    try:
        nv = load_nvml(nvml)
        nv.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - ImportError, NVMLError_LibraryNotFound, DriverNotLoaded...
        return NullMeter(f"NVML unavailable: {exc}", sync)
    try:
        handle, matched_by = find_nvml_device(nv, _cuda_index(device), uuid, pci_bus_id)
    except Exception as exc:  # noqa: BLE001
        nv.nvmlShutdown()
        return NullMeter(f"NVML unavailable: {exc}", sync)
    try:
        nv.nvmlDeviceGetTotalEnergyConsumption(handle)
        meter: _NvmlMeter = NvmlEnergyMeter(handle, sync=sync, nvml=nv)
    except Exception as exc:  # noqa: BLE001 - NotSupported (pre-Volta) or any other counter failure
        why = "energy counter not supported" if _is_not_supported(nv, exc) else f"energy counter failed: {exc}"
        try:
            nv.nvmlDeviceGetPowerUsage(handle)
        except Exception as exc2:  # noqa: BLE001
            nv.nvmlShutdown()
            return NullMeter(f"NVML unavailable: {why}; power read failed: {exc2}", sync)
        meter = NvmlPowerMeter(handle, sync=sync, nvml=nv, interval_s=power_interval_s)
        meter.fallback_reason = why
    meter.matched_by = matched_by
    meter.adopt_init()
    return meter


def _throttle_names(nvml: Any, mask: int) -> list[str]:
    names = set()
    for prefix in ("nvmlClocksEventReason", "nvmlClocksThrottleReason"):
        for attr in dir(nvml):
            if not attr.startswith(prefix):
                continue
            short = attr[len(prefix):]
            bit = getattr(nvml, attr)
            if short in ("All", "None") or not isinstance(bit, int) or bit == 0:
                continue
            if mask & bit == bit:
                names.add(short)
    return sorted(names)


def gpu_telemetry(handle: Any, nvml: Any = None) -> dict:
    """Temperatures, clocks, throttle reasons, power and driver of one GPU; a field is ``None``
    when its NVML call fails (unsupported, no permission), never a made-up value."""
    nv = load_nvml(nvml)

    def attempt(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - each field is optional
            return None

    def memory_temp() -> int | None:
        value = nv.nvmlDeviceGetFieldValues(handle, [nv.NVML_FI_DEV_MEMORY_TEMP])[0]
        return int(value.value.uiVal) if value.nvmlReturn == 0 else None

    def throttle_mask() -> int:
        getter = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nv.nvmlDeviceGetCurrentClocksThrottleReasons
        return int(getter(handle))

    mask = attempt(throttle_mask)
    power_mw = attempt(lambda: nv.nvmlDeviceGetPowerUsage(handle))
    limit_mw = attempt(lambda: nv.nvmlDeviceGetEnforcedPowerLimit(handle))
    return {
        "name": attempt(lambda: _text(nv.nvmlDeviceGetName(handle))),
        "driver": attempt(lambda: _text(nv.nvmlSystemGetDriverVersion())),
        "temperature_gpu_c": attempt(lambda: int(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))),
        "temperature_memory_c": attempt(memory_temp),
        "sm_clock_mhz": attempt(lambda: int(nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_SM))),
        "memory_clock_mhz": attempt(lambda: int(nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_MEM))),
        "throttle_mask": mask,
        "throttle_reasons": _throttle_names(nv, mask) if mask is not None else None,
        "power_w": power_mw / 1000.0 if power_mw is not None else None,
        "power_limit_w": limit_mw / 1000.0 if limit_mw is not None else None,
    }
