"""Datasets of the three papers: real loaders (downloaded with pooch, checked by hash) and offline
stand-ins, behind one call.

    >>> from gconvlib.datasets import get_data
    >>> data = get_data("cifar10", mode="standin", limit=500)
    >>> data.source, data.num_classes, data.sizes
    ('standin', 10, {'train': 500, 'val': 500, 'test': 500})

Tasks, defaults and sizes are the table ``TASKS`` in ``tasks.py``.
"""
from .bundle import DataBundle, LabeledSubset, TensorImages
from .download import OFFLINE_ENV, DatasetCorrupted, DatasetUnavailable
from .tasks import MODES, TASKS, StandInWarning, Task, get_data, list_tasks

__all__ = ["DataBundle", "DatasetCorrupted", "DatasetUnavailable", "LabeledSubset", "MODES", "OFFLINE_ENV",
           "StandInWarning", "TASKS", "Task", "TensorImages", "get_data", "list_tasks"]
