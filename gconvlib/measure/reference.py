"""The GPU reference results in one short, resumable command: ``gconv reference``.

::

    python -m gconvlib.cli reference --device cuda --budget-s 480 --out data/results/reference/
    python -m gconvlib.cli reference --device cpu --smoke      # the dry run: every part, tiny sizes

Parts, in priority order (each cell is one results-store record under ``--out``, written as soon
as it is measured; a second call measures only what is missing, and a part's CSV per experiment
and device is rewritten after the part):

1. environment and meter check: device, driver, torch, counter readable (its update period and
   read cost), active-idle power, a CUDA-graph capture check (run every call; a record per call);
2. E2GC MobileNet-V1 EPF: 11 variants x B = 1, 4, 16, CUDA-graph step (33 cells);
3. VGG13-BN inference latency: baseline and schemes A-E, B = 1 and 4;
4. GC-2L coarse-path overhead: WRN-28-10, g = 2..16, GC vs GC-2L fused and unfused, B = 128 (12
   cells), and the share of conv time in a training step of the GC-2L paper's standard networks;
5. E2GC ResNeXt-50 EPF: 11 variants x B = 1, 4, 16 (33 cells);
6. training throughput: the training loop against a plain eager fp32 loop (``gconv bench train``'s
   :func:`~gconvlib.train.bench.benchmark_training`);
7. a paper-style eager subset: MobileNet-V1 G = 1, G = 32, g = 8 at B = 1, 4, 16;
8. extras when budget is left: step time of SC, Shuffle, FLGC on WRN-28-10 and of every scheme on
   MobileNetV2 (GC-2L Tables 3-4), VGG13-BN training steps at B = 20 (VGG Sec. 5.2).

The plan (cells, already stored, estimated seconds per part) is printed first; a part, or a
group of cells, starts only if its estimate fits in what is left of ``--budget-s``, counted from
the start of the process (torch's import and CUDA's start-up are inside the call's limit too) less
a reserve for the end; estimates are scaled by the pace observed so far in the call (set-up and
autotuning included), so part 2 teaches part 5. When a cell does not fit the command stops cleanly
and says so, and running it again continues there. Each cell is stored as it finishes and each EPF
trial is journalled as it ends, so a kill loses at most the trial in progress. A cell that fails
is stored as a value (``failed: ...``) and the run goes on; when part 1's CUDA-graph capture check
fails, the graph-mode EPF tasks are skipped (not stored as failed) until a later call. The import path needs only torch, numpy, pandas,
pyyaml, tqdm, filelock (a dependency of torch) and nvidia-ml-py: no papermill, pooch or
jupyter-book (``tests/test_reference.py`` runs the dry run with everything else made unimportable).
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..store import REFERENCE_DIR, ResultsStore, results_dir
from . import experiments as X
from .latency import LatencyCell, LatencyProtocol, measure_latency
from .profile import ConvShareCell, measure_conv_share
from .envcheck import check_environment, graph_capture_failed, say_environment
from .protocol import (EpfCell, EpfProtocol, cuda_identity, device_name, environment, failure_text, measuring,
                       resolve_device, utc_now)
from .records import (CONV_SHARE, ENVIRONMENT, EPF, LATENCY, MEASURE_MODULES, TRAIN_BENCH, Budget, Journal, Pace,
                      export_csv, failed, run_cells)

COMMAND = "python -m gconvlib.cli reference --device cuda --budget-s 480 --out data/results/reference/"
#: seconds kept back at the end of the budget, which counts from the process's start: the last
#: CSVs, the summary and closing the meter. 480 s of a 600 s call leave two minutes for the copy
#: of the results off the machine.
RESERVE_S = 20.0


# -- cells that are not model measurements -----------------------------------------------------

@dataclass(frozen=True)
class TrainBenchCell:
    """One ``gconv bench train`` measurement: a model variant on a (stand-in) data set."""

    model: str
    task: str = "cifar10"
    data_mode: str = "standin"
    limit: int | None = 2560
    batch_size: int | None = None
    steps: int = 10
    warmup: int = 3
    rounds: int = 3

    @property
    def label(self) -> str:
        return f"{self.model} on {self.task} ({self.data_mode}), {self.rounds} x {self.steps} steps"

    def key(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EnvironmentCell:
    """Part 1: the check of this call (one record per call)."""

    started: str
    graph_check: str = "mobilenet_v1/e2gc:32/size=64"

    @property
    def label(self) -> str:
        return f"environment check of the call started {self.started}"

    def key(self) -> dict:
        return asdict(self)


# -- the plan ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizes:
    """What each part measures: the paper's sizes, or tiny ones for the CPU dry run (``smoke``)."""

    e2gc_variants: tuple = X.E2GC_VARIANTS
    e2gc_batch_sizes: tuple = X.E2GC_BATCH_SIZES
    e2gc_input_size: int | None = None
    resnext_variants: tuple = X.E2GC_VARIANTS
    resnext_batch_sizes: tuple = X.E2GC_BATCH_SIZES
    vgg_variants: tuple = X.VGG_VARIANTS
    vgg_batch_sizes: tuple = (1, 4)
    vgg_fields: dict = field(default_factory=dict)
    gc2l_width: int = 10
    gc2l_batch: int = X.GC2L_BATCH
    gc2l_groups: tuple = X.GC2L_GROUPS
    conv_share_models: tuple = ("wrn28_10", "wrn34_2", "mobilenet_v2")
    conv_share_batch: int = 64
    conv_share_input_size: int | None = None
    train_bench: tuple = (TrainBenchCell("wrn28_10/gc2l:4"),)
    eager_variants: tuple = ("e2gc:1", "e2gc:32", "gc:8")
    eager_batch_sizes: tuple = X.E2GC_BATCH_SIZES
    comparison_mobilenet_v2: bool = True
    comparison_wrn_groups: tuple = X.GC2L_GROUPS
    comparison_input_size: int | None = None
    vgg_train_variants: tuple = X.VGG_VARIANTS
    vgg_train_batch: int = 20
    epf: EpfProtocol = EpfProtocol()
    eager: EpfProtocol = EpfProtocol(mode="eager")
    latency: LatencyProtocol = LatencyProtocol(repeats=30, warmup=5)
    conv_share_steps: int = 3
    threads: int | None = None


