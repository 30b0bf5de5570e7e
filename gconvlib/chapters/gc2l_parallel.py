"""GC-2L chapter: Table 2, GC-2L split over processors with ``torch.distributed``.

* **Parameters** (exact): totals of WRN-28-k (k = 40, 60, 80) with SC on 1 processor and GC-2L
  with g = P on P = 2, 4 processors, as printed; and what each rank of the group-parallel model
  (:mod:`gconvlib.parallel.model`) holds, counted on the sharded modules built on the meta
  device, checked to add up to the total (the classifier is the only replicated part).
* **Step time** (measured here, scaled-down): one training step of SC on one process and of
  GC-2L g = P on P processes (gloo on CPUs, NCCL on GPUs), at narrower widths standing in for
  k = 40, 60, 80, with the time inside the collectives (communication) apart from the rest
  (computation), and the communication volume per step (exact, from the layer shapes; the
  measurement counts the same elements).
* **Cost model** fitted to those steps, predicting the step time (and the 200-epoch wall clock)
  for the paper's P and k beside the paper's wall clock: *model-predicted*, with its assumptions.
* **Error** (scaled-down): SC and GC-2L trained by the one training loop at the same narrow
  widths, several seeds, beside the paper's error column.

Which widths stand in for which: the i-th of ``widths`` for the i-th of k = 40, 60, 80.
"""
from __future__ import annotations

import math

import pandas as pd

from .. import paper as paper_values
from ..complexity import count_spec, per_processor_params
from ..models import ModelSpec
from ..store import ResultsStore
from ._base import EXACT, MEASURED_HERE, QUOTED, SCALED, ChapterResult
from ._claims import judge_chapter

NAME = "gc2l_parallel"
PAPER_K = (40, 60, 80)
PROCESSORS = (1, 2, 4)
PAPER_BATCH, PAPER_EPOCHS, PAPER_STEPS_PER_EPOCH = 128, 200, 391   # CIFAR-10: 50,000 / 128
BENCH_KIND = "parallel_step"


def variant(p: int) -> str:
    """Table 2's variant on P processors: SC on one, GC-2L with g = P on more."""
    return "standard" if p == 1 else f"gc2l:{p}"


def stand_in(widths, k: int) -> int | None:
    """The narrow width standing in for the paper's k (the i-th width for the i-th k)."""
    widths = list(widths)
    i = PAPER_K.index(k)
    return widths[i] if i < len(widths) else None


# -- the training runs (also listed by ``gconv plan``) ---------------------------------------------

def train_specs(widths=(1, 2, 3), processors=PROCESSORS, seeds=(0, 1, 2), epochs: int | None = 2,
                limit: int | None = 128, image_size: int | None = 16, batch_size: int | None = 32,
                data: str = "auto"):
    from ..train import TrainSpec

    return [TrainSpec(model=f"wrn28_{w}/{variant(p)}", task="cifar10", data_mode=data, image_size=image_size,
                      limit=limit, epochs=epochs, batch_size=batch_size, seed=s)
            for w in widths for p in processors for s in seeds]


def plan_specs(params: dict):
    """The training runs of this chapter for a profile's notebook parameters (``gconv plan``)."""
    keys = ("widths", "seeds", "epochs", "limit", "image_size", "batch_size", "data")
    return train_specs(**{k: params[k] for k in keys if k in params})


# -- parameters ---------------------------------------------------------------------------------

