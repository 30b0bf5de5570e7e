"""``gconv energy sweep|bench`` and ``gconv latency``: registered by :func:`add_subcommands`."""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

from .protocol import MODES, EpfConfig, EpfProtocol, device_name, measure_epf, resolve_device
from .sweep import EXPERIMENTS, LATENCY_COLUMNS, SWEEP_COLUMNS, reference_path, run_sweep, write_csv_rows

#: the repeatability benchmark: each family's baseline of the E2GC paper
BENCH_CONFIGS = (("mobilenet_v1", "e2gc", 1), ("resnext50", "fggc", 32))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _add_protocol_args(p: argparse.ArgumentParser, mode_default: str = "graph") -> None:
    d = EpfProtocol()
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    p.add_argument("--mode", choices=MODES, default=mode_default,
                   help="graph: whole step in a CUDA graph (default); eager: paper-style PyTorch")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, metavar="B")
    p.add_argument("--window-s", type=float, default=d.window_s, help=f"seconds per trial (default {d.window_s})")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--min-trials", type=int, default=d.min_trials)
    p.add_argument("--max-trials", type=int, default=d.max_trials)
    p.add_argument("--target-cv", type=float, default=d.target_cv)
    p.add_argument("--cooldown-s", type=float, default=d.cooldown_s)
    p.add_argument("--idle-s", type=float, default=d.idle_s, help="active-idle window (0: no dynamic EPF)")
    p.add_argument("--no-interleave", action="store_true", help="measure configurations one after another")
    p.add_argument("--input-size", type=int, default=None, help="override the image size (smoke tests)")
    p.add_argument("--out", type=Path, default=None)


def _protocol(args, **override) -> EpfProtocol:
    fields = dict(warmup_steps=args.warmup_steps, window_s=args.window_s, min_trials=args.min_trials,
                  max_trials=args.max_trials, target_cv=args.target_cv, cooldown_s=args.cooldown_s,
                  mode=args.mode, idle_s=args.idle_s, interleave=not args.no_interleave)
    fields.update(override)
    return EpfProtocol(**fields)


def _resize(configs, input_size):
    return [replace(c, input_size=input_size) for c in configs] if input_size else configs


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _sweep(args) -> int:
    protocol = _protocol(args)
    builder = EXPERIMENTS[args.experiment]
    kwargs = {}
    if args.batch_sizes:
        kwargs["batch_sizes"] = args.batch_sizes
    if args.models:
        if args.experiment != "e2gc":
            raise ValueError("--models applies to the e2gc experiment only")
        kwargs["models"] = args.models
    configs = _resize(builder(**kwargs), args.input_size)
    device = resolve_device(args.device)
    summary = run_sweep(args.experiment, configs, protocol, device, args.out, args.time_budget_s, log=_log)
    print(f"{summary.out_csv}: measured {summary.measured}, already there {summary.skipped}, "
          f"remaining {summary.remaining}" + (" (time budget reached)" if summary.stopped_by_budget else ""))
    return 0


def _bench(args) -> int:
    trials = args.trials
    if trials < 2:
        raise ValueError(f"--trials must be >= 2 to give a CV, got {trials}")
    protocol = _protocol(args, min_trials=trials, max_trials=trials, target_cv=0.0)
    batch_sizes = args.batch_sizes or [1, 4, 16]
    models = set(args.models) if args.models else None
    configs = [EpfConfig(m, kind, k, b) for m, kind, k in BENCH_CONFIGS for b in batch_sizes
               if models is None or m in models]
    if not configs:
        raise ValueError(f"no benchmark configuration left; models are {', '.join(m for m, _, _ in BENCH_CONFIGS)}")
    configs = _resize(configs, args.input_size)
    rows = measure_epf(configs, protocol, resolve_device(args.device), log=_log)
    header = f"{'model':<14}{'scheme':<8}{'k':>4}{'B':>5}{'ms/step':>10}{'EPF mJ':>10}{'dyn mJ':>10}{'CV %':>8}  on"
    print(header)
    worst = 0.0
    for r in rows:
        cv = r["cv"]
        worst = max(worst, cv if not math.isnan(cv) else math.inf)
        print(f"{r['model']:<14}{r['scheme']:<8}{r['k']:>4}{r['batch_size']:>5}{_fmt(r['ms_per_step'], '.3f'):>10}"
              f"{_fmt(r['epf_total_mj'], '.2f'):>10}{_fmt(r['epf_dynamic_mj'], '.2f'):>10}"
              f"{_fmt(100 * cv, '.2f'):>8}  {r['cv_quantity']}")
    first = rows[0]
    print(f"device {first['device']}, mode {first['mode']}, meter {first['meter']}, {trials} trials of "
          f">= {protocol.window_s} s; target CV <= {100 * args.target_cv:.1f} %")
    if not first["energy_available"]:
        print(f"energy unavailable ({first['unavailable_reason']}): CV is of time per step")
    if args.out:
        write_csv_rows(args.out, rows, SWEEP_COLUMNS)
        print(f"wrote {args.out}")
    ok = worst <= args.target_cv
    print("PASS" if ok else "FAIL: some configuration is above the target CV")
    return 0 if ok else 1