PAPER_SIZES = Sizes()
_TINY_EPF = EpfProtocol(warmup_steps=1, window_s=0.02, min_trials=2, max_trials=2, idle_s=0.02, idle_settle_s=0.0,
                        calibration_s=0.005, chunk_s=0.005, align_timeout_s=0.05)
SMOKE_SIZES = Sizes(
    e2gc_variants=("e2gc:1", "e2gc:32", "gc:8"), e2gc_batch_sizes=(1, 2), e2gc_input_size=64,
    resnext_variants=("e2gc:32", "gc:32"), resnext_batch_sizes=(1,),
    vgg_variants=("baseline", "E"), vgg_batch_sizes=(1,),
    vgg_fields=dict(input_size=32, num_classes=10, width_mult=0.125),
    gc2l_width=1, gc2l_batch=2, gc2l_groups=(2,),
    conv_share_models=("wrn28_1",), conv_share_batch=2,
    train_bench=(TrainBenchCell("wrn28_1/gc:2", limit=32, batch_size=8, steps=1, warmup=0, rounds=1),),
    eager_variants=("e2gc:32",), eager_batch_sizes=(1,),
    comparison_mobilenet_v2=False, comparison_wrn_groups=(2,), vgg_train_variants=("A",), vgg_train_batch=2,
    epf=_TINY_EPF, eager=replace(_TINY_EPF, mode="eager"), latency=LatencyProtocol(repeats=2, warmup=1),
    conv_share_steps=1, threads=1)


#: a-priori seconds to set up one EPF cell (build, warm-up with cuDNN autotuning, capture,
#: calibration) on an H100/H200, by architecture; the run replaces them with what it observes
SETUP_S = {"mobilenet_v1": 0.6, "resnext50": 1.0, "wrn28": 1.5, "mobilenet_v2": 1.2, "vgg13_bn": 1.5}
TRIAL_OVERHEAD_S = 0.1    # aligning a window's two ends (half an update period each), reads, telemetry


def epf_cell_seconds(cell: EpfCell, protocol: EpfProtocol, smoke: bool = False) -> float:
    setup = 0.3 if smoke else SETUP_S.get(cell.spec.model, 2.0)
    window = protocol.window_s + (0.0 if smoke else TRIAL_OVERHEAD_S)
    return setup + protocol.min_trials * window


@dataclass
class Task:
    """Cells of one store kind inside a part, and how to measure, key and estimate them."""

    kind: str
    experiment: str               # CSV: <experiment>_<device>.csv
    cells: list
    measure: Callable[[list, Callable], Any]
    spec_of: Callable[[Any], dict]
    code_of: Callable[[Any], Sequence[str]]
    estimate_s: Callable[[Any], float]
    group_of: Callable[[Any], Any] = lambda c: None
    always: bool = False          # measured on every call (the environment check)
    needs_graphs: bool = False    # skipped when part 1's CUDA-graph capture check failed


