"""Energy per frame (EPF) of one training step: the E2GC paper's "one forward and one backward pass".

A *cell* (:class:`EpfCell`) is a model variant (a :class:`~gconvlib.models.ModelSpec`, the one
model description) and a batch size. One *step* (:class:`~gconvlib.measure.step.TrainStep`) = zero
the grads + forward + cross-entropy on synthetic labels + backward, on a batch already on the
device, in the protocol's memory format and precision. A *trial* is one window of
:func:`gconvlib.measure.window.measure_window`: the steps run back to back in chunks of a few
milliseconds, the energy counter is polled by a thread while they run, and the window opens and
closes on counter updates (so a 1 s window is as accurate as a 5 s unaligned one). Trials repeat
until the coefficient of variation (CV) across trials is at most ``target_cv`` (at least
``min_trials``, at most ``max_trials``), round-robin over the cells of a group, so that thermal
drift spreads over all of them. Active-idle power, measured once in the same process after the
device has settled, gives the dynamic EPF ``(P - P_idle) * t / frames`` beside the total EPF
``E / frames``.

On a GPU the default mode captures the whole step in a CUDA graph: eager PyTorch at batch 1-16
is launch-bound on an H100, and then EPF measures idle power x launch time.
``mode="eager"`` gives the paper-style number. On a CPU graph mode runs eager (noted).

Each cell's result is a plain dict (:func:`measure_epf`, run by :class:`EpfRun`); a cell that
cannot be built, captured or run is a result too (``status: "failed: ..."``), so a group never
aborts halfway. Global state (cuDNN autotuning, TF32, thread count, random state, current CUDA
device) is restored. The pure statistics live in :mod:`.stats`, the step in :mod:`.step`.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch

from .. import runtime
from ..models.spec import ModelSpec
from .stats import (TrialResult, calibrate_step_seconds, coefficient_of_variation, dynamic_joules,
                    interleaved_schedule, sample_std, should_stop, steps_for_window, stopping_values,
                    summarize_telemetry, summarize_trials)
from .step import MEMORY_FORMATS, TrainStep, free_memory, side_stream
from .window import idle_power, measure_window, read_ahead

MODES = ("graph", "eager")
OK = "ok"
#: the knobs of a measurement made here (:meth:`EpfProtocol.measured_here`) where they differ from the
#: GPU reference's: 2 warm-up steps (no cuDNN autotuning to absorb on a CPU), 0.5 s windows (a CPU's
#: clock needs no alignment to an energy counter's updates), 3-4 trials to CV <= 3 % (a shared
#: machine's noise; 1 % would run every cell to its last trial) and no idle window (no counter to read
#: idle power from on a CPU, and a GPU's dynamic EPF is the reference's job)
HERE = dict(warmup_steps=2, window_s=0.5, min_trials=3, max_trials=4, target_cv=0.03, idle_s=0.0)


# -- protocol and cells -----------------------------------------------------------------------

@dataclass(frozen=True)
class EpfProtocol:
    """Every knob of the EPF measurement. The defaults are the GPU reference protocol: 1 s windows
    aligned to counter updates, 3-4 trials to CV <= 1 %, CUDA graphs (see the package docstring for why)."""

    warmup_steps: int = 5          # eager steps before capture (side stream; cuDNN autotunes in the
                                   # first), then as many graph replays
    window_s: float = 1.0          # aligned windows: 1-2 s are enough (see gconvlib.measure.window)
    min_trials: int = 3
    max_trials: int = 4
    target_cv: float = 0.01        # CV of per-trial EPF at which trials stop
    cooldown_s: float = 0.0        # sleep between trials (interleaving already spreads drift)
    mode: str = "graph"            # "graph": whole step in a CUDA graph; "eager": paper-style
    cudnn_benchmark: bool = True
    idle_s: float = 3.0            # active-idle window, several counter updates; 0 skips it (no dynamic EPF)
    idle_settle_s: float = 1.0     # rest before the idle window: a device coming off work ramps down
    interleave: bool = True        # round-robin trials over the cells of a group
    calibration_s: float = 0.1     # shortest timing run used to size windows and chunks
    chunk_s: float = 0.005         # work queued between two counter reads
    align_timeout_s: float = 0.5   # no counter update within this: the window end is not aligned
    seed: int = 0                  # weights and synthetic inputs
    memory_format: str = "channels_last"   # as the training path; NCHW sends depthwise convs to
                                           # PyTorch's native kernel instead of cuDNN's on a GPU
    amp: str | None = None         # None: fp32 (the papers' setting); "bf16": autocast
    tf32: bool = False             # TF32 convolutions and matmuls; off: the papers' GPUs (P100,
                                   # P4000) have none, and full fp32 keeps the FLOPs comparable

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"EpfProtocol: {msg}")

        if not (isinstance(self.window_s, (int, float)) and self.window_s > 0):
            bad(f"window_s must be > 0, got {self.window_s!r}")
        if self.warmup_steps < 0:
            bad(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.min_trials < 1 or self.max_trials < self.min_trials:
            bad(f"need 1 <= min_trials <= max_trials, got {self.min_trials} and {self.max_trials}")
        if self.target_cv < 0:
            bad(f"target_cv must be >= 0, got {self.target_cv}")
        if self.cooldown_s < 0 or self.idle_s < 0 or self.idle_settle_s < 0:
            bad(f"cooldown_s, idle_s and idle_settle_s must be >= 0, got {self.cooldown_s}, {self.idle_s} "
                f"and {self.idle_settle_s}")
        if self.memory_format not in MEMORY_FORMATS:
            bad(f"memory_format must be one of {', '.join(MEMORY_FORMATS)}, got {self.memory_format!r}")
        if self.amp not in (None, "bf16"):
            bad(f"amp must be None (fp32) or 'bf16', got {self.amp!r}")
        if self.mode not in MODES:
            bad(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.calibration_s <= 0 or self.chunk_s <= 0 or self.align_timeout_s <= 0:
            bad("calibration_s, chunk_s and align_timeout_s must be > 0")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def measured_here(cls, window_s: float | None = None, **knobs) -> "EpfProtocol":
        """The protocol of a measurement made while a page or ``gconv advise`` runs: :data:`HERE`, with
        ``window_s`` and ``knobs`` (any other field; None: :data:`HERE`'s or the default) over it, and a
        calibration run no longer than one window (it sizes the window: a 0.05 s smoke window must not
        wait 0.1 s for it). The e2gc_energy and e2gc_group_size chapters and ``gconv advise`` all build
        theirs here, so one cell measured with the same window by any of them has one store key: each
        one's records are the others' cache hits."""
        fields = {**HERE, **{k: v for k, v in dict(knobs, window_s=window_s).items() if v is not None}}
        if "calibration_s" in fields:
            raise TypeError("EpfProtocol.measured_here: calibration_s follows from window_s; set window_s")
        if not isinstance(fields["window_s"], (int, float)) or fields["window_s"] <= 0:
            raise ValueError(f"EpfProtocol: window_s must be > 0, got {fields['window_s']!r}")
        return cls(**fields, calibration_s=min(cls.calibration_s, fields["window_s"]))


@dataclass(frozen=True)
class MeasureCell:
    """One measured configuration: a model variant and a batch size (energy and latency alike)."""

    spec: ModelSpec
    batch_size: int

    def __post_init__(self):
        object.__setattr__(self, "spec", ModelSpec.parse(self.spec))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")

    @property
    def label(self) -> str:
        return f"{self.spec.text} B={self.batch_size}"

    def key(self) -> dict:
        return {"model": self.spec.text, "batch_size": self.batch_size}


EpfCell = MeasureCell

# -- devices and environment ------------------------------------------------------------------

def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda:N"``: the runtime's device rule, as text, without ``auto`` (a measured
    record names the device it was asked for); ValueError for anything else or for missing CUDA."""
    return str(runtime.resolve_device(device, allow_auto=False))


def effective_mode(mode: str, device: str) -> tuple[str, str | None]:
    """The mode that runs on ``device`` and a note when it differs from the requested one."""
    if mode == "graph" and not device.startswith("cuda"):
        return "eager", "CUDA graphs need a GPU; graph mode ran eager on the CPU"
    return mode, None


def device_name(device: str) -> str:
    """Human name of the device ("NVIDIA H100 80GB HBM3", the CPU model)."""
    device = resolve_device(device)
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(int(device.partition(":")[2]))
    return runtime.cpu_name()


def cuda_uuid(device: str) -> str | None:
    try:
        uuid = getattr(torch.cuda.get_device_properties(int(device.partition(":")[2] or 0)), "uuid", None)
    except Exception:  # noqa: BLE001 - older torch: fall back to the index
        return None
    return str(uuid) if uuid is not None else None


def cuda_pci_bus_id(device: str) -> str | None:
    """NVML's form of the GPU's PCI address (``00000000:1B:00.0``), from torch's device properties."""
    try:
        p = torch.cuda.get_device_properties(int(device.partition(":")[2] or 0))
        return f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
    except Exception:  # noqa: BLE001 - older torch: no PCI fields
        return None


def backend_flags() -> dict:
    """The backend settings a measured number depends on, as they are now."""
    return {"cudnn_benchmark": torch.backends.cudnn.benchmark, "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


def environment(device: str, meter=None) -> dict:
    """What every result measured in this process records: device, driver, torch, commit, backend
    flags (inside :func:`measuring`: the measurement's own), the NVML identity of the metered GPU.
    Where the checkout has no ``.git`` (a copy on a GPU node), ``GCONV_COMMIT`` names the commit."""
    from ..store import git_state
    from .meters import _NvmlMeter, gpu_telemetry

    driver = power_limit = None
    identity = {}
    if isinstance(meter, _NvmlMeter):
        tel = gpu_telemetry(meter.handle, meter.nvml)
        driver, power_limit = tel["driver"], tel["power_limit_w"]
        identity = meter.identity()
    elif device.startswith("cuda"):
        driver = nvml_driver_version()
    git = git_state()   # GCONV_COMMIT on a copy of the checkout without .git
    return {"device": device_name(device), "device_type": device.split(":")[0], "driver": driver,
            "power_limit_w": power_limit, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "threads": torch.get_num_threads(), "commit": git["commit"], "dirty": git["dirty"],
            "backend_flags": backend_flags(), **identity}


def nvml_driver_version() -> str | None:
    """The NVIDIA driver's version from NVML (``None`` when NVML cannot be read)."""
    from .meters import _text, load_nvml

    try:
        nvml = load_nvml()
        nvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML: the driver is unknown, not an error
        return None
    try:
        return _text(nvml.nvmlSystemGetDriverVersion())
    except Exception:  # noqa: BLE001
        return None
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def measuring(device: str, cudnn_benchmark: bool | None = None, threads: int | None = None, seed: int = 0,
              tf32: bool | None = None):
    """Inside: cuDNN autotuning and TF32 as asked (None: unchanged), ``threads`` torch threads, the
    random state forked (seeded with ``seed``) and the CUDA device current; all restored afterwards."""
    is_cuda = device.startswith("cuda")
    prev_bench, prev_threads = torch.backends.cudnn.benchmark, torch.get_num_threads()
    prev_tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    prev_device = torch.cuda.current_device() if is_cuda else None
    devices = [int(device.partition(":")[2] or 0)] if is_cuda else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if cudnn_benchmark is not None:
                torch.backends.cudnn.benchmark = cudnn_benchmark
            if tf32 is not None:
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            if threads is not None:
                torch.set_num_threads(threads)
            if is_cuda:
                torch.cuda.set_device(device)  # graph capture and replays use the current device
            yield
    finally:
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = prev_tf32
        if torch.get_num_threads() != prev_threads:
            torch.set_num_threads(prev_threads)
        if prev_device is not None:
            torch.cuda.set_device(prev_device)


def failure_text(exc: BaseException) -> str:
    """``failed: <Type>: <first line>``: a failed cell's stored status."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"failed: {type(exc).__name__}: {first}" if first else f"failed: {type(exc).__name__}"



# -- measurement ------------------------------------------------------------------------------

@dataclass
class _State:
    cell: EpfCell
    runner: Any = None
    steps: int = 0
    chunk: int = 1
    depth: int = 2
    step_s: float | None = None          # calibrated seconds per step (what sized the window)
    setup_s: float | None = None
    trials: list = field(default_factory=list)
    resumed: int = 0                     # trials taken over from the journal of a stopped call
    done: bool = False
    status: str = OK
    stop_reason: str | None = None


def _telemetry(meter) -> dict | None:
    from .meters import _NvmlMeter, gpu_telemetry

    if isinstance(meter, _NvmlMeter):
        return gpu_telemetry(meter.handle, meter.nvml)
    return None


_TRIAL_FIELDS = frozenset(TrialResult.__dataclass_fields__)


def probe_read_seconds(meter, reads: int = 10) -> float | None:
    """Mean seconds of one counter read (``None`` for a meter without a counter)."""
    if meter.counter() is None:
        return None
    t0 = time.perf_counter()
    for _ in range(reads):
        meter.counter()
    return (time.perf_counter() - t0) / reads


class EpfRun:
    """One :func:`measure_epf` call, as steps: :meth:`setup` a cell (build, warm up, capture,
    calibrate, size its window), :meth:`trial` (one window), :meth:`finish` or :meth:`fail` it
    (its result, passed on at once), the active-idle power once (:meth:`ensure_idle`). What the
    cells share: the meter, the environment, the idle power and one side stream for captures."""

    def __init__(self, cells: list, protocol: EpfProtocol, device: str, meter, on_result, *,
                 idle_power_w: float | None, counter_read_s: float | None, log, sleep, clock,
                 idle_note: str | None = None,
                 on_trial=None, resume: dict | None = None):
        self.protocol, self.device, self.meter, self.on_result = protocol, device, meter, on_result
        self.say, self.sleep, self.clock = log or (lambda msg: None), sleep, clock
        self.mode, self.mode_note = effective_mode(protocol.mode, device)
        self.is_cuda = device.startswith("cuda")
        self.states = [_State(c) for c in cells]
        self.on_trial = on_trial
        for state in self.states:        # trials journalled by a call that was stopped
            state.trials = [TrialResult(**{k: v for k, v in t.items() if k in _TRIAL_FIELDS})
                            for t in (resume or {}).get(state.cell, [])]
            state.resumed = len(state.trials)
        self.results: list[dict | None] = [None] * len(cells)
        self.idle_w = idle_power_w
        self.idle_note = idle_note if idle_power_w is not None or idle_note else "not measured yet"
        self.read_s = counter_read_s
        self.env: dict = {}
        self.stream = None

    def sync(self) -> None:
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    def run(self) -> list[dict]:
        p = self.protocol
        self.env = {**environment(self.device, self.meter), "memory_format": p.memory_format, "amp": p.amp}
        if self.read_s is None:
            self.read_s = probe_read_seconds(self.meter)
        free_memory(self.device, collect=True)                 # what earlier runs left behind
        self.stream = side_stream(self.device, self.mode)     # one per run: the allocator reuses blocks
        if self.mode_note:
            self.say(self.mode_note)
        if p.interleave:
            for i in range(len(self.states)):
                self.setup(i)
        for i in interleaved_schedule(len(self.states), lambda j: self.states[j].done, p.interleave):
            if self.states[i].runner is None:
                self.setup(i)
                if self.states[i].done:
                    continue
            self.ensure_idle()
            self.trial(i)
            if p.cooldown_s > 0 and not all(s.done for s in self.states):
                self.sync()
                self.sleep(p.cooldown_s)
        return [r for r in self.results if r is not None]

    def close(self) -> None:
        for state in self.states:
            state.runner = None

    def ensure_idle(self) -> None:
        if self.idle_note == "not measured yet":
            self.sync()
            self.idle_w, self.idle_note = idle_power(self.meter, self.protocol.idle_s, sleep=self.sleep,
                                                     clock=self.clock, settle_s=self.protocol.idle_settle_s)
            if self.idle_w is not None:
                self.say(f"active idle power: {self.idle_w:.1f} W")

    def setup(self, i: int) -> None:
        state, p = self.states[i], self.protocol
        if state.trials and self._stop(state):   # enough trials journalled: nothing left to run
            return
        t0 = time.perf_counter()
        try:
            state.runner = TrainStep(state.cell, self.device, self.mode, p.warmup_steps, p.seed,
                                     memory_format=p.memory_format, amp=p.amp, stream=self.stream)
            step_s = calibrate_step_seconds(state.runner.timed, p.calibration_s)
        except Exception as exc:  # noqa: BLE001 - a failed cell is a result, the group goes on
            state.runner = None
            self.fail(i, exc)
            return
        state.setup_s, state.step_s = time.perf_counter() - t0, step_s
        state.steps = steps_for_window(step_s, p.window_s)
        state.chunk, state.depth = read_ahead(step_s, p.chunk_s, self.read_s)
        state.chunk = min(state.chunk, state.steps)
        self.say(f"{state.cell.label}: {1000 * step_s:.3f} ms/step -> {state.steps} steps per window, "
                 f"chunks of {state.chunk}, {state.depth} queued (set up in {state.setup_s:.1f} s)")

    def trial(self, i: int) -> None:
        state, p = self.states[i], self.protocol
        try:
            w = measure_window(state.runner, self.meter, state.steps, state.chunk, clock=self.clock,
                               timeout_s=p.align_timeout_s, depth=state.depth)
        except Exception as exc:  # noqa: BLE001
            self.fail(i, exc)
            return
        trial = TrialResult(w.steps, w.seconds, w.joules, w.watts, w.counter_seconds, w.aligned,
                            w.unavailable_reason, w.note, _telemetry(self.meter), w.uncertainty_s)
        state.trials.append(trial)
        if self.on_trial is not None:
            self.on_trial(state.cell, asdict(trial))
        b = state.cell.batch_size
        self.say(f"{state.cell.label} trial {len(state.trials)}: {w.seconds:.2f} s, "
                 f"{1000 * w.seconds / w.steps:.3f} ms/step"
                 + (f", {1000 * w.joules / (w.steps * b):.3f} mJ/frame" if w.joules is not None else ""))
        self._stop(state)

    def _stop(self, state: _State) -> bool:
        """Finish the cell when the stopping rule says so (True)."""
        p = self.protocol
        values = stopping_values(state.trials, state.cell.batch_size)
        if not should_stop(values, p.min_trials, p.max_trials, p.target_cv):
            return False
        cv = coefficient_of_variation(values)
        state.stop_reason = "target_cv" if cv <= p.target_cv else "max_trials"  # NaN -> max
        self.finish(self.states.index(state))
        return True

    def base(self, state: _State) -> dict:
        m = self.meter
        return {"status": state.status, "mode": self.mode, "requested_mode": self.protocol.mode,
                "mode_note": self.mode_note, "meter": m.name, "meter_approximate": bool(m.approximate),
                "meter_note": getattr(m, "reason", None) or getattr(m, "fallback_reason", None),
                **self.env, "setup_s": state.setup_s, "measured_at": utc_now()}

    def finish(self, i: int) -> None:
        state = self.states[i]
        result = self.base(state)
        if state.status == OK:
            result.update(summarize_trials(state.trials, state.cell.batch_size, self.idle_w))
            result.update(idle_power_w=self.idle_w, idle_note=self.idle_note, steps_per_trial=state.steps,
                          chunk_steps=state.chunk, queue_depth=state.depth, calibrated_step_s=state.step_s,
                          counter_read_ms=None if self.read_s is None else 1000 * self.read_s,
                          stop_reason=state.stop_reason, trials_resumed=state.resumed,
                          notes=sorted({t.note for t in state.trials if t.note}) or None,
                          telemetry=summarize_telemetry(state.trials))
        self.results[i] = result
        state.runner, state.done = None, True  # frees the model and the graph's memory pool
        free_memory(self.device)
        if self.on_result is not None:
            self.on_result(state.cell, result)

    def fail(self, i: int, exc: BaseException) -> None:
        self.states[i].status = failure_text(exc)
        self.say(f"{self.states[i].cell.label}: {self.states[i].status}")
        self.finish(i)


def measure_epf(cells: Iterable[EpfCell], protocol: EpfProtocol | None = None, device: str = "cuda",
                meter=None, on_result: Callable[[EpfCell, dict], Any] | None = None, *,
                idle_power_w: float | None = None, idle_note: str | None = None,
                counter_read_s: float | None = None, threads: int | None = None,
                log: Callable[[str], Any] | None = None, sleep: Callable[[float], Any] = time.sleep,
                clock: Callable[[], float] = time.perf_counter,
                on_trial: Callable[[EpfCell, dict], Any] | None = None, resume: dict | None = None) -> list[dict]:
    """Measure every cell under ``protocol``; one result dict per cell, in order.

    ``meter`` defaults to :func:`~gconvlib.measure.meters.select_meter` for the device.
    ``idle_power_w``: active-idle power measured before (else measured here for ``idle_s``, unless
    ``idle_note`` says why it is unknown: a call measures it once, not once per group).
    ``counter_read_s``: one counter read, measured before (else probed here): it sizes the queue.
    ``on_result(cell, result)`` is called as soon as a cell is finished (or has failed),
    ``on_trial(cell, trial)`` after each trial (a dict of :class:`TrialResult`'s fields: a journal);
    ``resume`` maps a cell to the trials journalled by an earlier call, which count as its first.
    ``threads``: torch threads while measuring (restored). A cell that fails to build, capture or
    run gets ``status = "failed: ..."`` and the others go on.
    """
    from .meters import select_meter

    protocol = protocol if protocol is not None else EpfProtocol()
    if not isinstance(protocol, EpfProtocol):
        raise TypeError(f"protocol must be an EpfProtocol, got {type(protocol).__name__}")
    cells = list(cells)
    for c in cells:
        if not isinstance(c, EpfCell):
            raise TypeError(f"cells must be EpfCell, got {type(c).__name__}")
    device = resolve_device(device)
    if not cells:
        return []
    with measuring(device, protocol.cudnn_benchmark, threads, protocol.seed, protocol.tf32):
        own_meter = meter is None
        if own_meter:
            meter = select_meter(device, (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else None,
                                 **cuda_identity(device))
        run = EpfRun(cells, protocol, device, meter, on_result, idle_power_w=idle_power_w, idle_note=idle_note,
                     counter_read_s=counter_read_s, log=log, sleep=sleep, clock=clock, on_trial=on_trial,
                     resume=resume)
        try:
            return run.run()
        finally:
            run.close()
            if own_meter:
                meter.close()


def cuda_identity(device: str) -> dict:
    """``uuid`` and ``pci_bus_id`` of a CUDA device for :func:`~gconvlib.measure.meters.select_meter`
    (empty for a CPU)."""
    if not device.startswith("cuda"):
        return {}
    return {"uuid": cuda_uuid(device), "pci_bus_id": cuda_pci_bus_id(device)}


__all__ = [
    "EpfCell", "EpfProtocol", "EpfRun", "MODES", "OK", "TrainStep", "TrialResult", "backend_flags",
    "calibrate_step_seconds", "coefficient_of_variation", "cuda_identity", "cuda_pci_bus_id",
    "cuda_uuid", "device_name", "dynamic_joules", "effective_mode", "environment", "failure_text",
    "interleaved_schedule", "measure_epf", "measuring", "probe_read_seconds", "resolve_device", "sample_std",
    "should_stop", "steps_for_window", "stopping_values", "summarize_trials", "utc_now",
]