def parameter_table(store: ResultsStore | None = None) -> tuple[pd.DataFrame, list[dict]]:
    from ..parallel.model import held_parameters, replicated_parameters

    printed = paper_values.load_values("gc2l", ref="Table 2", quantity="params")
    rows, evidence = [], []
    for k in PAPER_K:
        for p in PROCESSORS:
            spec = ModelSpec(f"wrn28_{k}/{variant(p)}")
            total = count_spec(spec, store)["params"]
            held = held_parameters(spec, p)
            replicated = replicated_parameters(spec, p) if p > 1 else 0
            formula = per_processor_params(spec.build("meta"), spec.k or 1)
            cell = printed[(printed.model == f"wrn28_{k}") & (printed.k == p)]
            rows.append({"k": k, "processors": p, "variant": spec.label,
                         "Params (M), paper (quoted)": cell.value_text.iloc[0] if len(cell) else None,
                         "Params (M), ours (exact)": round(total / 1e6, 1),
                         "per processor (M, sharded model, exact)": round(held[0] / 1e6, 2),
                         "per processor (M, BN replicated)": round(formula / 1e6, 2),
                         "ranks agree": len(set(held)) == 1,
                         "ranks add up": sum(held) - (p - 1) * replicated == total})
            common = dict(model=f"wrn28_{k}", variant=spec.scheme, std=math.nan, n=1, kind=EXACT, spec=spec.text)
            evidence += [dict(common, quantity="params", value=float(total),
                              source="counted on the model (hooks), BN included"),
                         dict(common, quantity="params_per_processor", value=float(held[0]),
                              source=f"held by each of the {p} ranks of the group-parallel model (meta device)")]
    return pd.DataFrame(rows), evidence


def comm_table(batch: int = PAPER_BATCH) -> tuple[pd.DataFrame, list[dict]]:
    """Table 2's communication per step (exact), and GC-2L vs channel shuffle (WRN-28-10)."""
    from ..parallel.cost import comm_volume, gc2l_sent_total, shuffle_comm_volume

    rows = []
    for k in PAPER_K:
        for p in PROCESSORS[1:]:
            c = comm_volume(ModelSpec(f"wrn28_{k}/gc2l:{p}"), batch, p)
            rows.append({"k": k, "processors": p, "all-gathered per rank (M elements)": c["all_gather"] / 1e6,
                         "reduce-scattered per rank (M elements)": c["reduce_scatter"] / 1e6,
                         "all-reduced per rank (M elements)": c["all_reduce"] / 1e6,
                         "MB per rank (fp32)": c["bytes"] / 1e6, "collectives per step": c["collectives"],
                         "sent between processes (M elements)": c["sent_total"] / 1e6})
    evidence = []
    for g in (2, 4, 8, 16):
        for kind, value in (("gc2l", gc2l_sent_total(ModelSpec(f"wrn28_10/gc2l:{g}"), batch)),
                            ("shuffle", shuffle_comm_volume(ModelSpec(f"wrn28_10/shuffle:{g}"), batch)["sent_total"])):
            evidence.append(dict(model="wrn28_10", variant=f"{kind}:{g}", quantity="comm_volume", value=float(value),
                                 std=math.nan, n=1, kind=EXACT, batch_size=batch, spec=f"wrn28_10/{kind}:{g}",
                                 source=f"elements sent between the {g} processes per training step (one group "
                                        f"each), from the layer shapes"))
    return pd.DataFrame(rows), evidence


def memory_table(batch: int = PAPER_BATCH) -> tuple[pd.DataFrame, list[dict]]:
    from ..parallel.cost import training_memory

    rows, evidence = [], []
    for k in PAPER_K:
        m = training_memory(ModelSpec(f"wrn28_{k}/standard"), batch)
        rows.append({"k": k, "variant": "SC", "weights (GiB)": m["weights_bytes"] / 2 ** 30,
                     "gradients + momentum (GiB)": m["optimizer_bytes"] / 2 ** 30,
                     "saved activations (GiB)": m["activations_bytes"] / 2 ** 30,
                     "total (GiB)": m["total_bytes"] / 2 ** 30})
        evidence.append(dict(model=f"wrn28_{k}", variant="standard", quantity="peak_memory",
                             value=float(m["total_bytes"]), std=math.nan, n=1, kind=EXACT, batch_size=batch,
                             spec=f"wrn28_{k}/standard, batch {batch}, fp32 SGD with momentum",
                             source="weights, gradients, momentum and the activations autograd saves (meta device)"))
    return pd.DataFrame(rows), evidence


# -- step times -----------------------------------------------------------------------------------

