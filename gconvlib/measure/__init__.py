"""Energy, latency and time measurements for the grouped-convolution papers.

Every model is a :class:`~gconvlib.models.ModelSpec`; a measured configuration is a *cell* (a
spec and a batch size); every cell's result is one results-store record (:mod:`.records`).

Energy per frame (EPF) is the E2GC paper's quantity: energy of "one forward and one backward
pass" divided by the batch size. The paper read ``nvidia-smi`` power during eager PyTorch
training steps; here (reasons below, from how the NVML counter behaves on recent GPUs):

* **Counter, not power**: the GPU's cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  Volta and newer); power polling only as a labelled-approximate fallback.
* **Windows aligned to counter updates** (:mod:`.window`): the counter moves about every 100 ms;
  a thread polls it while the steps run (the host never reads it inside a window, so eager steps
  are not slowed by the reads) and each window opens on the second update after the work starts
  and closes on an update, timed to half a read, so 1 s windows reach CV <= 1 % where unaligned
  2 s windows carry up to 5 % error.
* **CUDA graphs**: eager PyTorch at batch 1-16 is launch-bound on current GPUs; the whole step is
  captured in a CUDA graph (``mode="graph"``, default); ``mode="eager"`` is the paper-style number.
* **Chosen, recorded settings**: channels_last, fp32 without TF32 (the papers' GPUs have none);
  memory format, AMP and the backend flags are in every result's spec and environment.
* **Repeat, interleave**: 3-4 trials per cell to CV <= 1 %, round-robin over the cells of a group.
* **Total and dynamic EPF**: active-idle power is measured in the same process, after a rest, for
  several seconds; ``None`` (no dynamic EPF) when the counter does not move.
* **Missing is missing**: without an energy source EPF is ``None`` with the reason; time is still
  measured and is never shown as energy.

Modules: :mod:`.meters` (NVML counter, NVML power, RAPL, null), :mod:`.window` (aligned windows),
:mod:`.protocol` (EPF cells, protocol and run), :mod:`.stats` (its statistics), :mod:`.step` (the
measured training step), :mod:`.latency` (inference latency, VGG Fig. 10),
:mod:`.profile` (share of conv time), :mod:`.experiments` (the papers' cells), :mod:`.records`
(store records, budgets, trial journal, CSV export), :mod:`.reference` (``gconv reference``: the
GPU reference in one resumable command; :mod:`.envcheck` is its part 1), :mod:`.analysis` (frames for tables, figures and claims evidence),
:mod:`.layer_bench` (``gconv bench gc2l``), :mod:`.cli`.
"""
from .experiments import (E2GC_VARIANTS, VGG_VARIANTS, conv_share_cells, e2gc_cells, gc2l_comparison_cells,
                          gc2l_overhead_cells, vgg_latency_cells, vgg_train_cells)
from .latency import LatencyCell, LatencyProtocol, latency_summary, measure_latency, time_inference
from .meters import (Meter, NullMeter, NvmlEnergyMeter, NvmlPowerMeter, RaplMeter, Reading, gpu_telemetry,
                     integrate_power, rapl_delta_joules, select_meter)
from .profile import ConvShareCell, measure_conv_share
from .protocol import (EpfCell, EpfProtocol, TrainStep, TrialResult, calibrate_step_seconds,
                       coefficient_of_variation, device_name, dynamic_joules, interleaved_schedule, measure_epf,
                       resolve_device, should_stop, steps_for_window, summarize_trials)
from .records import Budget, export_csv, latest_records, run_cells
from .window import Window, idle_power, measure_window

__all__ = [
    "Budget", "ConvShareCell", "E2GC_VARIANTS", "EpfCell", "EpfProtocol", "LatencyCell", "LatencyProtocol",
    "Meter", "NullMeter", "NvmlEnergyMeter", "NvmlPowerMeter", "RaplMeter", "Reading", "TrainStep", "TrialResult",
    "VGG_VARIANTS", "Window", "calibrate_step_seconds", "coefficient_of_variation", "conv_share_cells",
    "device_name", "dynamic_joules", "e2gc_cells", "export_csv", "gc2l_comparison_cells", "gc2l_overhead_cells",
    "gpu_telemetry", "idle_power", "integrate_power", "interleaved_schedule", "latency_summary", "latest_records",
    "measure_conv_share", "measure_epf", "measure_latency", "measure_window", "rapl_delta_joules",
    "resolve_device", "run_cells", "select_meter", "should_stop", "steps_for_window", "summarize_trials",
    "time_inference", "vgg_latency_cells", "vgg_train_cells",
]
