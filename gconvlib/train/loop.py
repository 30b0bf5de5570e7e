"""The training and evaluation steps of one model: the one loop training and the benchmark share.

Loss and correct counts are summed on the device and read once per epoch (no per-step host
syncs); the memory format, autocast and compilation come from :class:`~.device.Settings`.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from .data import as_float
from .device import Settings


def make_optimizer(model: torch.nn.Module, recipe) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov and recipe.momentum > 0, weight_decay=recipe.weight_decay)


def eval_batch_size(batch_size: int, image_size: int) -> int:
    # Evaluation keeps no activations for backward: larger batches, bounded for big images.
    return max(batch_size, 256) if image_size <= 64 else max(batch_size, 64)


class EpochInterrupted(Exception):
    """An epoch stopped at a step boundary; ``partial`` is what resuming it needs."""

    def __init__(self, partial: dict):
        super().__init__(f"stopped after step {partial['step']}")
        self.partial = partial


class Loop:
    """Training and evaluation steps of one model; sums stay on the device."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 settings: Settings, normalization: tuple[list[float], list[float]] | None = None):
        self.model, self.optimizer, self.device, self.settings = model, optimizer, device, settings
        self.memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        self.mean = self.std = None
        if normalization is not None:
            self.mean = torch.tensor(normalization[0], device=device).view(1, -1, 1, 1)
            self.std = torch.tensor(normalization[1], device=device).view(1, -1, 1, 1)
        if settings.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.forward = torch.compile(model) if settings.compile else model

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised float images in the loop's memory format (grey images as RGB)."""
        x = as_float(x)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey-scale data, RGB models (VGG paper: "unified as RGB")
        return x.contiguous(memory_format=self.memory_format)

    def autocast(self):
        if self.settings.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_epoch(self, batches: Iterable, augment: Callable,
                    on_step: Callable[[int, Callable[[], float]], None] | None = None, *,
                    resume: dict | None = None, stop: Callable[[], bool] | None = None):
        """One pass over ``batches`` of (x, y, rows, ...); returns (mean loss, accuracy, images).

        ``on_step(images, running_loss)`` after each step; ``running_loss()`` reads the mean loss
        so far from the device (a sync: call it rarely). ``stop()`` is asked after each step: when
        it says yes, :class:`EpochInterrupted` carries the epoch's state at that step boundary
        (:meth:`EpochInterrupted.partial`), which ``resume`` takes back to go on from the next step
        (the batches already done are skipped; the sums go on from theirs)."""
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        seen, done = 0, 0
        if resume is not None:
            loss_sum.copy_(resume["loss_sum"])
            correct.copy_(resume["correct"])
            seen, done = resume["seen"], resume["step"]

        def running() -> float:
            return loss_sum.item() / max(seen, 1)

        for step, (x, y, rows, *extra) in enumerate(batches):
            if step < done:
                continue   # done before the interruption (the order and augmentation are per epoch)
            x = self.prepare(augment(as_float(x), rows))
            with self.autocast():
                out = self.forward(x)
                loss, summed, images = self.step_loss(out, y, *extra)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += summed.detach().float()
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            if on_step is not None:
                on_step(images, running)
            if stop is not None and stop():
                raise EpochInterrupted({"step": step + 1, "loss_sum": loss_sum.detach().cpu(),
                                        "correct": correct.cpu(), "seen": seen})
        seen_t = torch.tensor(seen, device=self.device)
        self.sum_over_ranks(loss_sum, correct, seen_t)
        seen = int(seen_t)
        return loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1), seen

    def step_loss(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(the loss to back-propagate, the summed loss of these images, images for the progress bar)."""
        loss = F.cross_entropy(out, y)
        return loss, loss * len(y), len(y)

    def sum_over_ranks(self, *tensors: torch.Tensor) -> None:
        """One process: nothing to add (the distributed loop sums over ranks in place)."""

    def evaluation_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    @torch.no_grad()
    def evaluate(self, batches: Iterable, num_classes: int | None = None) -> dict:
        """Loss, top-1 accuracy and (with ``num_classes``) balanced accuracy."""
        self.model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        confusion = torch.zeros(max(1, num_classes or 1) ** 2, dtype=torch.long, device=self.device)
        seen = torch.zeros((), dtype=torch.long, device=self.device)
        for x, y, _ in batches:
            with self.autocast():
                out = self.evaluation_forward(self.prepare(x))
            loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
            pred = out.argmax(1)
            correct += (pred == y).sum()
            if num_classes:
                confusion += torch.bincount(y * num_classes + pred, minlength=num_classes ** 2)
            seen += len(y)
        self.sum_over_ranks(loss_sum, correct, confusion, seen)
        n = int(seen)
        if n == 0:
            return {"loss": None, "accuracy": None, "images": 0}
        result = {"loss": loss_sum.item() / n, "accuracy": correct.item() / n, "images": n}
        if num_classes:
            m = confusion.view(num_classes, num_classes).cpu()
            support = m.sum(1)
            present = support > 0
            result["balanced_accuracy"] = float((m.diag()[present].double() / support[present]).mean())
        return result
