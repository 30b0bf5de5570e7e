"""``gconv parallel-check`` and ``gconv parallel-bench`` (``gconv plan`` is :mod:`gconvlib.plan`).

    gconv parallel-check --procs P [--groups g] [--width k] [--scheme gc2l|gc] [--device cpu|cuda]
    gconv parallel-bench --model wrn28_2/gc2l:2 --procs P [--batch-size N] [--image-size S]
"""
from __future__ import annotations

import sys


def _fail(message: str) -> int:
    print(f"gconv: error: {message}", file=sys.stderr)
    return 2


def _not_under_torchrun(command: str) -> None:
    from ..runtime import ParallelError, torchrun_env

    env = torchrun_env()
    if env is not None and env["world_size"] > 1:
        raise ParallelError(f"{command} starts its own processes: run it once, without torchrun "
                            f"(WORLD_SIZE={env['world_size']} here)")


# what rounding alone can give (see parallel/check.py); an error in the decomposition is far larger
TOLERANCE = {"float64": 1e-9, "float32": 1e-3}


def cmd_parallel_check(args) -> int:
    from .check import run_check

    try:
        _not_under_torchrun("parallel-check")
        out = run_check(args.procs, args.groups, args.width, args.scheme, args.batch_size, args.image_size,
                        args.seed, args.device, args.dtype)
    except ValueError as e:   # ParallelError, GroupingError, bad spec
        return _fail(str(e))
    d = out["diffs"]
    print(f"{out['spec']} on {out['procs']} processes ({out['backend']}), batch {out['batch_size']}, {out['dtype']}: "
          f"{out['groups'] // out['procs']} group(s) and {out['held_parameters'][0]:,} parameters per rank")
    for name, value in d.items():
        print(f"  {name:<20} max |sharded - single| = {value:.3g}")
    print(f"max_abs_diff={out['max_abs_diff']:.3g}")
    tolerance = args.tolerance if args.tolerance is not None else TOLERANCE[args.dtype]
    return 0 if out["max_abs_diff"] <= tolerance else 1


def cmd_parallel_bench(args) -> int:
    from ..models.spec import ModelSpec
    from .bench import measure_step
    from .cost import step_work

    try:
        _not_under_torchrun("parallel-bench")
        spec = ModelSpec.parse(args.model).replace(input_size=args.image_size)
        if args.procs > 1:
            from .model import GroupParallelWideResNet

            GroupParallelWideResNet(spec, 0, args.procs, device="meta")   # bad g / P fail here, in one line
        m = measure_step(spec, args.procs, batch=args.batch_size, steps=args.steps, trials=args.trials,
                         threads=args.threads, device=args.device)
    except ValueError as e:
        return _fail(str(e))
    work = step_work(spec, args.batch_size, args.procs)
    print(f"{m['spec']} on {m['procs']} process(es) ({m['backend'] or 'single'}, {m['threads']} thread(s) each), "
          f"batch {m['batch_size']}: {1e3 * m['step_s']:.1f} ± {1e3 * m['step_s_std']:.1f} ms per step")
    print(f"  computation {1e3 * m['compute_s']:.1f} ms, communication {1e3 * m['comm_s']:.1f} ms "
          f"({100 * m['comm_share']:.0f} %), {m['counted_collectives']} collectives, "
          f"{sum(m['counted_elements'].values()):,} elements per rank (computed: {work['comm_elements']:,})")
    return 0


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("parallel-check", help="group-parallel WRN-28-k vs single-process: forward, "
                                                     "backward and one step (spawns P processes)")
    p.add_argument("--procs", type=int, default=2, help="processes P (default 2)")
    p.add_argument("--groups", type=int, help="groups g, divisible by P (default: P)")
    p.add_argument("--width", type=int, default=2, help="WRN-28 widening factor k (default 2)")
    p.add_argument("--scheme", default="gc2l", choices=("gc2l", "gc"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cpu: gloo; cuda: NCCL, one GPU each")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                   help="float64 (default): differences are rounding only, near 1e-15; float32: up to "
                        "~1e-4 in early layers' gradients, depending on the draw")
    p.add_argument("--tolerance", type=float, help="exit 1 when max_abs_diff is larger (default: 1e-9 "
                                                   "in float64, 1e-3 in float32)")
    p.set_defaults(func=cmd_parallel_check)

    p = subparsers.add_parser("parallel-bench", help="one training step on P processes: computation vs "
                                                     "communication")
    p.add_argument("--model", required=True, help="e.g. wrn28_2/gc2l:2 (SC: one process)")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.set_defaults(func=cmd_parallel_bench)