def bench_configs(widths, time_procs, image_size: int, overhead_width: int | None) -> list[tuple[str, int]]:
    configs = []
    for w in widths:
        for p in time_procs:
            configs.append((f"wrn28_{w}/{variant(p)}/size={image_size}", p))
    if overhead_width is not None:   # GC vs GC-2L on the same processes (the abstract's claim)
        for p in [p for p in time_procs if p > 1]:
            for kind in ("gc2l", "gc"):
                c = (f"wrn28_{overhead_width}/{kind}:{p}/size={image_size}", p)
                if c not in configs:
                    configs.append(c)
    return configs


def bench_code() -> tuple[str, ...]:
    """The modules a stored step benchmark depends on: everything the bench imports, transitively
    (the model, its layers and their initialisation included), less the store that keeps it."""
    from ..fingerprint import dependency_closure

    return tuple(dependency_closure(["gconvlib.parallel.bench"], exclude=("gconvlib.store", "gconvlib.fingerprint")))


def measure(configs, batch: int, steps: int, trials: int, device: str, store: ResultsStore | None,
            profile: str) -> tuple[list[dict], bool]:
    """The measured steps (stored: a re-run with the same code and settings reads them back)."""
    from ..parallel.bench import measure_steps

    store = store or ResultsStore()
    spec = {"configs": [list(c) for c in configs], "batch": batch, "steps": steps, "trials": trials,
            "threads": 1, "device": device}
    record = store.get_or_compute(BENCH_KIND, spec, lambda: measure_steps(configs, batch=batch, steps=steps,
                                                                           trials=trials, device=device),
                                  profile, code=bench_code())
    return record["result"], record.get("cache_hit", False)


def _model_text(spec_text: str) -> str:
    """The variant without its input size (every bench runs one size, named in the notes)."""
    return ModelSpec.parse(spec_text).replace(input_size=None).text


def _width_and_kind(spec_text: str) -> tuple[int, str]:
    s = ModelSpec.parse(spec_text)
    return s.width, s.scheme


def step_table(measured: list[dict]) -> pd.DataFrame:
    from ..parallel.cost import step_work

    rows = []
    for m in measured:
        w, scheme = _width_and_kind(m["spec"])
        work = step_work(m["spec"], m["batch_size"], m["procs"])
        rows.append({"model": _model_text(m["spec"]), "processors": m["procs"],
                     "step (ms)": 1e3 * m["step_s"], "± std": 1e3 * m["step_s_std"],
                     "computation (ms)": 1e3 * m["compute_s"], "communication (ms)": 1e3 * m["comm_s"],
                     "communication share": m["comm_share"], "GMAC per rank": work["macs_per_rank"] / 1e9,
                     "collectives": m["counted_collectives"], "elements moved per rank": sum(m["counted_elements"].values()),
                     "as computed": sum(m["counted_elements"].values()) == work["comm_elements"],
                     "held params per rank": m["held_parameters"][0]})
    return pd.DataFrame(rows)


def step_evidence(measured: list[dict], widths, overhead_width: int | None, source: str) -> list[dict]:
    rows = []
    for m in measured:
        w, scheme = _width_and_kind(m["spec"])
        models = [f"wrn28_{k}" for k in PAPER_K if stand_in(widths, k) == w and scheme == variant(m["procs"])]
        if overhead_width == w and ModelSpec.parse(m["spec"]).kind in ("gc", "gc2l") and m["procs"] > 1:
            models.append("wrn28_10")
        for model in models:
            common = dict(model=model, variant=scheme, std=m["step_s_std"], n=m["trials"], kind=SCALED,
                          device=m["device"].split(":")[0], spec=f"{m['spec']}, {m['procs']} process(es), batch "
                          f"{m['batch_size']}", source=source)
            rows.append(dict(common, quantity="step_time", value=m["step_s"]))
            if model != "wrn28_10":   # Table 2's wall clock: the same schedule at every P -> ratio of step times
                rows.append(dict(common, quantity="wall_clock", value=m["step_s"],
                                 source=source + "; wall clock of one training step (every P runs the same "
                                                 "schedule, so training wall clocks have the ratios of step times)"))
    return rows