def _latency(args) -> int:
    from .latency import measure_latency

    device = resolve_device(args.device)
    rows = measure_latency(args.model, args.variants, args.batch_sizes, device, args.repeats, args.warmup,
                           input_size=args.input_size, log=_log)
    experiment = f"latency_{args.model}"
    for r in rows:
        r["experiment"] = experiment
    print(f"{'variant':<10}{'B':>4}{'median ms/img':>15}{'IQR':>9}{'min':>9}{'max':>9}")
    for r in rows:
        print(f"{r['variant']:<10}{r['batch_size']:>4}{r['ms_per_image_median']:>15.3f}{r['ms_per_image_iqr']:>9.3f}"
              f"{r['ms_per_image_min']:>9.3f}{r['ms_per_image_max']:>9.3f}")
    out = args.out or reference_path(experiment, device_name(device))
    write_csv_rows(out, rows, LATENCY_COLUMNS)
    print(f"wrote {out}")
    return 0


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


def _bench_gc2l(args) -> int:
    from .layer_bench import benchmark_gc2l, format_gc2l

    result = benchmark_gc2l(width=args.width, batch=args.batch, device=resolve_device(args.device),
                            repeats=args.repeats, warmup=args.warmup, threads=args.threads,
                            groups=tuple(args.groups), log=_log)
    print(format_gc2l(result))
    return 0


def _add_bench_gc2l(subparsers) -> None:
    """``gconv bench gc2l``, in the ``bench`` group that gconvlib.train.cli also uses."""
    from ..train.cli import _bench_subparsers

    p = _bench_subparsers(subparsers).add_parser(
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
    """Register ``energy`` (``sweep``, ``bench``), ``bench gc2l`` and ``latency`` on the ``gconv`` CLI."""
    energy = subparsers.add_parser("energy", help="energy per frame (EPF) of training steps")
    esub = energy.add_subparsers(dest="energy_command", metavar="{sweep,bench}")
    energy.set_defaults(func=lambda args: (energy.print_help(), 2)[1])

    sweep = esub.add_parser("sweep", help="resumable EPF sweep of a paper's configurations")
    sweep.add_argument("--experiment", required=True, choices=sorted(EXPERIMENTS))
    sweep.add_argument("--models", nargs="+", default=None, help="e2gc only: mobilenet_v1 and/or resnext50")
    sweep.add_argument("--time-budget-s", type=float, default=None,
                       help="stop between configurations before this many seconds (run again to resume)")
    _add_protocol_args(sweep)
    sweep.set_defaults(func=_guard(_sweep))

    bench = esub.add_parser("bench", help="repeatability: CV of EPF per configuration (target <= 2 %% on an H100)")
    bench.add_argument("--models", nargs="+", default=None)
    bench.add_argument("--trials", type=int, default=5, help="trials per configuration (default 5)")
    _add_protocol_args(bench)
    bench.set_defaults(func=_guard(_bench))

    _add_bench_gc2l(subparsers)

    latency = subparsers.add_parser("latency", help="inference latency per image (VGG paper Fig. 10)")
    latency.add_argument("--model", default="vgg13_bn")
    latency.add_argument("--variants", nargs="+", default=None, help="VGG: baseline A B C D E (default all)")
    latency.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], metavar="B")
    latency.add_argument("--device", default="cpu")
    latency.add_argument("--repeats", type=int, default=30)
    latency.add_argument("--warmup", type=int, default=5)
    latency.add_argument("--input-size", type=int, default=None)
    latency.add_argument("--out", type=Path, default=None)
    latency.set_defaults(func=_guard(_latency))


__all__ = ["BENCH_CONFIGS", "add_subcommands"]