@dataclass
class Part:
    number: int
    title: str
    tasks: list


@dataclass
class Context:
    """What every part of one call shares."""

    device: str
    device_name: str
    smoke: bool
    sizes: Sizes
    meter: Any = None
    idle_power_w: float | None = None
    idle_note: str | None = None           # why idle power is unknown, once part 1 has tried
    log: Callable[[str], Any] = print
    started: str = ""
    store: Any = None
    pace: Pace = field(default_factory=Pace)
    counter_read_s: float | None = None    # part 1's measurement: sizes the queue of every window
    graph_capture: str | None = None       # part 1's CUDA-graph capture check


def _threads(ctx: Context) -> int:
    """The CPU threads a measurement runs with (what a CPU result depends on)."""
    return ctx.sizes.threads or torch.get_num_threads()


def _epf_spec(ctx: Context, protocol: EpfProtocol):
    def spec_of(cell: EpfCell) -> dict:
        knobs = protocol.as_dict()
        mode = knobs.pop("mode")
        spec = {**cell.key(), "device": ctx.device_name, "mode": mode, "protocol": knobs}
        if ctx.device == "cpu":
            spec["threads"] = _threads(ctx)
        return spec
    return spec_of


def _model_code(kind: str):
    def code_of(cell) -> tuple:
        return tuple(sorted({*cell.spec.code_modules(), *MEASURE_MODULES[kind]}))
    return code_of


def by_model_and_batch(cell) -> tuple:
    """E2GC: the 11 variants of one model and batch size are compared with each other: one group."""
    return cell.spec.model, cell.spec.width, cell.batch_size


def by_groups(cell) -> tuple:
    """GC-2L: the variants at one g are compared with each other (and WRN-28-10 at batch 128 needs
    ~8 GB per captured step: a group of 12 would not fit on an 80 GB GPU)."""
    return cell.spec.model, cell.spec.width, cell.batch_size, cell.spec.k


def epf_task(ctx: Context, experiment: str, cells: list, protocol: EpfProtocol,
             group_of: Callable[[Any], Any] = by_model_and_batch) -> Task:
    spec_of, code_of = _epf_spec(ctx, protocol), _model_code(EPF)

    def measure(chunk, on_result):
        from .protocol import measure_epf

        if ctx.store is None:     # no store to journal beside: a killed call loses its group
            measure_epf(chunk, protocol, ctx.device, meter=ctx.meter, on_result=on_result,
                        idle_power_w=ctx.idle_power_w, idle_note=ctx.idle_note, counter_read_s=ctx.counter_read_s,
                        threads=ctx.sizes.threads, log=ctx.log)
            return
        journal = Journal(Path(ctx.store.root) / "journal" / f"{EPF}.jsonl")
        keys = {c: ctx.store.key(EPF, spec_of(c), code=code_of(c)) for c in chunk}

        def stored(cell, result):
            on_result(cell, result)
            journal.drop(keys[cell])

        measure_epf(chunk, protocol, ctx.device, meter=ctx.meter, on_result=stored,
                    idle_power_w=ctx.idle_power_w, idle_note=ctx.idle_note, counter_read_s=ctx.counter_read_s,
                    threads=ctx.sizes.threads, log=ctx.log, on_trial=lambda c, t: journal.add(keys[c], t),
                    resume={c: journal.trials(k) for c, k in keys.items()})

    return Task(EPF, experiment, cells, measure, spec_of, code_of, lambda c: epf_cell_seconds(c, protocol, ctx.smoke),
                group_of=group_of, needs_graphs=protocol.mode == "graph")


def latency_task(ctx: Context, cells: list) -> Task:
    protocol = ctx.sizes.latency

    def measure(chunk, on_result):
        measure_latency(chunk, protocol, ctx.device, on_result, threads=ctx.sizes.threads, log=ctx.log)

    def spec_of(cell: LatencyCell) -> dict:
        spec = {**cell.key(), "device": ctx.device_name, "protocol": protocol.as_dict()}
        if ctx.device == "cpu":
            spec["threads"] = _threads(ctx)
        return spec

    def estimate(cell: LatencyCell) -> float:
        return 0.2 if ctx.smoke else 1.0 + (protocol.repeats + protocol.warmup) * 0.003 * cell.batch_size

    return Task(LATENCY, "vgg_latency", cells, measure, spec_of, _model_code(LATENCY), estimate,
                group_of=by_model_and_batch)  # the variants compared at one batch size, timed interleaved;
                                              # stored together when the group ends


