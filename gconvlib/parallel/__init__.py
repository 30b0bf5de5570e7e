"""Scaling out on PyTorch's own distributed engine (``torch.distributed``, ``torchrun``).

* :mod:`.dist`         process groups: torchrun's environment, or spawned processes (gloo / NCCL)
* :mod:`.collectives`  the autograd-aware all-gather / reduce-scatter GC-2L needs, timed
* :mod:`.layers`       one rank's share of a GC-2L (or GC) layer
* :mod:`.model`        group-parallel WideResNet-28-k, weights to and from the single-process model
* :mod:`.check`        ``gconv parallel-check``: sharded vs single-process, forward/backward/step
* :mod:`.bench`        step time, computation vs communication, communication volume
* :mod:`.cost`         communication volume from the layer shapes; the fitted cost model
* :mod:`.cli`          ``gconv parallel-check``, ``gconv parallel-bench``

Data-parallel training (DDP) lives with the training loop: :mod:`gconvlib.train.distributed`;
process-group set-up in :mod:`gconvlib.runtime`; ``gconv plan`` (the profile's training runs
missing from the store, as torchrun jobs) in :mod:`gconvlib.plan`.
"""
from .dist import ParallelError
from .model import GroupParallelWideResNet, held_parameters, merge_state_dicts, shard_state_dict

__all__ = ["GroupParallelWideResNet", "ParallelError", "held_parameters", "merge_state_dicts", "shard_state_dict"]
