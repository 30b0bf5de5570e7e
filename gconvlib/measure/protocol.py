"""Energy per frame (EPF) of one training step: the E2GC paper's "one forward and one backward pass".

A *cell* (:class:`EpfCell`) is a model variant (a :class:`~gconvlib.models.ModelSpec`, the one
model description) and a batch size. One *step* = zero the grads + forward + cross-entropy on
synthetic labels + backward, on a batch already on the device. A *trial* is one window of
:func:`gconvlib.measure.window.measure_window`: the steps run back to back in chunks of a few
milliseconds, the energy counter is polled while they run, and the window opens and closes on
counter updates (so a 1 s window is as accurate as a 5 s unaligned one). Trials repeat until the
coefficient of variation (CV) across trials is at most ``target_cv`` (at least ``min_trials``,
at most ``max_trials``), round-robin over the cells of a group, so that thermal drift spreads
over all of them. Active-idle power, measured once in the same process, gives the dynamic EPF
``(P - P_idle) * t / frames`` beside the total EPF ``E / frames``.

On a GPU the default mode captures the whole step in a CUDA graph: eager PyTorch at batch 1-16
is launch-bound on an H100, and then EPF measures idle power x launch time (REFERENCE §7).
``mode="eager"`` gives the paper-style number. On a CPU graph mode runs eager (noted).

Each cell's result is a plain dict (:func:`measure_epf`); a cell that cannot be built, captured
or run is a result too (``status: "failed: ..."``), so a group never aborts halfway. Global
state (cuDNN autotuning, thread count, random state, current CUDA device) is restored.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..models.spec import ModelSpec

MODES = ("graph", "eager")
OK = "ok"


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


# -- protocol and cells -----------------------------------------------------------------------

@dataclass(frozen=True)
class EpfProtocol:
    """Every knob of the EPF measurement. The defaults are the GPU reference protocol: 1 s windows
    aligned to counter updates, 3-4 trials to CV <= 1 %, CUDA graphs (REFERENCE §7)."""

    warmup_steps: int = 5          # eager steps before capture (side stream; cuDNN autotunes in the
                                   # first), then as many graph replays
    window_s: float = 1.0          # aligned windows: 1-2 s are enough (see gconvlib.measure.window)
    min_trials: int = 3
    max_trials: int = 4
    target_cv: float = 0.01        # CV of per-trial EPF at which trials stop
    cooldown_s: float = 0.0        # sleep between trials (interleaving already spreads drift)
    mode: str = "graph"            # "graph": whole step in a CUDA graph; "eager": paper-style
    cudnn_benchmark: bool = True
    idle_s: float = 1.0            # active-idle window; 0 skips it (no dynamic EPF)
    interleave: bool = True        # round-robin trials over the cells of a group
    calibration_s: float = 0.1     # shortest timing run used to size windows and chunks
    chunk_s: float = 0.005         # work queued between two counter reads
    align_timeout_s: float = 0.5   # no counter update within this: the window end is not aligned
    seed: int = 0                  # weights and synthetic inputs

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
        if self.cooldown_s < 0 or self.idle_s < 0:
            bad(f"cooldown_s and idle_s must be >= 0, got {self.cooldown_s} and {self.idle_s}")
        if self.mode not in MODES:
            bad(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.calibration_s <= 0 or self.chunk_s <= 0 or self.align_timeout_s <= 0:
            bad("calibration_s, chunk_s and align_timeout_s must be > 0")

    def as_dict(self) -> dict:
        return asdict(self)


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
    """``"cpu"`` or ``"cuda:N"``; ValueError for anything else or for CUDA on a machine without it."""
    import torch

    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    if device == "cpu":
        return device
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available "
                         f"(torch {torch.__version__}); use --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} GPU(s) are visible")
    return f"cuda:{index}"


def effective_mode(mode: str, device: str) -> tuple[str, str | None]:
    """The mode that runs on ``device`` and a note when it differs from the requested one."""
    if mode == "graph" and not device.startswith("cuda"):
        return "eager", "CUDA graphs need a GPU; graph mode ran eager on the CPU"
    return mode, None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_name(device: str) -> str:
    """Human name of the device ("NVIDIA H100 80GB HBM3", the CPU model)."""
    import torch

    device = resolve_device(device)
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(int(device.partition(":")[2]))
    return cpu_name()


def cuda_uuid(device: str) -> str | None:
    import torch

    try:
        uuid = getattr(torch.cuda.get_device_properties(int(device.partition(":")[2] or 0)), "uuid", None)
    except Exception:  # noqa: BLE001 - older torch: fall back to the index
        return None
    return str(uuid) if uuid is not None else None


def environment(device: str, meter=None) -> dict:
    """What every result measured in this process records: device, driver, torch, commit, time.
    Where the checkout has no ``.git`` (a copy on a GPU node), ``GCONV_COMMIT`` names the commit."""
    import torch

    from ..store import git_state
    from .meters import _NvmlMeter, gpu_telemetry

    driver = power_limit = None
    if isinstance(meter, _NvmlMeter):
        tel = gpu_telemetry(meter.handle, meter.nvml)
        driver, power_limit = tel["driver"], tel["power_limit_w"]
    elif device.startswith("cuda"):
        driver = nvml_driver_version()
    git = dict(git_state())
    if git["commit"] is None and os.environ.get("GCONV_COMMIT"):  # a copy of the checkout without .git
        git = {"commit": os.environ["GCONV_COMMIT"], "dirty": None}
    return {"device": device_name(device), "device_type": device.split(":")[0], "driver": driver,
            "power_limit_w": power_limit, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "threads": torch.get_num_threads(), "commit": git["commit"], "dirty": git["dirty"]}


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
def measuring(device: str, cudnn_benchmark: bool | None = None, threads: int | None = None, seed: int = 0):
    """Inside: cuDNN autotuning as asked, ``threads`` torch threads (None: unchanged), the random
    state forked (seeded with ``seed``) and the CUDA device current; all restored afterwards."""
    import torch

    is_cuda = device.startswith("cuda")
    prev_bench, prev_threads = torch.backends.cudnn.benchmark, torch.get_num_threads()
    prev_device = torch.cuda.current_device() if is_cuda else None
    devices = [int(device.partition(":")[2] or 0)] if is_cuda else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if cudnn_benchmark is not None:
                torch.backends.cudnn.benchmark = cudnn_benchmark
            if threads is not None:
                torch.set_num_threads(threads)
            if is_cuda:
                torch.cuda.set_device(device)  # graph capture and replays use the current device
            yield
    finally:
        torch.backends.cudnn.benchmark = prev_bench
        if torch.get_num_threads() != prev_threads:
            torch.set_num_threads(prev_threads)
        if prev_device is not None:
            torch.cuda.set_device(prev_device)


def failure_text(exc: BaseException) -> str:
    """``failed: <Type>: <first line>``: a failed cell's stored status."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"failed: {type(exc).__name__}: {first}" if first else f"failed: {type(exc).__name__}"


