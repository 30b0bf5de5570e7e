"""Energy per frame (EPF) of one training step: the E2GC paper's "one forward and one backward pass".

One *step* = ``zero_grad`` + forward + cross-entropy on synthetic labels + backward, on inputs
already on the device. A *trial* = sync, read meter, run N steps with no host sync inside, sync,
read meter; N is calibrated so that a trial lasts at least ``window_s``. Trials repeat until the
coefficient of variation across trials is <= ``target_cv`` (at least ``min_trials``, at most
``max_trials``); configurations are interleaved round-robin with a cool-down between trials so
that thermal drift spreads over all of them instead of biasing the last ones. Active-idle power
(CUDA context alive, nothing running) is measured in the same process and gives the dynamic EPF
``(E - P_idle * t) / frames`` beside the total EPF ``E / frames``.

On a GPU the default mode captures the whole step in a CUDA graph: eager PyTorch at batch 1-16
is launch-bound on an H100, and then EPF measures idle power x launch time (REFERENCE §7).
``mode="eager"`` gives the paper-style number. On CPU graph mode falls back to eager (noted).

The statistics (CV, stopping rule, interleaving, idle subtraction, calibration) are plain
functions at the top of this module, testable without any device.
"""
from __future__ import annotations

import datetime as _dt
import math
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

MODES = ("graph", "eager")
#: scheme kinds of an :class:`EpfConfig` for the non-VGG models ("gc2l_unfused" = GC-2L with two convs)
SCHEME_KINDS = ("standard", "gc", "e2gc", "fggc", "gc2l", "gc2l_unfused", "shuffle", "flgc")


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


def should_stop(values: Sequence[float], min_trials: int, max_trials: int, target_cv: float) -> bool:
    """Stopping rule: never before ``min_trials``, always at ``max_trials``, else when CV <= target."""
    n = len(values)
    if n < min_trials:
        return False
    if n >= max_trials:
        return True
    cv = coefficient_of_variation(values)
    return not math.isnan(cv) and cv <= target_cv


def interleaved_schedule(n_configs: int, is_done: Callable[[int], bool], interleave: bool = True) -> Iterator[int]:
    """Order of trials: yields the index of the configuration whose next trial runs now.

    Interleaved: round-robin over the configurations not yet done (trial 1 of every one, then
    trial 2, ...). Otherwise one configuration after the other. ``is_done`` is asked just before
    each yield, so a configuration drops out as soon as its stopping rule is met.
    """
    if interleave:
        while True:
            active = [i for i in range(n_configs) if not is_done(i)]
            if not active:
                return
            for i in active:
                if not is_done(i):
                    yield i
    else:
        for i in range(n_configs):
            while not is_done(i):
                yield i


def dynamic_joules(joules: float | None, idle_power_w: float | None, seconds: float) -> float | None:
    """Energy above active idle: ``E - P_idle * t``; ``None`` if either input is missing.

    Not clipped at 0: a negative value means the idle estimate was off, and hiding it would not help.
    """
    if joules is None or idle_power_w is None:
        return None
    return joules - idle_power_w * seconds


def steps_for_window(step_seconds: float, window_s: float, margin: float = 1.05) -> int:
    """Steps so that a trial lasts at least ``window_s`` (``margin`` absorbs timing noise)."""
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    if step_seconds <= 0 or not math.isfinite(step_seconds):
        raise ValueError(f"step time must be a positive number, got {step_seconds}")
    return max(1, math.ceil(window_s * margin / step_seconds))


