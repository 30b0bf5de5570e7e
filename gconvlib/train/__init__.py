"""One training loop for every chapter: a :class:`TrainSpec` in, a stored record out.

    >>> from gconvlib.train import TrainSpec, train
    >>> record = train(TrainSpec(model="wrn28_1/gc2l:8", task="cifar10", epochs=15, limit=1000))

Modules (each small, each with one job):

* :mod:`.spec`        TrainSpec (the run), its store key and the code that defines it
* :mod:`.rng`         seeded streams for data order and augmentation; global RNG saved/restored
* :mod:`.device`      device, threads, backend flags (always restored), the loop's measured settings
* :mod:`.data`        loading (DataCache), splits as device batches, on-device augmentation
* :mod:`.loop`        the train/eval steps (shared by training and the benchmark)
* :mod:`.checkpoint`  where checkpoints live, when they are written, how a run resumes
* :mod:`.progress`    tqdm bars on stderr
* :mod:`.run`         train(), run_many(), summarize_runs()
* :mod:`.distributed` data-parallel training under torchrun (DistributedDataParallel, synced BN)
* :mod:`.bench`       benchmark_training(): this loop vs a plain eager fp32 DataLoader loop
* :mod:`.cli`         ``gconv train`` and ``gconv bench train``
"""
from .bench import benchmark_training
from .checkpoint import checkpoint_dir
from .data import Augmenter, load_data
from .device import Settings, settings_for
from .run import TrainingInterrupted, run_many, scaling, summarize_runs, train
from .spec import KIND, TrainSpec

__all__ = ["Augmenter", "KIND", "Settings", "TrainSpec", "TrainingInterrupted", "benchmark_training",
           "checkpoint_dir", "load_data", "run_many", "scaling", "settings_for", "summarize_runs", "train"]