def conv_share_task(ctx: Context, cells: list) -> Task:
    steps = ctx.sizes.conv_share_steps

    def measure(chunk, on_result):
        measure_conv_share(chunk, ctx.device, steps=steps, warmup=2, on_result=on_result,
                           threads=ctx.sizes.threads, log=ctx.log)

    def spec_of(cell: ConvShareCell) -> dict:
        return {**cell.key(), "device": ctx.device_name, "steps": steps}

    return Task(CONV_SHARE, "gc2l_conv_share", cells, measure, spec_of, _model_code(CONV_SHARE),
                lambda c: 0.5 if ctx.smoke else 2.5)


def train_bench_task(ctx: Context, cells: list) -> Task:
    def measure(chunk, on_result):
        from ..train.bench import benchmark_training
        from ..train.spec import TrainSpec

        for cell in chunk:
            try:
                spec = TrainSpec(model=cell.model, task=cell.task, data_mode=cell.data_mode, limit=cell.limit,
                                 batch_size=cell.batch_size)
                with measuring(ctx.device, None, ctx.sizes.threads):
                    out = benchmark_training(spec, steps=cell.steps, warmup=cell.warmup, device=ctx.device,
                                             rounds=cell.rounds)
                result = {"status": "ok", **out, **environment(ctx.device), "measured_at": utc_now()}
                ctx.log(f"{cell.label}: this loop {out['loop_images_per_s']:.1f} img/s, plain "
                        f"{out['plain_images_per_s']:.1f} img/s ({out['speedup']:.2f}x)")
            except Exception as exc:  # noqa: BLE001
                result = {"status": failure_text(exc), "measured_at": utc_now()}
                ctx.log(f"{cell.label}: {result['status']}")
            on_result(cell, result)

    def code_of(cell: TrainBenchCell) -> tuple:
        from ..models.spec import ModelSpec

        return tuple(sorted({*ModelSpec.parse(cell.model).code_modules(), *MEASURE_MODULES[TRAIN_BENCH]}))

    return Task(TRAIN_BENCH, "train_bench", cells, measure,
                lambda c: {**c.key(), "device": ctx.device_name}, code_of,
                lambda c: 5.0 if ctx.smoke else 15.0)


def environment_task(ctx: Context) -> Task:
    cell = EnvironmentCell(ctx.started)

    def measure(chunk, on_result):
        on_result(cell, check_environment(ctx, cell))

    epf = ctx.sizes.epf   # counter check, graph check (a build and capture), rest, idle window
    return Task(ENVIRONMENT, "environment", [cell], measure,
                lambda c: {**c.key(), "device": ctx.device_name}, lambda c: MEASURE_MODULES[ENVIRONMENT],
                lambda c: 0.5 if ctx.smoke else 0.6 + 3.0 + epf.idle_settle_s + epf.idle_s + 0.5, always=True)


def plan(ctx: Context) -> list[Part]:
    """The eight parts with their cells for this context's sizes."""
    s = ctx.sizes
    e2gc = X.e2gc_cells(["mobilenet_v1"], s.e2gc_batch_sizes, s.e2gc_variants, s.e2gc_input_size)
    resnext = X.e2gc_cells(["resnext50"], s.resnext_batch_sizes, s.resnext_variants, s.e2gc_input_size)
    vgg = X.vgg_latency_cells(s.vgg_batch_sizes, s.vgg_variants, **s.vgg_fields)
    overhead = X.gc2l_overhead_cells(s.gc2l_width, s.gc2l_batch, s.gc2l_groups)
    share = X.conv_share_cells(s.conv_share_models, s.conv_share_batch, s.conv_share_input_size)
    eager = X.e2gc_cells(["mobilenet_v1"], s.eager_batch_sizes, s.eager_variants, s.e2gc_input_size)
    comparison = X.gc2l_comparison_cells(s.gc2l_batch, s.comparison_wrn_groups, width=s.gc2l_width,
                                         mobilenet_v2=s.comparison_mobilenet_v2, input_size=s.comparison_input_size)
    vgg_train = X.vgg_train_cells(s.vgg_train_variants, s.vgg_train_batch, **s.vgg_fields)
    return [
        Part(1, "environment and meter check", [environment_task(ctx)]),
        Part(2, "E2GC MobileNet-V1 EPF, CUDA-graph step", [epf_task(ctx, "e2gc_epf", e2gc, s.epf)]),
        Part(3, "VGG13-BN inference latency", [latency_task(ctx, vgg)]),
        Part(4, "GC-2L coarse-path overhead (WRN-28-10) and conv time share",
             [epf_task(ctx, "gc2l_overhead", overhead, s.epf, by_groups), conv_share_task(ctx, share)]),
        Part(5, "E2GC ResNeXt-50 EPF, CUDA-graph step", [epf_task(ctx, "e2gc_epf", resnext, s.epf)]),
        Part(6, "training throughput: training loop vs plain eager fp32 loop",
             [train_bench_task(ctx, list(s.train_bench))]),
        Part(7, "paper-style eager subset (MobileNet-V1)", [epf_task(ctx, "e2gc_epf_eager", eager, s.eager)]),
        Part(8, "extras: GC-2L comparison schemes, VGG13-BN training steps",
             [epf_task(ctx, "gc2l_comparison", comparison, s.epf, by_groups),
              epf_task(ctx, "vgg_train_step", vgg_train, s.epf)]),
    ]