# -- the training step --------------------------------------------------------------------

class TrainStep:
    """One cell ready to run: model, static synthetic batch, and (graph mode) the captured CUDA
    graph of the whole step. It is the :class:`~gconvlib.measure.window.Runner` of a window.

    Graph capture follows the torch docs for whole-network capture: static input/target tensors,
    warm-up iterations on a side stream before capture (lazy init, cuDNN autotuning and the
    ``.grad`` buffers happen there, outside the graph), then capture of zeroing the grads +
    forward + loss + backward. No optimizer: EPF is "one forward and one backward pass". The grads
    are zeroed in place inside the graph, so every replay computes one step's gradients.
    """

    def __init__(self, cell: EpfCell, device: str, mode: str, warmup_steps: int, seed: int = 0):
        import torch

        self.device, self.mode = device, mode
        self.cuda = device.startswith("cuda")
        torch.manual_seed(seed)
        spec, b = cell.spec, cell.batch_size
        self.model = spec.build(device).train()
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(b, 3, spec.input_size, spec.input_size, generator=gen).to(device)
        self.y = torch.randint(0, spec.num_classes, (b,), generator=gen).to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.graph = None
        if mode == "graph":
            self._capture(warmup_steps)
        else:
            self.run(warmup_steps)
        self.sync()

    def sync(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)

    def _zero_grad(self) -> None:
        import torch

        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)  # what optimizer.zero_grad(set_to_none=False) runs

    def eager_step(self):
        import torch.nn.functional as F

        self._zero_grad()
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        return loss

    def _capture(self, warmup_steps: int) -> None:
        import torch

        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(max(3, warmup_steps)):  # docs: a few eager iterations before capture
                self.eager_step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.static_loss = self.eager_step()
        except Exception as exc:
            raise RuntimeError(f"CUDA graph capture failed ({exc}); measure this model with mode='eager'") from exc
        self.graph = graph
        for _ in range(warmup_steps):
            graph.replay()

    def run(self, steps: int) -> None:
        """``steps`` training steps, queued without any host sync."""
        if self.graph is not None:
            replay = self.graph.replay
            for _ in range(steps):
                replay()
        else:
            for _ in range(steps):
                self.eager_step()

    def timed(self, steps: int) -> float:
        self.sync()
        t0 = time.perf_counter()
        self.run(steps)
        self.sync()
        return time.perf_counter() - t0

    # -- Runner ---------------------------------------------------------------------------
    def enqueue(self, steps: int):
        import torch

        self.run(steps)
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def wait(self, handle) -> None:
        if self.cuda:
            handle.synchronize()

    def elapsed(self, start, end) -> float:
        if self.cuda:
            return start.elapsed_time(end) / 1000.0
        return end - start


