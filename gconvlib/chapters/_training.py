"""What the four accuracy chapters share: which runs, how they become evidence, and the checks
a scaled-down setting must pass before it judges anything.

A chapter lists its runs with :func:`specs` (one :class:`~gconvlib.train.TrainSpec` per variant
and seed; its ``plan_specs`` returns exactly these), trains them with :func:`train_runs` (stored
runs are read back), and turns the records into

* a summary per variant (:func:`summarize`: mean and sample std over seeds, n),
* evidence for the claims (:func:`evidence`: one long table, filed under the paper's model key,
  kind ``scaled-down`` unless the run is the paper's setting),
* the sanity verdict of each setting (:func:`sanity_check`): a setting whose training loss does not
  fall, a run that diverges, or a standard convolution worse than its own grouped variants by more
  than the seed spread is *not testable here*: every evidence row of that setting carries the reason
  in its ``sanity`` column, and the judge says so instead of a verdict,
* one scaling note per setting (:func:`scaling_note`): how far it is from the paper's setting,
  stating the paper's value only where the paper gives one (:data:`PAPER_STATES`),
* the paper's column beside ours (:func:`paper_columns`), and for a column this profile does not
  run, "not run in this profile" with the command that runs it.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..models import ModelSpec
from ..models.spec import scheme_text
from ..store import ResultsStore
from ..train import TrainSpec
# the chapters read everything they share as ``T.<name>`` from this module
from ._evidence import SPLIT_NAMES, dataset_evidence, evidence, scaling_note, source_text
from ._runs import (PAPER_MODEL, PAPER_PROFILE_COMMAND, by_setting, column_command, curves, dataset_name,
                    dataset_title, our_model_name, specs, summarize, train_runs, value_text)
from ._sanity import pooled_sd, sanity_check

__all__ = ["SPLIT_NAMES", "dataset_evidence", "evidence", "scaling_note", "PAPER_MODEL", "column_command",
           "dataset_name", "dataset_title", "specs", "summarize", "value_text", "sanity_check", "pooled_sd", "NOT_RUN",
           "train_and_check", "add_wrn_error_tables", "model_and_dataset", "runs_table", "paper_columns"]


def train_and_check(r, plan: Sequence[TrainSpec], paper: str, store: ResultsStore | None, progress: str, *,
                    reference: str | None, curves_of: Sequence[str] = (), name_setting=None,
                    dataset_options: dict | None = None) -> tuple[pd.DataFrame, list]:
    """What every training chapter does first: train (or read) the runs of ``plan``, store records,
    summary and curves in ``r.data``, run the sanity checks per setting (against ``reference``, the
    dense variant) and add their table and the scaling note to ``r``. Returns the summary and the
    evidence for the chapter's claims (one frame per setting, then the data-set sizes).
    ``name_setting(records)`` names a setting in the sanity table (default: its data source)."""
    records = train_runs(plan, store, r.profile, progress)
    r.data.update(records=records, plan=plan, summary=summarize(records), curves=curves(records))
    frames, sanity_rows = [], []
    for recs in by_setting(records).values():
        sanity = sanity_check(recs, reference=reference)
        frames.append(evidence(recs, paper, sanity.reason, curves_of=tuple(curves_of)))
        sanity_rows.append(sanity.checks.assign(setting=(name_setting or source_text)(recs)))
    frames.append(dataset_evidence(records, paper, **(dataset_options or {})))
    columns = ["setting", "check", "passed", "detail"]
    r.add_table("sanity", pd.concat(sanity_rows, ignore_index=True)[columns] if sanity_rows
                else pd.DataFrame(columns=columns),
                "Sanity checks of each scaled-down setting: a setting that fails one judges no claim (its "
                "claims are 'not testable here', with the reason)")
    r.notes["scaling"] = scaling_note(records)
    return r.data["summary"], frames


# GC-2L Tables 1 and 3: the WideResNet (its name in the paper) each task was trained with
WRN_TABLE_MODELS = {"wrn28_10": ("WRN-28-10", ("cifar10", "cifar100")), "wrn34_2": ("WRN-34-2", ("imagenet",))}


def add_wrn_error_tables(r, paper: str, ref: str, scheme: str, summary: pd.DataFrame, caption_tail: str = "") -> None:
    """GC-2L Tables 1 and 3: per WideResNet (WRN-28-10 on CIFAR, WRN-34-2 on ImageNet) the paper's
    error column (quoted) beside ours, each column with the command that trains its paper setting."""
    for model, (name, tasks) in WRN_TABLE_MODELS.items():
        commands = {dataset_name(paper, task): column_command(f"{model}/{scheme}", task) for task in tasks}
        r.add_table(f"{ref} {model}", paper_columns(paper, ref, model, "error", list(commands), summary, commands),
                    f"{ref} ({name}): test error (%), the paper (quoted) beside ours (mean ± "
                    f"sample std over seeds, scaled-down{caption_tail})")


def model_and_dataset(records: Sequence[dict]) -> str:
    """"WRN-28-1, CIFAR-10": the model that ran and the data set, for a sanity-table row."""
    return f"{our_model_name(TrainSpec.from_record(records[0]))}, {dataset_title(records[0]['spec']['task'])}"


def runs_table(summary: pd.DataFrame, metric: str, header: str, model_header: str = "model (ran)") -> pd.DataFrame:
    """Every variant a chapter trained: its headline ``metric`` (``top1`` or ``error``, mean ± std over
    seeds, under ``header``), the losses that the sanity checks read, and the training time."""
    if not len(summary):
        return pd.DataFrame()
    def stat(name: str, digits: int = 2) -> list[str]:
        return [value_text(m, s, n, digits) for m, s, n in
                zip(summary[f"{name}_mean"], summary[f"{name}_std"], summary.seeds)]
    return pd.DataFrame({
        model_header: summary.ran, "data": summary.task + " (" + summary.source + ")", "variant": summary.label,
        "seeds": summary.seeds, header: stat(metric), "final training loss": stat("train_loss", 3),
        "final validation loss": stat("val_loss", 3), "highest validation loss": summary.val_loss_peak.round(2),
        "training time, all seeds (s)": summary.wall_s.round(0)})



# -- the paper's column beside ours -----------------------------------------------------------------

NOT_RUN = "not run in this profile"


def paper_columns(paper: str, ref: str, model: str, quantity: str, datasets: Sequence[str],
                  summary: pd.DataFrame, commands: dict[str, str], digits: int = 2) -> pd.DataFrame:
    """One row per variant the paper prints (``ref``, ``model``), per data set two columns: the
    paper's value (quoted) and ours (mean ± std over seeds, with n; scaled-down unless the paper's
    setting ran), or "not run in this profile" where this profile did not train it. A last row
    gives, per data set, the command that runs its column."""
    from ..paper import load_values

    published = load_values(paper, ref=ref, model=model, quantity=quantity)
    published = published.assign(vtext=[scheme_text(s, None if pd.isna(k) else int(k))
                                         for s, k in zip(published.scheme, published.k)])
    variants = list(dict.fromkeys(published.vtext))
    mine = summary[summary.model == model] if len(summary) else summary
    rows = []
    for variant in variants:
        row = {"variant": _label(model, variant)}
        for ds in datasets:
            p = published[(published.dataset == ds) & (published.vtext == variant)]
            row[f"{ds}: paper (quoted)"] = p.value_text.iloc[0] if len(p) else "—"
            ours = mine[(mine.variant == variant) & (mine.task.map(lambda t: dataset_name(paper, t)) == ds)] \
                if len(mine) else mine
            if len(ours):
                o = ours.iloc[0]
                row[f"{ds}: ours"] = value_text(o[f"{quantity}_mean"], o[f"{quantity}_std"], int(o.seeds), digits)
            else:
                row[f"{ds}: ours"] = NOT_RUN
        rows.append(row)
    how = {"variant": "to run a column"}
    for ds in datasets:
        how[f"{ds}: paper (quoted)"] = ""
        how[f"{ds}: ours"] = commands.get(ds, PAPER_PROFILE_COMMAND)
    rows.append(how)
    return pd.DataFrame(rows)


def _label(model: str, variant: str) -> str:
    """The variant as the paper of ``model`` (a values.csv model key) writes it."""
    return ModelSpec(model, variant).label