def prediction_table(model) -> pd.DataFrame:
    """Table 2's wall clock, the paper's beside the cost model's. The model is fitted on this machine's
    steps, so its hours are this machine's rate extrapolated to the paper's widths and schedule (the
    column says so): only its ratios can be set beside the paper's."""
    printed = paper_values.load_values("gc2l", ref="Table 2", quantity="wall_clock")
    rows = []
    for k in PAPER_K:
        prev = None
        for p in PROCESSORS:
            spec = ModelSpec(f"wrn28_{k}/{variant(p)}")
            pred = model.predict(spec, PAPER_BATCH, p)
            cell = printed[(printed.model == f"wrn28_{k}") & (printed.k == p)]
            paper_s = float(cell.value.iloc[0]) if len(cell) else math.nan
            wall = pred["step_s"] * PAPER_EPOCHS * PAPER_STEPS_PER_EPOCH
            rows.append({"k": k, "processors": p, "variant": spec.label,
                         "wall clock, paper (quoted, Titan RTX)": _hms(paper_s),
                         "step (s), model-predicted": pred["step_s"],
                         "communication share, model-predicted": pred["comm_s"] / pred["step_s"],
                         "wall clock, model-predicted at this machine's rate (200 epochs)": _hms(wall),
                         "ratio to P/2, paper": paper_s / prev[0] if prev else math.nan,
                         "ratio to P/2, model-predicted": pred["step_s"] / prev[1] if prev else math.nan})
            prev = (paper_s, pred["step_s"])
    return pd.DataFrame(rows)


def _hms(seconds: float) -> str:
    if not seconds or math.isnan(seconds):
        return "—"
    h, rest = divmod(int(round(seconds)), 3600)
    return f"{h}h {rest // 60:02d}m {rest % 60:02d}s"


# -- errors ---------------------------------------------------------------------------------------

def _sanity(records: list[dict]) -> str | None:
    """Why the runs of one stand-in width cannot decide anything (None when they can): one epoch,
    a training loss that did not fall, or test errors at chance level (nothing learned yet)."""
    curves = [r["result"]["curves"]["train_loss"] for r in records]
    if any(len(c) < 2 for c in curves):
        return "one epoch: no loss curve to check"
    if not all(c[-1] < c[0] for c in curves):
        return "training loss did not fall in every run"
    classes = records[0]["result"]["data"]["num_classes"]
    chance = 100 * (1 - 1 / classes)
    error = sum(100 * r["result"]["test"]["error"] for r in records) / len(records)
    if error > chance - 5:
        return (f"test error {error:.0f} % with {classes} classes (chance {chance:.0f} %): the runs learned "
                f"too little to compare variants")
    return None


def error_table(records: list[dict], widths) -> tuple[pd.DataFrame, list[dict]]:
    from ..train import summarize_runs

    summary = summarize_runs(records)
    printed = paper_values.load_values("gc2l", ref="Table 2", quantity="error")
    rows, evidence = [], []
    for k in PAPER_K:
        w = stand_in(widths, k)
        if w is None:
            continue
        width_runs = [r for r in records if r["result"]["variant"] in {f"wrn28_{w}/{variant(p)}" for p in PROCESSORS}]
        sanity = _sanity(width_runs) if width_runs else None
        for p in PROCESSORS:
            part = summary[summary.variant == f"wrn28_{w}/{variant(p)}"]
            cell = printed[(printed.model == f"wrn28_{k}") & (printed.k == p)]
            if not len(part):
                continue
            s = part.iloc[0]
            rows.append({"k": k, "processors": p, "variant": ModelSpec(f"wrn28_{k}/{variant(p)}").label,
                         "error (%), paper (quoted)": cell.value_text.iloc[0] if len(cell) else None,
                         "stand-in": f"WRN-28-{w}", "error (%), scaled-down": s.error_pct_mean,
                         "± std": s.error_pct_std, "seeds": int(s.seeds), "data": s.source, "epochs": int(s.epochs),
                         "sanity": sanity or "passed"})
            evidence.append(dict(model=f"wrn28_{k}", variant=variant(p), quantity="error", value=float(s.error_pct_mean),
                                 std=float(s.error_pct_std) if s.seeds > 1 else math.nan, n=int(s.seeds), kind=SCALED,
                                 dataset="CIFAR-10", sanity=sanity,
                                 spec=f"wrn28_{w}/{variant(p)}, {s.source} data, {int(s.epochs)} epochs",
                                 source="the training loop (gconvlib.train), scaled down"))
    return pd.DataFrame(rows), evidence