# -- measurement ------------------------------------------------------------------------------

@dataclass
class _State:
    cell: EpfCell
    runner: TrainStep | None = None
    steps: int = 0
    chunk: int = 1
    trials: list = field(default_factory=list)
    done: bool = False
    status: str = OK
    stop_reason: str | None = None


def _telemetry(meter) -> dict | None:
    from .meters import _NvmlMeter, gpu_telemetry

    if isinstance(meter, _NvmlMeter):
        return gpu_telemetry(meter.handle, meter.nvml)
    return None


def _summarize_telemetry(trials: Sequence[TrialResult]) -> dict | None:
    tel = [t.telemetry for t in trials if t.telemetry]
    if not tel:
        return None

    def series(key):
        return [t.get(key) for t in tel]

    reasons = sorted({r for t in tel for r in (t.get("throttle_reasons") or [])})
    return {"throttle_reasons": reasons,
            **{k: series(k) for k in ("temperature_gpu_c", "temperature_memory_c", "sm_clock_mhz",
                                      "memory_clock_mhz", "power_w")}}


def measure_epf(cells: Iterable[EpfCell], protocol: EpfProtocol | None = None, device: str = "cuda",
                meter=None, on_result: Callable[[EpfCell, dict], Any] | None = None, *,
                idle_power_w: float | None = None, threads: int | None = None,
                log: Callable[[str], Any] | None = None, sleep: Callable[[float], Any] = time.sleep,
                clock: Callable[[], float] = time.perf_counter) -> list[dict]:
    """Measure every cell under ``protocol``; one result dict per cell, in order.

    ``meter`` defaults to :func:`~gconvlib.measure.meters.select_meter` for the device.
    ``idle_power_w``: active-idle power measured before (else measured here for ``idle_s``).
    ``on_result(cell, result)`` is called as soon as a cell is finished (or has failed).
    ``threads``: torch threads while measuring (restored). A cell that fails to build, capture or
    run gets ``status = "failed: ..."`` and the others go on.
    """
    from .meters import select_meter
    from .window import idle_power, measure_window

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
    say = log or (lambda msg: None)
    mode, mode_note = effective_mode(protocol.mode, device)
    is_cuda = device.startswith("cuda")
    states = [_State(c) for c in cells]
    results: list[dict | None] = [None] * len(states)

    def sync():
        if is_cuda:
            import torch

            torch.cuda.synchronize(device)

    with measuring(device, protocol.cudnn_benchmark, threads, protocol.seed):
        own_meter = meter is None
        if own_meter:
            meter = select_meter(device, sync, uuid=cuda_uuid(device) if is_cuda else None)
        try:
            env = environment(device, meter)
            idle = {"w": idle_power_w, "note": None if idle_power_w is not None else "not measured yet"}

            def ensure_idle() -> None:
                if idle["note"] == "not measured yet":
                    sync()
                    idle["w"], idle["note"] = idle_power(meter, protocol.idle_s, sleep=sleep, clock=clock)
                    if idle["w"] is not None:
                        say(f"active idle power: {idle['w']:.1f} W")

            def base(state: _State) -> dict:
                return {"status": state.status, "mode": mode, "requested_mode": protocol.mode,
                        "mode_note": mode_note, "meter": meter.name, "meter_approximate": bool(meter.approximate),
                        "meter_note": getattr(meter, "reason", None) or getattr(meter, "fallback_reason", None),
                        **env, "measured_at": utc_now()}

            def finish(i: int) -> None:
                state = states[i]
                result = base(state)
                if state.status == OK:
                    result.update(summarize_trials(state.trials, state.cell.batch_size, idle["w"]))
                    result.update(idle_power_w=idle["w"], idle_note=idle["note"], steps_per_trial=state.steps,
                                  chunk_steps=state.chunk, stop_reason=state.stop_reason,
                                  notes=sorted({t.note for t in state.trials if t.note}) or None,
                                  telemetry=_summarize_telemetry(state.trials))
                results[i] = result
                state.runner, state.done = None, True  # frees the model and the graph's memory pool
                if is_cuda:
                    import torch

                    torch.cuda.empty_cache()
                if on_result is not None:
                    on_result(state.cell, result)

            def fail(i: int, exc: BaseException) -> None:
                states[i].status = failure_text(exc)
                say(f"{states[i].cell.label}: {states[i].status}")
                finish(i)

            def setup(i: int) -> None:
                state = states[i]
                try:
                    state.runner = TrainStep(state.cell, device, mode, protocol.warmup_steps, protocol.seed)
                    step_s = calibrate_step_seconds(state.runner.timed, protocol.calibration_s)
                except Exception as exc:  # noqa: BLE001 - a failed cell is a result, the group goes on
                    state.runner = None
                    fail(i, exc)
                    return
                state.steps = steps_for_window(step_s, protocol.window_s)
                state.chunk = max(1, min(state.steps, round(protocol.chunk_s / step_s)))
                say(f"{state.cell.label}: {1000 * step_s:.3f} ms/step -> {state.steps} steps per window, "
                    f"chunks of {state.chunk}")

            if mode_note:
                say(mode_note)
            if protocol.interleave:
                for i in range(len(states)):
                    setup(i)
            for i in interleaved_schedule(len(states), lambda j: states[j].done, protocol.interleave):
                state = states[i]
                if state.runner is None:
                    setup(i)
                    if state.done:
                        continue
                ensure_idle()
                try:
                    w = measure_window(state.runner, meter, state.steps, state.chunk, clock=clock,
                                       timeout_s=protocol.align_timeout_s)
                except Exception as exc:  # noqa: BLE001
                    fail(i, exc)
                    continue
                trial = TrialResult(w.steps, w.seconds, w.joules, w.watts, w.counter_seconds, w.aligned,
                                    w.unavailable_reason, w.note, _telemetry(meter))
                state.trials.append(trial)
                b = state.cell.batch_size
                say(f"{state.cell.label} trial {len(state.trials)}: {w.seconds:.2f} s, "
                    f"{1000 * w.seconds / w.steps:.3f} ms/step"
                    + (f", {1000 * w.joules / (w.steps * b):.3f} mJ/frame" if w.joules is not None else ""))
                values = stopping_values(state.trials, b)
                if should_stop(values, protocol.min_trials, protocol.max_trials, protocol.target_cv):
                    cv = coefficient_of_variation(values)
                    state.stop_reason = "target_cv" if cv <= protocol.target_cv else "max_trials"  # NaN -> max
                    finish(i)
                if protocol.cooldown_s > 0 and not all(s.done for s in states):
                    sync()
                    sleep(protocol.cooldown_s)
        finally:
            for state in states:
                state.runner = None
            if own_meter:
                meter.close()
    return [r for r in results if r is not None]


__all__ = [
    "EpfCell", "EpfProtocol", "MODES", "OK", "TrainStep", "TrialResult", "calibrate_step_seconds",
    "coefficient_of_variation", "cpu_name", "cuda_uuid", "device_name", "dynamic_joules", "effective_mode",
    "environment", "failure_text", "interleaved_schedule", "measure_epf", "measuring", "resolve_device",
    "sample_std", "should_stop", "steps_for_window", "stopping_values", "summarize_trials", "utc_now",
]