# -- the command ------------------------------------------------------------------------------

@dataclass
class PartReport:
    number: int
    title: str
    cells: int
    stored: int
    estimate_s: float
    measured: int = 0
    failed: int = 0
    seconds: float = 0.0
    stopped: bool = False
    skipped: bool = False         # a graph-mode task skipped after a failed capture check
    csv: list = field(default_factory=list)


def _pending(store: ResultsStore, task: Task, retry_failed: bool) -> list:
    out = []
    for cell in task.cells:
        if task.always:
            out.append(cell)
            continue
        record = store.get(task.kind, task.spec_of(cell), code=task.code_of(cell))
        if record is None or (retry_failed and failed(record["result"])):
            out.append(cell)
    return out


def run_reference(device: str = "cuda", budget_s: float | None = 480.0, out: Path | str | None = None, *,
                  smoke: bool = False, parts: Sequence[int] | None = None, retry_failed: bool = False,
                  meter=None, plan_only: bool = False, sizes: Sizes | None = None,
                  make_plan: Callable[[Context], list[Part]] = plan, clock: Callable[[], float] = time.monotonic,
                  log: Callable[[str], Any] | None = None, reserve_s: float = RESERVE_S) -> list[PartReport]:
    """Run the reference parts (see the module doc); returns what each part did.

    ``out``: the store root (default ``data/results/reference/`` on a GPU; for a CPU run or a dry
    run ``<results>/reference-dryrun``: CPU numbers and tiny sizes never go into the reference). ``parts``: only
    these part numbers. ``meter``: the energy meter (default: the best one for the device).
    ``plan_only``: print the plan and measure nothing. ``clock``/``make_plan`` are for tests.
    The budget counts from the start of the process and keeps ``reserve_s`` for the end.
    """
    say = log or (lambda msg: print(msg, flush=True))
    try:
        device = resolve_device(device)
        name = device_name(device)
    except ValueError:
        if not plan_only:
            raise
        name = "not available on this machine"
    reference_run = device.startswith("cuda") and not smoke
    if out is None:
        out = REFERENCE_DIR if reference_run else results_dir() / "reference-dryrun"
    out = Path(out)
    if not reference_run and out.resolve() == REFERENCE_DIR.resolve():
        raise ValueError(f"{out} holds GPU reference results at the papers' sizes; a "
                         f"{'dry run' if smoke else device + ' run'} writes elsewhere (give --out)")
    store = ResultsStore(out)
    budget = Budget.from_process_start(budget_s, clock, reserve_s=reserve_s if budget_s is not None else 0.0)
    ctx = Context(device, name, smoke, sizes or (SMOKE_SIZES if smoke else PAPER_SIZES), log=say,
                  started=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), store=store)
    chosen = make_plan(ctx)
    if parts:
        unknown = sorted(set(parts) - {p.number for p in chosen})
        if unknown:
            raise ValueError(f"unknown part(s) {unknown}; parts are {', '.join(str(p.number) for p in chosen)}")
        chosen = [p for p in chosen if p.number in parts or p.number == 1]

    reports = []
    for p in chosen:
        todo = [(t, _pending(store, t, retry_failed)) for t in p.tasks]
        cells = sum(len(t.cells) for t in p.tasks)
        stored = sum(len(t.cells) - len(c) for t, c in todo if not t.always)
        estimate = sum(t.estimate_s(c) for t, cs in todo for c in cs)
        reports.append(PartReport(p.number, p.title, cells, stored, estimate))
    _print_plan(reports, budget_s, device, ctx.device_name, out, smoke, say)
    if plan_only:
        return reports

    own_meter = meter is None
    if own_meter:
        from .meters import select_meter

        sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else None
        meter = select_meter(device, sync, **cuda_identity(device))
    ctx.meter = meter
    try:
        for p, report in zip(chosen, reports):
            if not any(t.always for t in p.tasks) and not _any_pending(store, p, retry_failed):
                say(f"\npart {p.number}: {p.title}: all {report.cells} cells stored already")
                continue
            say(f"\npart {p.number}: {p.title}: {report.cells - report.stored} of {report.cells} cells to measure, "
                f"estimate ~{report.estimate_s:.0f} s ({max(0.0, budget.left()):.0f} s left)")
            t0 = clock()
            for task in p.tasks:
                if task.needs_graphs and graph_capture_failed(ctx):
                    report.skipped = True
                    say(f"  {task.experiment}: skipped, the CUDA-graph capture check failed ({ctx.graph_capture}); "
                        f"nothing stored: fix it on the CPU and run the same command again")
                    continue
                run = run_cells(store, task.kind, task.cells, spec_of=task.spec_of, code_of=task.code_of,
                                measure=task.measure, group_of=task.group_of, estimate_s=task.estimate_s,
                                budget=budget, retry_failed=retry_failed or task.always, log=say,
                                profile="smoke" if smoke else "reference", pace=ctx.pace)
                report.measured += run.measured
                report.failed += run.failed
                report.stopped = report.stopped or run.stopped
                written = export_csv(_experiment_records(store, chosen, task.experiment), task.experiment, out)
                report.csv += [str(x) for x in written if str(x) not in report.csv]
                if task.kind == ENVIRONMENT:
                    say_environment(run.records[0]["result"] if run.records[0] else {}, say)
                if run.stopped:
                    break
            report.seconds = clock() - t0
            say(f"part {p.number} done in {report.seconds:.0f} s: measured {report.measured}, "
                f"failed {report.failed}, stored before {report.stored}"
                + (" (stopped by the budget)" if report.stopped else "")
                + "".join(f"\n  wrote {c}" for c in report.csv))
            if report.stopped:
                say("budget reached: run the same command again to continue where this one stopped.")
                break
    finally:
        if own_meter:
            meter.close()
    left = sum(len(_pending(store, t, False)) for p in chosen for t in p.tasks if not t.always)
    say(f"\n{sum(r.measured for r in reports)} cells measured in {budget.spent():.0f} s; "
        + (f"{left} cells still to measure: run the same command again." if left else "the reference is complete."))
    return reports


