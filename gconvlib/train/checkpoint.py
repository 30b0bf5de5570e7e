"""Checkpoints of a run: where they live, when they are written, and how they are read back.

A run's checkpoints live in ``cache_dir()/checkpoints/<key>/`` (``key``: the store key of its
record, so a code change that makes a new key never resumes an old checkpoint). ``last.pt``
holds everything needed to resume bit-identically at an epoch boundary (model, optimizer,
scheduler, RNG states, curves); it is written at most every ``every_s`` seconds of training,
and always where a run is stopped on purpose (``stop_after_epoch``, a callback that raises), so
a run of a few seconds does not spend its time writing checkpoints. After the last epoch
``last.pt`` is replaced by ``final.pt`` with the weights only (the run is then a store hit).
The caller holds the store's lock of the key while any of this is written.

Ctrl-C (SIGINT) during training is taken at the next step boundary (:class:`StopOnInterrupt`):
``last.pt`` then also holds the epoch's progress (``step`` and its sums), so the run resumes at
the next step, not at the start of the epoch; a second Ctrl-C stops at once.
"""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import torch

from ..store import atomic_open, cache_dir

CHECKPOINT_EVERY_S = 60.0               # at most one full checkpoint per minute of training
KEEP_FINAL_MAX_BYTES = 100 * 2**20      # keep_checkpoint="auto": keep final weights up to this size


def checkpoint_dir(spec_or_key) -> Path:
    """The checkpoint folder of a run (a resolved TrainSpec, or its key)."""
    key = spec_or_key if isinstance(spec_or_key, str) else spec_or_key.key
    return cache_dir() / "checkpoints" / key


def atomic_save(obj, path: Path) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def load(path: Path, spec_dict: dict) -> dict | None:
    """The checkpoint in ``path`` if it belongs to ``spec_dict``, else None."""
    if not path.exists():
        return None
    # on the CPU: RNG states must stay CPU tensors; load_state_dict moves weights/moments to the device
    state = torch.load(path, map_location="cpu", weights_only=False)
    # The directory is named by the key; a mismatch would mean a hash collision or a hand edit.
    return state if state.get("spec") == spec_dict else None


class Checkpointer:
    """Writes ``last.pt`` when due (``every_s`` seconds since the last one; 0: every epoch) or
    when asked to (``force``), and the final weights at the end."""

    def __init__(self, folder: Path, every_s: float = CHECKPOINT_EVERY_S):
        if every_s < 0:
            raise ValueError(f"checkpoint_every_s must be >= 0, got {every_s!r}")
        self.folder, self.every_s = folder, every_s
        self.last_saved = time.perf_counter()
        self.saved_epochs: list[int] = []
        self.seconds = 0.0

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    @property
    def final(self) -> Path:
        return self.folder / "final.pt"

    def due(self) -> bool:
        return time.perf_counter() - self.last_saved >= self.every_s

    def save(self, state: dict) -> None:
        t0 = time.perf_counter()
        atomic_save(state, self.last)
        self.last_saved = time.perf_counter()
        self.seconds += self.last_saved - t0
        self.saved_epochs.append(state["epoch"])

    def maybe_save(self, make_state, force: bool = False) -> bool:
        if force or self.due():
            self.save(make_state())
            return True
        return False

    def finish(self, state: dict | None) -> Path | None:
        """Keep ``state`` (the final weights) as ``final.pt`` and drop ``last.pt``; with None,
        remove the folder. Returns the kept file."""
        if state is None:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
            return None
        atomic_save(state, self.final)
        self.last.unlink(missing_ok=True)
        return self.final


class StopOnInterrupt:
    """While active (a context manager), the first SIGINT only sets :attr:`requested`, which the
    training loop reads at each step boundary; a second one raises KeyboardInterrupt as usual.
    Outside the main thread (where signal handlers cannot be set) it does nothing."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