# -- the chapter ------------------------------------------------------------------------------------

def run(profile: str = "quick", widths=(1, 2, 3), seeds=(0, 1, 2), epochs: int | None = 2,
        limit: int | None = 128, image_size: int | None = 16, batch_size: int | None = 32, data: str = "auto",
        time_widths=None, time_procs=None, time_batch: int = 16, time_image_size: int = 32, time_steps: int = 2,
        time_trials: int = 3, overhead_width: int | None = None, device: str = "cpu", train: bool = True,
        store: ResultsStore | None = None) -> ChapterResult:
    """Table 2: parameters (exact), step times (measured here), the fitted cost model, errors."""
    r = ChapterResult.called(NAME, locals())   # first: the arguments as received (the timing note names the processes used)
    import time

    import torch

    from ..parallel.cost import CostModel, step_work
    from ..train import run_many
    from ..train.device import available_cpus

    t0 = time.perf_counter()
    store = store or ResultsStore()
    widths = list(widths)
    time_widths = list(time_widths) if time_widths is not None else widths
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    allowed = gpus if device == "cuda" else available_cpus()
    time_procs = list(time_procs) if time_procs is not None else [p for p in PROCESSORS if p <= max(1, allowed)]
    overhead_width = overhead_width if overhead_width is not None else time_widths[0]
    evidence = []

    params, ev = parameter_table(store)
    evidence += ev
    r.add_table("params", params, "Table 2, parameters: totals as printed (quoted) and counted (exact); per "
                "processor: what each rank of the group-parallel model holds (BN sharded with its channels, the "
                "classifier replicated) and the formula with BN and stem replicated (gconvlib.complexity)")

    comm, ev = comm_table()
    evidence += ev
    r.add_table("comm", comm, f"Communication of one training step at the paper's batch {PAPER_BATCH} (exact, from "
                "the layer shapes): GC-2L's all-gathers of the g representatives (and the pooled features), their "
                "reduce-scatters backward, the classifier's gradient all-reduce")

    memory, ev = memory_table()
    evidence += ev
    r.add_table("memory", memory, f"Memory of one SGD training step of SC at batch {PAPER_BATCH} in fp32 (exact, "
                "counted on the meta device): why SC did not fit one 24 GB GPU at two of the widths")

    # step times: measured here (spawned processes, 1 thread each: P processes = P processors)
    configs = bench_configs(time_widths, time_procs, time_image_size, overhead_width)
    measured, cached = measure(configs, time_batch, time_steps, time_trials, device, store, profile)
    where = f"{device}, {measured[0]['backend'] or 'one process'}" if measured else device
    r.notes["timing"] = (f"{len(measured)} configurations, {time_trials} trials of {time_steps} steps at batch "
                         f"{time_batch}, {time_image_size} px, one {'GPU' if device == 'cuda' else 'CPU thread'} per "
                         f"process ({'read from the store' if cached else 'measured now'}; processes this machine "
                         f"allows: {', '.join(map(str, time_procs))}).")
    r.add_table("steps", step_table(measured), "One training step, measured here (scaled-down widths): computation "
                "vs communication (time inside the collectives); elements moved per rank counted during the run and "
                "checked against the count from the layer shapes")
    source = f"measured here ({where}), gconvlib.parallel.bench"
    evidence += step_evidence(measured, time_widths, overhead_width, source)

    rows = [{**step_work(m["spec"], m["batch_size"], m["procs"]), "compute_s": m["compute_s"], "comm_s": m["comm_s"]}
            for m in measured]
    model = CostModel.fit(rows)
    r.data["cost_model"] = model
    r.notes["cost_model"] = "**Cost model.** " + model.describe() + ". Assumptions: " + "; ".join(model.assumptions) + "."
    r.add_table("predicted", prediction_table(model), "Table 2's wall clock: the paper's (quoted, Titan RTX GPUs) "
                f"beside the cost model's prediction, which extrapolates this machine's measured rate ({where}) to "
                "the paper's widths and 200 epochs: hours of this machine, not of the paper's GPUs, so compare the "
                "ratios, not the hours (model-predicted; see the assumptions)")
    r.add_table("ratios", ratio_table(measured, model, time_widths),
                "Step time when P doubles: measured here (scaled-down, the verdicts use these) and model-predicted "
                "at the paper's widths, beside the paper's ratios and the text's 'about half' / 'almost a third'")

    records = []
    if train:
        records = run_many(train_specs(widths, PROCESSORS, seeds, epochs, limit, image_size, batch_size, data),
                           store=store, progress="auto", profile=profile)
        errors, ev = error_table(records, widths)
        evidence += ev
        r.add_table("errors", errors, "Table 2's error column (quoted) beside SC and GC-2L trained here at the "
                    "stand-in widths (scaled-down: stand-in or subset data, few epochs, mean ± std over seeds)")
        from ._evidence import scaling_note

        r.notes["scaling"] = scaling_note(records)
    r.figures["steps"] = lambda: step_figure(measured)
    r.figures["ratios"] = lambda: ratio_figure(r.tables["ratios"])
    judge_chapter(r, pd.DataFrame(evidence), store)
    r.data["seconds"] = time.perf_counter() - t0
    return r