def _experiment_records(store: ResultsStore, parts: list[Part], experiment: str) -> list[dict]:
    """The newest record of every cell of an experiment (whatever code made it), for its CSV."""
    records = []
    for part in parts:
        for task in part.tasks:
            if task.experiment == experiment:
                for cell in task.cells:
                    found = store.find(task.kind, task.spec_of(cell))
                    if found:
                        records.append(found[0])
    return records


def _any_pending(store: ResultsStore, part: Part, retry_failed: bool) -> bool:
    return any(_pending(store, t, retry_failed) for t in part.tasks)


def _print_plan(reports: list[PartReport], budget_s, device: str, name: str, out: Path, smoke: bool, say) -> None:
    say(f"gconv reference on {device} ({name}){' - dry run, tiny sizes' if smoke else ''}; records in {out}")
    say(f"{'part':>4}  {'cells':>5}  {'stored':>6}  {'estimate':>9}  what")
    total = 0.0
    for r in reports:
        total += r.estimate_s
        say(f"{r.number:>4}  {r.cells:>5}  {r.stored:>6}  {r.estimate_s:>8.{0 if r.estimate_s >= 10 else 1}f}s  "
            f"{r.title}")
    say(f"total estimate ~{total:.{0 if total >= 10 else 1}f} s"
        + (f" of a {budget_s:g} s budget" if budget_s is not None else "")
        + ("; parts that do not fit wait for the next call" if budget_s is not None and total > budget_s else ""))


__all__ = ["COMMAND", "Context", "EnvironmentCell", "PAPER_SIZES", "Part", "PartReport", "RESERVE_S", "SMOKE_SIZES",
           "Sizes", "Task", "TrainBenchCell", "check_environment", "epf_cell_seconds", "plan", "run_reference"]