def calibrate_step_seconds(time_steps: Callable[[int], float], min_seconds: float,
                           max_steps: int = 1 << 20) -> float:
    """Seconds per step from timing runs of growing length until one lasts ``min_seconds``.

    ``time_steps(n)`` runs n steps (synchronised) and returns the elapsed seconds. Short runs
    are dominated by timer and sync overhead, hence the growth until the run is long enough.
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
    """One metered trial: ``steps`` training steps taking ``step_seconds`` (timed loop only);
    the meter saw ``joules`` over ``meter_seconds`` (``None`` if unavailable)."""

    steps: int
    step_seconds: float
    joules: float | None
    meter_seconds: float
    unavailable_reason: str | None = None
    telemetry: dict | None = None


def summarize_trials(trials: Sequence[TrialResult], batch_size: int, idle_power_w: float | None) -> dict:
    """Per-configuration numbers from its trials (means over trials; EPF in mJ per frame)."""
    ms = [1000.0 * t.step_seconds / t.steps for t in trials]
    energy = all(t.joules is not None for t in trials)
    out: dict[str, Any] = {
        "ms_per_step": statistics.fmean(ms),
        "frames_per_s": batch_size * 1000.0 / statistics.fmean(ms),
        "cv_time": coefficient_of_variation(ms),
        "window_s": statistics.fmean(t.meter_seconds for t in trials),
        "trials": len(trials),
        "trial_ms_per_step": [round(v, 6) for v in ms],
        "energy_available": energy,
        "unavailable_reason": None if energy else next(t.unavailable_reason for t in trials if t.joules is None),
        "epf_total_mj": None, "epf_dynamic_mj": None, "avg_power_w": None,
        "trial_epf_mj": None, "cv": coefficient_of_variation(ms), "cv_quantity": "ms_per_step",
    }
    if energy:
        frames = [t.steps * batch_size for t in trials]
        epf = [1000.0 * t.joules / f for t, f in zip(trials, frames)]
        dyn = [dynamic_joules(t.joules, idle_power_w, t.meter_seconds) for t in trials]
        out.update(
            epf_total_mj=statistics.fmean(epf),
            epf_dynamic_mj=(statistics.fmean(1000.0 * d / f for d, f in zip(dyn, frames))
                            if idle_power_w is not None else None),
            avg_power_w=statistics.fmean(t.joules / t.meter_seconds for t in trials),
            trial_epf_mj=[round(v, 6) for v in epf],
            cv=coefficient_of_variation(epf), cv_quantity="epf_total_mj")
    return out


def stopping_values(trials: Sequence[TrialResult], batch_size: int) -> list[float]:
    """What the stopping rule looks at: EPF per trial, or time per step where energy is missing."""
    if all(t.joules is not None for t in trials):
        return [t.joules / (t.steps * batch_size) for t in trials]
    return [t.step_seconds / t.steps for t in trials]


# -- protocol and configurations ------------------------------------------------------------

@dataclass(frozen=True)
class EpfProtocol:
    """Every knob of the EPF measurement (defaults follow REFERENCE §7)."""

    warmup_steps: int = 20         # eager steps (side stream, before capture) and graph replays
    window_s: float = 5.0          # >= 5 s: the NVML counter moves in ~100 ms steps
    min_trials: int = 3
    max_trials: int = 10
    target_cv: float = 0.02        # CV of per-trial EPF across trials at which trials stop
    cooldown_s: float = 2.0        # sleep between trials (thermal drift)
    mode: str = "graph"            # "graph": whole step in a CUDA graph; "eager": paper-style
    cudnn_benchmark: bool = True
    idle_s: float = 5.0            # active-idle window; 0 skips it (no dynamic EPF)
    interleave: bool = True        # round-robin trials over configurations
    calibration_s: float = 0.5     # shortest timing run used to calibrate steps per window
    window_margin: float = 1.05    # calibrated windows aim this much above window_s
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
        if self.calibration_s <= 0 or self.window_margin < 1:
            bad(f"need calibration_s > 0 and window_margin >= 1, got {self.calibration_s}, {self.window_margin}")

    def key(self) -> str:
        """Stable hash of all knobs: a sweep only reuses rows measured under the same protocol."""
        from ..store import spec_key

        return spec_key(asdict(self))


_WRN28 = re.compile(r"^wrn28_(\d+)$")


def _registry_name(model: str) -> tuple[str, dict]:
    """Registry name and extra builder arguments; ``wrn28_<k>`` (the papers' name) = wrn28, width k."""
    from ..models import list_models

    if model in list_models():
        return model, {}
    m = _WRN28.match(model)
    if m and int(m.group(1)) > 0:
        return "wrn28", {"width": int(m.group(1))}
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(list_models())} (or wrn28_<width>)")


def is_vgg(model: str) -> bool:
    return model.startswith("vgg")