def ratio_table(measured: list[dict], model, widths) -> pd.DataFrame:
    printed = paper_values.load_values("gc2l", ref="Table 2", quantity="wall_clock")
    by = {(_width_and_kind(m["spec"]), m["procs"]): m for m in measured}
    rows = []
    text = {40: "about half", 60: "almost a third", 80: "almost a third"}
    for k in PAPER_K:
        w = stand_in(widths, k)
        for p0, p1 in ((1, 2), (2, 4)):
            a = by.get(((w, variant(p1)), p1))
            b = by.get(((w, variant(p0)), p0))
            pa = printed[(printed.model == f"wrn28_{k}") & (printed.k == p1)].value
            pb = printed[(printed.model == f"wrn28_{k}") & (printed.k == p0)].value
            pred = (model.predict(ModelSpec(f"wrn28_{k}/{variant(p1)}"), PAPER_BATCH, p1)["step_s"]
                    / model.predict(ModelSpec(f"wrn28_{k}/{variant(p0)}"), PAPER_BATCH, p0)["step_s"])
            rows.append({"k": k, "P": f"{p0} -> {p1}", "text says": text[k],
                         "paper (quoted)": float(pa.iloc[0] / pb.iloc[0]) if len(pa) and len(pb) else math.nan,
                         "stand-in": f"WRN-28-{w}" if w else "—",
                         "measured here (scaled-down)": a["step_s"] / b["step_s"] if a and b else math.nan,
                         "model-predicted (paper's k, batch 128)": pred})
    return pd.DataFrame(rows)


def step_figure(measured: list[dict]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    labels = [f"{_model_text(m['spec'])}\nP = {m['procs']}" for m in measured]
    comp = [1e3 * m["compute_s"] for m in measured]
    comm = [1e3 * m["comm_s"] for m in measured]
    ax.bar(labels, comp, label="computation")
    ax.bar(labels, comm, bottom=comp, label="communication (inside collectives)")
    ax.set_ylabel("ms per training step")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=8)
    ax.set_title("One training step, measured here (scaled-down widths)")
    fig.tight_layout()
    return fig


def ratio_figure(table: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    x = range(len(table))
    labels = [f"k={k}\n{p}" for k, p in zip(table.k, table.P)]
    width = 0.27
    for i, (col, name) in enumerate((("paper (quoted)", "paper (Titan RTX)"),
                                     ("measured here (scaled-down)", "measured here (stand-in widths)"),
                                     ("model-predicted (paper's k, batch 128)", "model-predicted"))):
        ax.bar([j + (i - 1) * width for j in x], table[col], width, label=name)
    ax.axhline(0.25, color="grey", ls=":", lw=1)
    ax.text(len(table) - 0.5, 0.26, "ideal 1/4", fontsize=7, ha="right", color="grey")
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylabel("step time after / before")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["NAME", "run", "plan_specs", "train_specs", "parameter_table", "comm_table", "measure", "MEASURED_HERE",
           "QUOTED"]
