"""Randomness of a run: independent seeded streams, and the global state a run may touch.

The data order and the augmentation of an epoch come from generators seeded by (seed, epoch,
stream), never from global state, so a resumed run sees the same batches as an uninterrupted
one. The global generators (model initialisation, anything a layer draws) are seeded at the
start of a run, saved in every checkpoint, and - through :func:`preserved` - given back to the
caller unchanged when the run returns.
"""
from __future__ import annotations

import contextlib
import hashlib
import random

import numpy as np
import torch


def derived_seed(*parts) -> int:
    """A 63-bit seed from (seed, epoch, stream): independent streams, no global RNG involved."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(*parts) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(*parts))


def get_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def preserved(device: torch.device):
    """Give the global generators (torch, numpy, random; CUDA on a GPU) back as they were."""
    state = get_state(device)
    try:
        yield
    finally:
        set_state(state)