def model_kwargs(model: str, scheme_kind: str, k: int | None) -> tuple[str, dict]:
    """``(registry name, builder kwargs)`` for a model and scheme, validating both."""
    from ..layers import ConvScheme
    from ..models.vgg import GROUPINGS

    name, kwargs = _registry_name(model)
    if is_vgg(name):
        if scheme_kind not in GROUPINGS:
            raise ValueError(f"VGG scheme must be one of {', '.join(GROUPINGS)}, got {scheme_kind!r}")
        return name, {**kwargs, "scheme": scheme_kind}
    if scheme_kind not in SCHEME_KINDS:
        raise ValueError(f"unknown scheme kind {scheme_kind!r}; choose one of {', '.join(SCHEME_KINDS)}")
    if scheme_kind == "standard":
        if k not in (None, 1):
            raise ValueError(f"scheme 'standard' takes no k (or k=1), got {k}")
        scheme = ConvScheme()
    else:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"scheme {scheme_kind!r} needs an integer k >= 1, got {k!r}")
        if scheme_kind == "e2gc":
            scheme = ConvScheme("e2gc", group_size=k)
        elif scheme_kind == "gc2l_unfused":
            scheme = ConvScheme("gc2l", groups=k, fused=False)
        else:
            scheme = ConvScheme(scheme_kind, groups=k)
    return name, {**kwargs, "scheme": scheme}


@dataclass(frozen=True)
class EpfConfig:
    """One measured configuration. ``k`` is G for e2gc, g for the other grouped kinds, ``None``
    for standard and VGG (whose ``scheme_kind`` is the paper's letter: baseline, A..E)."""

    model: str
    scheme_kind: str
    k: int | None
    batch_size: int
    num_classes: int = 1000
    input_size: int = 224

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1, got {self.num_classes!r}")
        if not isinstance(self.input_size, int) or self.input_size < 1:
            raise ValueError(f"input_size must be an integer >= 1, got {self.input_size!r}")
        model_kwargs(self.model, self.scheme_kind, self.k)

    @property
    def label(self) -> str:
        k = "" if self.k is None else f" k={self.k}"
        return f"{self.model} {self.scheme_kind}{k} B={self.batch_size}"

    def fields(self) -> dict:
        """The identifying columns of a result row."""
        return {"model": self.model, "scheme": self.scheme_kind, "k": self.k, "batch_size": self.batch_size,
                "num_classes": self.num_classes, "input_size": self.input_size}


def build_model(config: EpfConfig):
    """The model of a configuration (scheme mapped as in :func:`model_kwargs`)."""
    from ..models import create_model

    name, kwargs = model_kwargs(config.model, config.scheme_kind, config.k)
    return create_model(name, num_classes=config.num_classes, input_size=config.input_size, **kwargs)


# -- devices and environment ----------------------------------------------------------------

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
        return "eager", "CUDA graphs need a GPU; graph mode ran eager on CPU"
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


def _cuda_uuid(device: str) -> str | None:
    import torch

    try:
        uuid = getattr(torch.cuda.get_device_properties(int(device.partition(":")[2])), "uuid", None)
    except Exception:  # noqa: BLE001 - older torch: fall back to the index
        return None
    return str(uuid) if uuid is not None else None


def environment(device: str, meter=None) -> dict:
    """Provenance columns shared by every row measured in this process."""
    import torch

    from ..store import git_state
    from .meters import _NvmlMeter, gpu_telemetry

    driver = None
    if isinstance(meter, _NvmlMeter):
        driver = gpu_telemetry(meter.handle, meter.nvml)["driver"]
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    git = git_state()
    return {"device": device_name(device), "device_type": device.split(":")[0], "driver": driver,
            "torch": torch.__version__, "cudnn": cudnn, "cpu_threads": torch.get_num_threads(),
            "commit": git["commit"], "dirty": git["dirty"]}


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- the training step --------------------------------------------------------------------

class TrainStep:
    """One configuration ready to run: model, static synthetic batch, and (graph mode) the
    captured CUDA graph of the whole step.

    Graph capture follows the torch docs for whole-network capture: static input/target
    tensors, warm-up iterations on a side stream before capture (lazy init, cuDNN autotuning
    and the ``.grad`` buffers happen there, outside the graph), then capture of
    ``zero_grad(set_to_none=False)`` + forward + loss + backward. No optimizer: EPF is "one
    forward and one backward pass". Zeroing (not freeing) the grads inside the graph keeps
    them at fixed addresses, so backward accumulates into the same buffers at every replay.
    """

    def __init__(self, config: EpfConfig, device: str, mode: str, warmup_steps: int, seed: int = 0):
        import torch

        self.device, self.mode = device, mode
        torch.manual_seed(seed)
        self.model = build_model(config).to(device).train()
        gen = torch.Generator().manual_seed(seed)
        s = config.input_size
        self.x = torch.randn(config.batch_size, 3, s, s, generator=gen).to(device)
        self.y = torch.randint(0, config.num_classes, (config.batch_size,), generator=gen).to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.graph = None
        if mode == "graph":
            self._capture(warmup_steps)
        else:
            self.run(warmup_steps)
        self.sync()

    def sync(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def _zero_grad(self) -> None:
        import torch

        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)  # what optimizer.zero_grad(set_to_none=False) runs: few launches

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


