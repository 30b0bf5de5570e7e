"""Progress of training runs with tqdm: a bar per run, and an outer bar over several runs.

Everything goes to stderr (``tqdm.auto``: a widget in JupyterLab when ipywidgets is installed,
a text bar otherwise). Nothing is printed to stdout, so no per-epoch lines end up in a
notebook's output; the notebook pipeline strips stderr from the book.
"""
from __future__ import annotations

import sys
import time

PROGRESS_MODES = ("auto", "bar", "none")


def check_mode(progress: str) -> str:
    if progress not in PROGRESS_MODES:
        raise ValueError(f"unknown progress mode {progress!r}; choose one of {', '.join(PROGRESS_MODES)}")
    return progress


def _tqdm(**kwargs):
    from tqdm.auto import tqdm

    interactive = "ipykernel" in sys.modules or sys.stderr.isatty()
    # a bar written to a log or a captured stream is one line per refresh: refresh rarely there
    return tqdm(file=sys.stderr, dynamic_ncols=True, mininterval=0.5 if interactive else 10.0, **kwargs)


class RunBar:
    """One training run: images done of epochs x images per epoch, with the run's title, the
    current epoch, the loss (the running mean of the epoch) and tqdm's ETA."""

    def __init__(self, progress: str, title: str, epochs: int, images_per_epoch: int, nested: bool = False,
                 done: int = 0, epoch_now: int = 1):
        """``done``: images already trained (a resumed run): the bar starts there, and its rate
        and ETA count only what this process trains."""
        self.epochs, self.epoch_now = epochs, epoch_now
        self.last = {}
        self._read_at = 0.0
        self.bar = None
        if check_mode(progress) != "none":
            self.bar = _tqdm(total=epochs * images_per_epoch, initial=done, desc=title, unit="img",
                             leave=not nested,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} img "
                                        "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
            self._show()

    def _show(self, loss: float | None = None):
        parts = [f"ep {self.epoch_now}/{self.epochs}"]
        if loss is not None:
            parts.append(f"loss {loss:.3f}")
        if self.last.get("val_acc") is not None:
            parts.append(f"val {100 * self.last['val_acc']:.1f}%")
        self.bar.set_postfix_str(" ".join(parts), refresh=False)

    def step(self, images: int, running_loss):
        if self.bar is None:
            return
        now = time.monotonic()
        if now - self._read_at >= self.bar.mininterval:   # reading the loss syncs the device
            self._read_at = now
            self._show(running_loss())
        self.bar.update(images)

    def epoch(self, row: dict):
        self.last = row
        if self.bar is not None:
            self.epoch_now = min(row["epoch"] + 1, self.epochs)
            self._show(row["train_loss"])

    def close(self):
        if self.bar is not None:
            self.bar.close()


class RunsBar:
    """Several runs: ``runs i/N (c cached)``."""

    def __init__(self, progress: str, total: int):
        self.total, self.done, self.cached = total, 0, 0
        self.bar = None
        if check_mode(progress) != "none" and total > 1:
            self.bar = _tqdm(total=total, unit="run", desc=self._description(),
                             bar_format="{desc} |{bar}| [{elapsed}<{remaining}{postfix}]")

    def _description(self) -> str:
        return f"runs {self.done}/{self.total} ({self.cached} cached)"

    def finished(self, record: dict):
        self.done += 1
        self.cached += bool(record.get("cache_hit"))
        if self.bar is not None:
            res = record["result"]
            test = res.get("test_accuracy")
            last = f"{res['label']}" + (f" test {100 * test:.1f}%" if test is not None else "")
            self.bar.set_description_str(self._description(), refresh=False)
            self.bar.set_postfix_str(f"last: {last}", refresh=False)
            self.bar.update(1)

    @property
    def nested(self) -> bool:
        return self.bar is not None

    def close(self):
        if self.bar is not None:
            self.bar.close()
