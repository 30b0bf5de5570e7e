"""Energy and latency measurement for the grouped-convolution papers.

Energy per frame (EPF) is the E2GC paper's quantity: energy of "one forward and one backward
pass" divided by the batch size. The paper read ``nvidia-smi`` power during eager PyTorch
training steps. This package measures it differently, and the reasons are in REFERENCE §7:

* **Counter, not power.** ``nvidia-smi``'s ``power.draw`` is a 1 s average (or 25 ms sampled out
  of every 100 ms), so integrating it over short steps is coarse. Volta and newer GPUs have a
  cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``); it is read once before and
  once after a block of steps, after ``torch.cuda.synchronize()``. Power polling is only a
  labelled-approximate fallback for GPUs without the counter.
* **Windows of >= 5 s.** The counter refreshes about every 100 ms: windows under 2 s carry
  5-20 % error from its steps; >= 5 s is stable. Steps per window are calibrated per configuration.
* **CUDA graphs.** Eager PyTorch at batch 1-16 on an H100 is launch-bound (MobileNet-V1: ~10 ms
  per step at B=1 and B=16 alike), so eager EPF mostly measures idle power x launch time, with a
  CV of 6-13 %. Capturing the whole step in a CUDA graph (``mode="graph"``, the default) measures
  the GPU's work (1.43 ms/step, CV < 1 %). ``mode="eager"`` reproduces the paper-style number.
* **Repeat until stable, interleave, cool down.** Trials repeat until the CV across trials is
  <= 2 % (3 to 10 trials); configurations are measured round-robin with a cool-down between
  trials, because thermal drift biases back-to-back trials.
* **Total and dynamic EPF.** Active-idle power (~122 W on an H100 with a CUDA context alive,
  ~75 W without) is measured in the same process; rows report total EPF (comparable with the
  paper) and dynamic EPF = (E - P_idle x t) / frames.
* **Missing is missing.** Without an energy source (no GPU/NVML, RAPL unreadable as in most VMs)
  EPF is ``None`` (NaN in CSV) with the reason; times and throughput are still measured.

Modules: :mod:`.meters` (NVML counter, NVML power, RAPL, null), :mod:`.protocol` (the EPF
protocol and its statistics), :mod:`.latency` (inference latency, VGG paper Fig. 10),
:mod:`.sweep` (resumable sweeps, reference files), :mod:`.cli` (``gconv energy``/``gconv latency``).
"""
from .latency import VGG_VARIANTS, latency_summary, measure_latency, parse_variant, time_inference
from .meters import (Meter, NullMeter, NvmlEnergyMeter, NvmlPowerMeter, RaplMeter, Reading, gpu_telemetry,
                     integrate_power, rapl_delta_joules, select_meter)
from .protocol import (EpfConfig, EpfProtocol, TrainStep, TrialResult, build_model, calibrate_step_seconds,
                       coefficient_of_variation, device_name, dynamic_joules, interleaved_schedule, measure_epf,
                       measure_idle_power, resolve_device, should_stop, steps_for_window, summarize_trials)
from .sweep import (EXPERIMENTS, LATENCY_COLUMNS, REQUIRED_COLUMNS, SWEEP_COLUMNS, SweepSummary, device_slug,
                    e2gc_configs, gc2l_overhead_configs, load_reference, reference_path, run_sweep,
                    vgg_latency_variants)

__all__ = [
    "EXPERIMENTS", "LATENCY_COLUMNS", "REQUIRED_COLUMNS", "SWEEP_COLUMNS", "VGG_VARIANTS",
    "EpfConfig", "EpfProtocol", "Meter", "NullMeter", "NvmlEnergyMeter", "NvmlPowerMeter", "RaplMeter",
    "Reading", "SweepSummary", "TrainStep", "TrialResult",
    "build_model", "calibrate_step_seconds", "coefficient_of_variation", "device_name", "device_slug",
    "dynamic_joules", "e2gc_configs", "gc2l_overhead_configs", "gpu_telemetry", "integrate_power",
    "interleaved_schedule", "latency_summary", "load_reference", "measure_epf", "measure_idle_power",
    "measure_latency", "parse_variant", "rapl_delta_joules", "reference_path", "resolve_device",
    "run_sweep", "select_meter", "should_stop", "steps_for_window", "summarize_trials", "time_inference",
    "vgg_latency_variants",
]