# -- measurement ----------------------------------------------------------------------------

@dataclass
class _State:
    config: EpfConfig
    runner: TrainStep | None = None
    steps: int = 0
    trials: list = field(default_factory=list)
    done: bool = False
    stop_reason: str | None = None


def _telemetry(meter) -> dict | None:
    from .meters import _NvmlMeter, gpu_telemetry

    if isinstance(meter, _NvmlMeter):
        return gpu_telemetry(meter.handle, meter.nvml)
    return None


def _summarize_telemetry(trials: Sequence[TrialResult]) -> tuple[dict | None, str | None, dict | None]:
    tel = [t.telemetry for t in trials if t.telemetry]
    if not tel:
        return None, None, None

    def series(key):
        return [t.get(key) for t in tel]

    def vmax(values):
        values = [v for v in values if v is not None]
        return max(values) if values else None

    gpu, mem = series("temperature_gpu_c"), series("temperature_memory_c")
    temps = {"gpu_c_first": gpu[0], "gpu_c_max": vmax(gpu), "memory_c_first": mem[0], "memory_c_max": vmax(mem)}
    reasons = sorted({r for t in tel for r in (t.get("throttle_reasons") or [])})
    raw = {k: series(k) for k in ("temperature_gpu_c", "temperature_memory_c", "sm_clock_mhz",
                                  "memory_clock_mhz", "power_w", "throttle_mask")}
    return temps, "|".join(reasons), raw


def measure_idle_power(meter, seconds: float, sleep: Callable[[float], Any] = time.sleep) -> tuple[float | None, str | None]:
    """Average power over ``seconds`` with nothing running (the caller keeps its CUDA context)."""
    if seconds <= 0:
        return None, "idle power not measured (idle_s = 0)"
    meter.begin()
    sleep(seconds)
    reading = meter.end()
    if reading.joules is None:
        return None, reading.unavailable_reason
    return reading.watts, None


