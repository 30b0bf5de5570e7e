"""The checks a scaled-down setting must pass before it judges anything (see :func:`sanity_check`):
the training loss falls, every variant has fitted its training data, no run diverges, and the dense
reference is not worse than its own grouped variants by more than the seed spread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..claims.evidence import pooled_sd
from ..layers.factory import kind_label
from ._runs import _num, by_variant, mean_std, run_values, value_text

LOSS_FALLS = 0.95      # the mean final training loss must be below 95 % of the first epoch's
DIVERGED = 1.5         # a run diverged: a loss is not finite, or its final validation loss is above
                       # 1.5 x the larger of its first epoch's and chance level (ln K)
FITTED = 0.5           # trained, not just started: the mean final training loss of every variant is at
                       # most half of chance level (ln K). Relations between runs that are still far from
                       # fitting their training data measure how fast each variant starts to learn (which
                       # the initialisation of grouped convs skews, see the gc2l_ablation chapter), not
                       # the trained models the papers compare. (Full-scale runs end far below: ~0.01 for
                       # WRN-28-10 on CIFAR, 0.06 for VGG in the VGG paper.)


@dataclass
class Sanity:
    """The sanity verdict of one setting: ``reason`` is None when it passed."""

    reason: str | None
    checks: pd.DataFrame   # check, passed, detail

    @property
    def passed(self) -> bool:
        return self.reason is None


def sanity_check(records: Sequence[dict], reference: str | None = "standard",
                 metric: str = "error") -> Sanity:
    """Does this setting (runs that differ only in scheme and seed) behave like training at all?

    1. the training loss falls: for every variant, the mean over seeds of the final epoch's
       training loss is below LOSS_FALLS x the mean of the first epoch's;
    2. the runs fit their training data: for every variant, the mean final training loss is at
       most FITTED x ln K (half of chance level);
    3. no run diverges: every loss finite, and no final validation loss above DIVERGED x
       max(first epoch's validation loss, ln K);
    4. the reference (``standard`` for WideResNet, ``baseline`` for VGG; None: no such check) is
       not worse than any of its own grouped variants by more than the spread: its mean ``metric``
       (error, %) minus the variant's is at most 2 pooled std of the seeds.

    A failed check makes ``reason`` say which one, with the numbers.
    """
    rows, reasons = [], []
    variants = by_variant(records)

    # 1. training loss falls
    bad = []
    for variant, runs in variants.items():
        first = np.mean([_num(r["result"]["curves"]["train_loss"][0]) for r in runs])
        last = np.mean([_num(r["result"]["curves"]["train_loss"][-1]) for r in runs])
        if not (np.isfinite(first) and np.isfinite(last) and last < LOSS_FALLS * first):
            bad.append(f"{variant} {first:.3g} -> {last:.3g}")
    rows.append(dict(check="training loss falls (final below 95 % of the first epoch's, mean over seeds)",
                     passed=not bad, detail="; ".join(bad) or "every variant"))
    if bad:
        reasons.append(f"training loss falls by less than {100 * (1 - LOSS_FALLS):.0f} % ({'; '.join(bad[:3])})")

    # 2. the runs fit their training data
    bad = []
    for variant, runs in variants.items():
        last = np.mean([_num(r["result"]["curves"]["train_loss"][-1]) for r in runs])
        chance = math.log(max(2, int(runs[0]["result"]["data"]["num_classes"])))
        if not (np.isfinite(last) and last <= FITTED * chance):
            bad.append(f"{variant} {last:.3g}")
    chance = math.log(max(2, int(records[0]["result"]["data"]["num_classes"]))) if records else math.nan
    rows.append(dict(check=f"the runs fit their training data (final training loss at most half of chance, "
                           f"{FITTED * chance:.3g}, mean over seeds)", passed=not bad,
                     detail="; ".join(bad) or "every variant"))
    if bad:
        reasons.append(f"training stopped far from fitting the training data (final training loss above "
                       f"{FITTED * chance:.3g} = ln K / 2: {'; '.join(bad[:3])}{'; ...' if len(bad) > 3 else ''})")

    # 3. no run diverges
    bad = []
    for variant, runs in variants.items():
        for r in runs:
            c = r["result"]["curves"]
            losses = [_num(x) for x in c["train_loss"] + c["val_loss"]]
            chance = math.log(max(2, int(r["result"]["data"]["num_classes"])))
            vl = [_num(x) for x in c["val_loss"]]
            if not all(np.isfinite(losses)):
                bad.append(f"{variant} seed {r['spec']['seed']}: a loss is not finite")
            elif vl and vl[-1] > DIVERGED * max(vl[0], chance):
                bad.append(f"{variant} seed {r['spec']['seed']}: final validation loss {vl[-1]:.3g} "
                           f"(first epoch {vl[0]:.3g}, chance {chance:.3g})")
    rows.append(dict(check="no run diverges (losses finite; final validation loss at most 1.5 x "
                           "max(first epoch's, ln K))", passed=not bad, detail="; ".join(bad) or "no run"))
    if bad:
        reasons.append(f"a run diverges ({'; '.join(bad[:2])})")

    # 4. the reference is not worse than its own grouped variants by more than the spread
    if reference is not None and reference in variants:
        ref = [run_values(r)[metric] for r in variants[reference]]
        rm, rs, rn = mean_std(ref)
        worst = None
        for variant, runs in variants.items():
            if variant == reference:
                continue
            vm, vs, vn = mean_std([run_values(r)[metric] for r in runs])
            sd = pooled_sd(rs, rn, vs, vn)
            excess = (rm - vm) - 2 * sd
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, variant, vm, vs, rm - vm, sd)
        name = "the baseline" if reference == "baseline" else kind_label(reference)
        if worst is None:
            rows.append(dict(check=f"{name} not worse than its grouped variants by more than 2 pooled std",
                             passed=True, detail=f"{name} {metric} {value_text(rm, rs, rn)}"))
        else:
            _, variant, vm, vs, diff, sd = worst
            detail = (f"{name}'s {metric} {rm:.1f} % is {diff:.1f} points above {variant}'s {vm:.1f} % "
                      f"(2 pooled std = {2 * sd:.1f})")
            rows.append(dict(check=f"{name} not worse than its grouped variants by more than 2 pooled std",
                             passed=False, detail=detail))
            reasons.append(detail)
    return Sanity("; ".join(reasons) if reasons else None, pd.DataFrame(rows))
