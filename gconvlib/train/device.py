"""Devices: which one, how fast settings are chosen for it, and leaving global state alone.

* Library calls never change the thread count: :func:`set_process_threads` (the CPUs this
  process may run on, from its affinity mask - not ``os.cpu_count()``) is called where a process
  starts, i.e. by the command line.
* Backend flags a run changes (cuDNN autotuning, TF32) are set inside :func:`backend_flags` and
  restored when it exits; :func:`restored_backends` puts every such flag back.
* The memory format, autocast and compilation of the training loop come from :func:`settings_for`,
  a table filled from measurements (below), not from a default.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch

from .. import runtime


# one device rule and one CPU count for the whole library (the runtime floor); kept under
# these names because the training modules and their callers import them from here
resolve_device = runtime.resolve_device
available_cpus = runtime.cpu_count


# -- threads -----------------------------------------------------------------------------

def set_process_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for the whole process (call once, where the process starts)."""
    torch.set_num_threads(threads or available_cpus())
    return torch.get_num_threads()


# -- backend flags -----------------------------------------------------------------------------

def _flag_slots() -> list[tuple[str, object, str]]:
    """(label, owner, attribute) of every global backend flag (restored in this order)."""
    b = torch.backends
    owners = {"cudnn": b.cudnn, "cuda.matmul": b.cuda.matmul}
    slots = [(f"{o}.{n}", owners[o], n) for o, n in (
        ("cudnn", "benchmark"), ("cudnn", "deterministic"), ("cudnn", "allow_tf32"),
        ("cuda.matmul", "allow_tf32"), ("cuda.matmul", "allow_bf16_reduced_precision_reduction"),
        ("cuda.matmul", "allow_fp16_reduced_precision_reduction"))]
    # torch >= 2.9 also keeps the TF32 choice as strings; set them after the booleans above
    for path in ("", "cuda.matmul", "cudnn", "cudnn.conv", "cudnn.rnn", "mkldnn", "mkldnn.matmul",
                 "mkldnn.conv", "mkldnn.rnn"):
        owner = b
        for part in filter(None, path.split(".")):
            owner = getattr(owner, part, None)
        if owner is not None and hasattr(owner, "fp32_precision"):
            slots.append((f"{path or 'backends'}.fp32_precision", owner, "fp32_precision"))
    return slots


def backend_state() -> dict:
    """Every global backend flag a training or benchmark function may change (for tests, records)."""
    state = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    state.update({label: getattr(owner, name) for label, owner, name in _flag_slots()})
    return state


@contextlib.contextmanager
def restored_backends():
    """Whatever happens inside, the backend flags are as before when this exits."""
    precision = torch.get_float32_matmul_precision()
    values = [(owner, name, getattr(owner, name)) for _, owner, name in _flag_slots()]
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(precision)
        for owner, name, value in values:
            setattr(owner, name, value)


@contextlib.contextmanager
def backend_flags(device: torch.device, fast: bool = True):
    """On a GPU: cuDNN autotuning and TF32 (``fast``) or PyTorch's defaults (not ``fast``: what a
    plain loop gets); restored on exit. Nothing to set on a CPU."""
    with restored_backends():
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = fast
            torch.backends.cuda.matmul.allow_tf32 = fast
            torch.backends.cudnn.allow_tf32 = True   # PyTorch's default for convolutions
        yield


# -- the loop's settings, per device -------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """How the training loop runs on a device: autocast dtype (None: fp32), memory format, compile."""

    amp: str | None
    channels_last: bool
    compile: bool = False

    def as_dict(self) -> dict:
        return {**asdict(self), "threads": torch.get_num_threads()}


def settings_for(device: torch.device) -> Settings:
    """The training loop's settings on ``device``: a table from measurements, not a default.

    CPU, measured on this project's machine (AMD EPYC, 2 cores, AVX512-BF16, torch 2.14.1,
    oneDNN) while it was otherwise idle: training images/s (forward, backward, SGD step; random
    data, 2 threads) relative to contiguous fp32, the settings interleaved, median of 5 repeats
    (GC-2L and Shuffle re-measured after their layers were changed to keep channels_last):

        variant                        px batch  channels_last  channels_last + bf16 autocast
        wrn28_1/standard               32  128      1.25x            2.36x
        wrn28_1/gc:2                   32  128      1.17x            2.00x
        wrn28_1/gc:8                   32  128      1.87x            1.80x
        wrn28_1/gc:16                  32  128      1.62x            1.60x
        wrn28_1/gc2l:2                 32  128      2.02x            2.63x
        wrn28_1/gc2l:4                 32  128      2.02x            2.06x
        wrn28_1/gc2l:8                 32  128      1.77x              -
        wrn28_1/gc2l:8:unfused         32  128      2.15x              -
        wrn28_1/gc2l:16                32  128      1.63x            1.22x
        wrn28_1/shuffle:4              32  128      1.36x            1.68x
        wrn28_1/shuffle:16             32  128      1.65x              -
        wrn28_1/flgc:4                 32  128      1.19x            2.09x
        wrn28_2/gc:2                   32  128      1.11x            2.13x
        vgg13_bn/baseline/w_m=0.25     32   20      1.12x            1.48x
        vgg13_bn/A/width_mult=0.25     32   20      1.14x            1.29x
        vgg13_bn/E/width_mult=0.25     32   20      1.28x            1.35x
        mobilenet_v1/e2gc:1            64   64      1.44x            0.96x
        mobilenet_v1/e2gc:4            64   64      1.67x            2.19x
        mobilenet_v1/e2gc:32           64   64      1.18x            1.86x
        mobilenet_v1/gc:8              64   64      1.19x            1.72x
        mobilenet_v1/e2gc:4            32   64      1.46x            1.63x

    While other jobs loaded the two cores, single steps took up to 10x longer at random and
    the same comparisons gave anything from 0.88x to 3.4x: that noise, not the memory format,
    explains a benchmark reading of 0.90x (the benchmark now alternates rounds and reports
    medians). Hence, on a CPU:

    * channels_last: it wins for every quick-profile variant (1.1-2.0x).
    * fp32: bf16 autocast is faster for most variants but slower for some (MobileNet-V1 G=1,
      GC-2L g=16), and it is not the papers' precision; not used on a CPU.
    * no compilation: ``torch.compile`` of wrn28_1/gc2l:4 (batch 64, channels_last) took 128 s
      for its first step (7 s eager) and then ran 1.28x faster; a quick-profile run trains
      for about half a minute, and eval mode and a short last batch recompile.
    * threads: all CPUs of the process's affinity (2 threads: 1.67x one thread for
      wrn28_1/gc:2), set where the process starts (:func:`set_process_threads`), not here.

    GPU: bf16 autocast (where supported) + channels_last + cuDNN autotuning (tensor cores);
    kept from before, not re-measured in this change (no GPU here).
    """
    if device.type == "cuda":
        return Settings(amp="bf16" if torch.cuda.is_bf16_supported() else None, channels_last=True)
    return Settings(amp=None, channels_last=True)