def measure_epf(configs: Iterable[EpfConfig], protocol: EpfProtocol | None = None, device: str = "cuda",
                meter=None, on_result: Callable[[dict], Any] | None = None, *,
                log: Callable[[str], Any] | None = None,
                sleep: Callable[[float], Any] = time.sleep) -> list[dict]:
    """Measure EPF of every configuration under ``protocol``; one row per configuration, in order.

    ``meter`` defaults to :func:`~gconvlib.measure.meters.select_meter` for the device.
    ``on_result(row)`` is called as soon as a configuration is finished (sweeps save it then).
    Without energy (no NVML/RAPL) the EPF fields are ``None`` and times are still measured.
    """
    import torch

    from .meters import select_meter

    protocol = protocol if protocol is not None else EpfProtocol()
    if not isinstance(protocol, EpfProtocol):
        raise TypeError(f"protocol must be an EpfProtocol, got {type(protocol).__name__}")
    configs = list(configs)
    for c in configs:
        if not isinstance(c, EpfConfig):
            raise TypeError(f"configs must be EpfConfig, got {type(c).__name__}")
    device = resolve_device(device)
    if not configs:
        return []
    say = log or (lambda msg: None)
    mode, mode_note = effective_mode(protocol.mode, device)
    is_cuda = device.startswith("cuda")

    def sync():
        if is_cuda:
            torch.cuda.synchronize(device)

    if is_cuda:
        torch.cuda.set_device(device)  # graph capture and replays use the current device
    own_meter = meter is None
    if own_meter:
        meter = select_meter(device, sync, uuid=_cuda_uuid(device) if is_cuda else None)
    states = [_State(c) for c in configs]
    rows: list[dict | None] = [None] * len(states)
    idle: dict = {}
    prev_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = protocol.cudnn_benchmark

    def setup(state: _State) -> None:
        state.runner = TrainStep(state.config, device, mode, protocol.warmup_steps, protocol.seed)
        step_s = calibrate_step_seconds(state.runner.timed, protocol.calibration_s)
        state.steps = steps_for_window(step_s, protocol.window_s, protocol.window_margin)
        say(f"{state.config.label}: {1000 * step_s:.3f} ms/step -> {state.steps} steps per trial")

    def ensure_idle() -> None:
        if not idle:
            sync()
            sleep(protocol.cooldown_s)
            idle["w"], idle["note"] = measure_idle_power(meter, protocol.idle_s, sleep)
            if idle["w"] is not None:
                say(f"active idle power: {idle['w']:.1f} W")

    def trial(state: _State) -> TrialResult:
        sync()
        meter.begin()
        t0 = time.perf_counter()
        state.runner.run(state.steps)
        sync()
        step_seconds = time.perf_counter() - t0
        reading = meter.end()
        return TrialResult(state.steps, step_seconds, reading.joules, reading.seconds,
                           reading.unavailable_reason, _telemetry(meter))

    def finish(i: int) -> None:
        state = states[i]
        summary = summarize_trials(state.trials, state.config.batch_size, idle.get("w"))
        temps, reasons, raw = _summarize_telemetry(state.trials)
        row = {**state.config.fields(), **summary,
               "idle_power_w": idle.get("w"), "idle_note": idle.get("note"),
               "steps_per_trial": state.steps, "stop_reason": state.stop_reason,
               "mode": mode, "requested_mode": protocol.mode, "mode_note": mode_note, **env,
               "measured_at": utc_now(), "temperatures": temps, "throttle_reasons": reasons, "telemetry": raw,
               "meter": meter.name, "meter_approximate": bool(meter.approximate),
               "protocol": asdict(protocol), "protocol_key": protocol.key()}
        if not row["energy_available"] and row["unavailable_reason"] is None:
            row["unavailable_reason"] = getattr(meter, "reason", None)
        rows[i] = row
        state.runner = None  # frees the model and the graph's memory pool
        if is_cuda:
            torch.cuda.empty_cache()
        if on_result is not None:
            on_result(row)

    try:
        env = environment(device, meter)
        if mode_note:
            say(mode_note)
        say(f"meter: {meter.name}" + (f" ({meter.reason})" if getattr(meter, "reason", None) else ""))
        if protocol.interleave:
            for state in states:
                setup(state)
        pending = len(states)
        for i in interleaved_schedule(len(states), lambda j: states[j].done, protocol.interleave):
            state = states[i]
            if state.runner is None:
                setup(state)
            ensure_idle()
            result = trial(state)
            state.trials.append(result)
            say(f"{state.config.label} trial {len(state.trials)}: {result.step_seconds:.2f} s, "
                f"{1000 * result.step_seconds / result.steps:.3f} ms/step"
                + (f", {1000 * result.joules / (result.steps * state.config.batch_size):.2f} mJ/frame"
                   if result.joules is not None else ""))
            if result.step_seconds < protocol.window_s:  # calibration ran short: lengthen later trials
                state.steps = steps_for_window(result.step_seconds / result.steps, protocol.window_s,
                                               protocol.window_margin)
            values = stopping_values(state.trials, state.config.batch_size)
            if should_stop(values, protocol.min_trials, protocol.max_trials, protocol.target_cv):
                state.done = True
                cv = coefficient_of_variation(values)
                state.stop_reason = "target_cv" if cv <= protocol.target_cv else "max_trials"  # NaN -> max
                finish(i)
                pending -= 1
            if pending and protocol.cooldown_s > 0:
                sync()
                sleep(protocol.cooldown_s)
    finally:
        torch.backends.cudnn.benchmark = prev_benchmark
        for state in states:
            state.runner = None
        if own_meter:
            meter.close()
    return [r for r in rows if r is not None]


__all__ = [
    "EpfConfig", "EpfProtocol", "MODES", "SCHEME_KINDS", "TrainStep", "TrialResult", "build_model",
    "calibrate_step_seconds", "coefficient_of_variation", "cpu_name", "device_name", "dynamic_joules",
    "effective_mode", "environment", "interleaved_schedule", "measure_epf", "measure_idle_power",
    "model_kwargs", "resolve_device", "should_stop", "steps_for_window", "stopping_values",
    "summarize_trials",
]
