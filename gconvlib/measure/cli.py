"""``gconv reference``, ``gconv energy sweep|bench``, ``gconv latency`` and ``gconv bench gc2l``.

Registered on the ``gconv`` command by :func:`add_subcommands`. Every measured cell is a record of
the results store rooted at ``--out`` (default: this machine's results store; ``gconv reference``
on a GPU: ``data/results/reference/``), so a repeated command measures only what is missing.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

from .protocol import MODES, EpfProtocol


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _guard(fn):
    """Bad input is a message and exit status 2, not a traceback."""
    def handler(args) -> int:
        try:
            return fn(args)
        except ValueError as exc:
            print(f"gconv: error: {exc}", file=sys.stderr)
            return 2
    handler.__name__ = fn.__name__
    return handler


# -- gconv reference ------------------------------------------------------------------------------

def _reference(args) -> int:
    from ..runtime import warn_if_commit_unknown
    from .reference import run_reference

    if not args.plan:
        # reference records are committed and kept: one that cannot name its commit cannot be traced
        warn_if_commit_unknown("gconv reference")
    reports = run_reference(args.device, None if args.budget_s <= 0 else args.budget_s, args.out,
                            smoke=args.smoke, parts=args.parts, retry_failed=args.retry_failed, plan_only=args.plan)
    return 0 if all(r.failed == 0 for r in reports) else 1


def _add_reference(subparsers) -> None:
    from .reference import COMMAND

    p = subparsers.add_parser(
        "reference", help="the GPU reference results in one resumable command (energy, latency, overhead)",
        description="Runs the measurement parts in priority order (1 environment and meter check, 2 E2GC "
                    "MobileNet-V1 EPF, 3 VGG13-BN latency, 4 GC-2L overhead, 5 E2GC ResNeXt-50 EPF, 6 training "
                    "throughput, 7 paper-style eager subset, 8 extras), writing each result to the results "
                    "store under --out as it finishes, with a CSV per experiment and device. Prints the plan "
                    "and an estimate before each part; stops cleanly when the budget is spent, and the same "
                    f"command continues where it stopped. On a GPU: {COMMAND}")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="seconds for this call, counted from the process's start, the last 20 s kept for the end "
                        "(default 480: two minutes of a 10-minute call left for copying the results back; 0: no limit)")
    p.add_argument("--out", type=Path, default=None,
                   help="store root (default: data/results/reference/ on a GPU, <results>/reference-dryrun on a CPU)")
    p.add_argument("--smoke", action="store_true", help="every part end to end with tiny sizes (the CPU dry run)")
    p.add_argument("--parts", type=int, nargs="+", default=None, metavar="N", help="only these parts (1 always runs)")
    p.add_argument("--retry-failed", action="store_true", help="measure again the cells stored as failed")
    p.add_argument("--plan", action="store_true", help="print the plan and measure nothing")
    p.set_defaults(func=_guard(_reference))


# -- gconv energy sweep | bench ---------------------------------------------------------------------

def _add_protocol_args(p: argparse.ArgumentParser) -> None:
    d = EpfProtocol()
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    p.add_argument("--mode", choices=MODES, default=d.mode,
                   help="graph: whole step in a CUDA graph (default); eager: paper-style PyTorch")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, metavar="B")
    p.add_argument("--window-s", type=float, default=d.window_s, help=f"seconds per window (default {d.window_s})")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--min-trials", type=int, default=d.min_trials)
    p.add_argument("--max-trials", type=int, default=d.max_trials)
    p.add_argument("--target-cv", type=float, default=d.target_cv)
    p.add_argument("--cooldown-s", type=float, default=d.cooldown_s)
    p.add_argument("--idle-s", type=float, default=d.idle_s, help="active-idle window (0: no dynamic EPF)")
    p.add_argument("--no-interleave", action="store_true", help="measure cells one after another")
    p.add_argument("--input-size", type=int, default=None, help="override the image size (smoke tests)")
    p.add_argument("--threads", type=int, default=None, help="torch threads on a CPU (restored afterwards)")


def _protocol(args, **override) -> EpfProtocol:
    fields = dict(warmup_steps=args.warmup_steps, window_s=args.window_s, min_trials=args.min_trials,
                  max_trials=args.max_trials, target_cv=args.target_cv, cooldown_s=args.cooldown_s,
                  mode=args.mode, idle_s=args.idle_s, interleave=not args.no_interleave)
    fields.update(override)
    return EpfProtocol(**fields)


def _context(args, out, protocol_threads):
    from ..store import ResultsStore, results_dir
    from .protocol import device_name, resolve_device
    from .reference import Context, PAPER_SIZES

    device = resolve_device(args.device)
    sizes = replace(PAPER_SIZES, threads=protocol_threads)
    store = ResultsStore(Path(out) if out else results_dir())
    return Context(device, device_name(device), False, sizes, log=_log, store=store), store   # store: EPF journal


EXPERIMENTS = ("e2gc", "gc2l_overhead")


def _sweep(args) -> int:
    from . import experiments as X
    from .records import Budget, export_csv, run_cells
    from .reference import by_groups, by_model_and_batch, epf_task

    protocol = _protocol(args)
    if args.experiment == "e2gc":
        cells = X.e2gc_cells(args.models or X.E2GC_MODELS, args.batch_sizes or X.E2GC_BATCH_SIZES,
                             input_size=args.input_size)
    else:
        if args.models:
            raise ValueError("--models applies to the e2gc experiment only")
        cells = X.gc2l_overhead_cells(batch_size=(args.batch_sizes or [X.GC2L_BATCH])[0], input_size=args.input_size)
    ctx, store = _context(args, args.out, args.threads)
    task = epf_task(ctx, args.experiment, cells, protocol,
                    by_model_and_batch if args.experiment == "e2gc" else by_groups)
    run = run_cells(store, task.kind, cells, spec_of=task.spec_of, code_of=task.code_of, measure=task.measure,
                    group_of=task.group_of, estimate_s=task.estimate_s, budget=Budget(args.time_budget_s), log=_log)
    written = export_csv([r for r in run.records if r is not None], args.experiment, store.root)
    print(f"{store.root}: measured {run.measured}, already stored {run.cached}, failed {run.failed}, "
          f"remaining {run.remaining}" + (" (time budget reached)" if run.stopped else ""))
    for path in written:
        print(f"wrote {path}")
    return 0


#: the repeatability benchmark: each family's baseline of the E2GC paper
BENCH_CELLS = ("mobilenet_v1/e2gc:1", "resnext50/gc:32")


def _bench(args) -> int:
    from ..models.spec import ModelSpec
    from .protocol import EpfCell, measure_epf, resolve_device

    if args.trials < 2:
        raise ValueError(f"--trials must be >= 2 to give a CV, got {args.trials}")
    protocol = _protocol(args, min_trials=args.trials, max_trials=args.trials, target_cv=0.0)
    models = set(args.models) if args.models else None
    cells = []
    for text in BENCH_CELLS:
        spec = ModelSpec.parse(text)
        if models is not None and spec.model not in models:
            continue
        if args.input_size:
            spec = spec.replace(input_size=args.input_size)
        cells += [EpfCell(spec, b) for b in (args.batch_sizes or [1, 4, 16])]
    if not cells:
        raise ValueError(f"no benchmark cell left; models are {', '.join(t.split('/')[0] for t in BENCH_CELLS)}")
    results = measure_epf(cells, protocol, resolve_device(args.device), threads=args.threads, log=_log)
    print(f"{'model':<28}{'B':>4}{'ms/step':>10}{'EPF mJ':>10}{'dyn mJ':>10}{'CV %':>8}  of")
    worst = 0.0
    for cell, r in zip(cells, results):
        if r["status"] != "ok":
            print(f"{cell.spec.text:<28}{cell.batch_size:>4}  {r['status']}")
            worst = math.inf
            continue
        cv = r["cv"]
        worst = max(worst, cv if not math.isnan(cv) else math.inf)
        print(f"{cell.spec.text:<28}{cell.batch_size:>4}{_fmt(r['ms_per_step'], '.3f'):>10}"
              f"{_fmt(r['epf_total_mj'], '.3f'):>10}{_fmt(r['epf_dynamic_mj'], '.3f'):>10}"
              f"{_fmt(100 * cv, '.2f'):>8}  {r['cv_quantity']}")
    first = results[0]
    print(f"device {first.get('device')}, mode {first.get('mode')}, meter {first.get('meter')}, {args.trials} "
          f"windows of >= {protocol.window_s} s; target CV <= {100 * args.target_cv:.1f} %")
    if str(first.get("energy", "")).startswith("unavailable"):
        print(f"energy {first['energy']}: CV is of time per step")
    ok = worst <= args.target_cv
    print("PASS" if ok else "FAIL: some cell is above the target CV")
    return 0 if ok else 1


# -- gconv latency ----------------------------------------------------------------------------------

def _latency(args) -> int:
    from . import experiments as X
    from .latency import LatencyProtocol
    from .records import export_csv, run_cells
    from .reference import latency_task

    fields = {k: v for k, v in (("input_size", args.input_size),) if v is not None}
    cells = X.vgg_latency_cells(args.batch_sizes, args.variants or X.VGG_VARIANTS, **fields)
    ctx, store = _context(args, args.out, args.threads)
    ctx.sizes = replace(ctx.sizes, latency=LatencyProtocol(repeats=args.repeats, warmup=args.warmup))
    task = latency_task(ctx, cells)
    run = run_cells(store, task.kind, cells, spec_of=task.spec_of, code_of=task.code_of, measure=task.measure,
                    group_of=task.group_of, log=_log)
    print(f"{'variant':<40}{'B':>4}{'median ms/img':>15}{'IQR':>9}{'min':>9}{'max':>9}")
    for cell, record in zip(cells, run.records):
        r = record["result"]
        if r["status"] != "ok":
            print(f"{cell.spec.text:<40}{cell.batch_size:>4}  {r['status']}")
            continue
        print(f"{cell.spec.text:<40}{cell.batch_size:>4}{r['ms_per_image_median']:>15.3f}{r['ms_per_image_iqr']:>9.3f}"
              f"{r['ms_per_image_min']:>9.3f}{r['ms_per_image_max']:>9.3f}")
    for path in export_csv(run.records, "vgg_latency", store.root):
        print(f"wrote {path}")
    return 0


# -- gconv bench gc2l -----------------------------------------------------------------------------

def _bench_gc2l(args) -> int:
    from .layer_bench import benchmark_gc2l, format_gc2l
    from .protocol import resolve_device

    result = benchmark_gc2l(width=args.width, batch=args.batch, device=resolve_device(args.device),
                            repeats=args.repeats, warmup=args.warmup, threads=args.threads,
                            groups=tuple(args.groups), log=_log)
    print(format_gc2l(result))
    return 0


def _add_bench_gc2l(subparsers) -> None:
    """``gconv bench gc2l``, in the ``bench`` group that gconvlib.train.cli also fills."""
    from ..commands import subcommand_group

    p = subcommand_group(subparsers, "bench", "throughput benchmarks").add_parser(
        "gc2l", help="ms per training step of WRN-28: GC vs GC-2L fused vs GC-2L unfused",
        description="Times forward+backward of a whole WRN-28-<width> (10 classes, 32x32 synthetic "
                    "input, channels_last) with GC, GC-2L fused and GC-2L unfused at each g, "
                    "interleaved, and prints the median ms per step. The last line is "
                    "'fused_over_unfused=<x> gc2l_over_gc=<y>': x is the median over g of "
                    "fused/unfused time, y the median over g of fused/GC time.")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--width", type=int, default=2, help="WRN-28 widening factor (default 2)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--groups", type=int, nargs="+", default=[2, 4, 8], metavar="G",
                   help="numbers of groups g (default 2 4 8; each must divide 16)")
    p.add_argument("--repeats", type=int, default=10, help="timed steps per variant (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first (default 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the CPUs this process may use); restored afterwards")
    p.set_defaults(func=_guard(_bench_gc2l))


def add_subcommands(subparsers) -> None:
    """Register ``reference``, ``energy`` (``sweep``, ``bench``), ``bench gc2l`` and ``latency``."""
    _add_reference(subparsers)

    energy = subparsers.add_parser("energy", help="energy per frame (EPF) of training steps")
    esub = energy.add_subparsers(dest="energy_command", metavar="{sweep,bench}")
    energy.set_defaults(func=lambda args: (energy.print_help(), 2)[1])

    sweep = esub.add_parser("sweep", help="resumable EPF sweep of a paper's cells (one store record per cell)")
    sweep.add_argument("--experiment", required=True, choices=EXPERIMENTS)
    sweep.add_argument("--models", nargs="+", default=None, help="e2gc only: mobilenet_v1 and/or resnext50")
    sweep.add_argument("--time-budget-s", type=float, default=None,
                       help="stop between groups of cells before this many seconds (run again to resume)")
    sweep.add_argument("--out", type=Path, default=None, help="store root (default: this machine's results store)")
    _add_protocol_args(sweep)
    sweep.set_defaults(func=_guard(_sweep))

    bench = esub.add_parser("bench", help="repeatability: CV of EPF per cell (target <= 1 %% on an H100)")
    bench.add_argument("--models", nargs="+", default=None)
    bench.add_argument("--trials", type=int, default=5, help="windows per cell (default 5)")
    _add_protocol_args(bench)
    bench.set_defaults(func=_guard(_bench))

    _add_bench_gc2l(subparsers)

    latency = subparsers.add_parser("latency", help="inference latency per image (VGG paper Fig. 10)")
    latency.add_argument("--model", default="vgg13_bn", choices=["vgg13_bn"], help="the VGG paper's model")
    latency.add_argument("--variants", nargs="+", default=None, help="VGG: baseline A B C D E (default all)")
    latency.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4], metavar="B")
    latency.add_argument("--device", default="cpu")
    latency.add_argument("--repeats", type=int, default=30)
    latency.add_argument("--warmup", type=int, default=5)
    latency.add_argument("--input-size", type=int, default=None)
    latency.add_argument("--threads", type=int, default=None)
    latency.add_argument("--out", type=Path, default=None, help="store root (default: this machine's results store)")
    latency.set_defaults(func=_guard(_latency))


__all__ = ["BENCH_CELLS", "EXPERIMENTS", "add_subcommands"]
