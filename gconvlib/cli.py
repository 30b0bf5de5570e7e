"""The ``gconv`` command.

    gconv count MODEL[/SCHEME] [--scheme S] [--groups g | --group-size G] [--width k]
                [--num-classes K] [--input-size N] [--unfused] [--json]
    gconv layers MODEL[/SCHEME] ...   per-layer M_c, P, A, AI (E2GC Table II) of one variant
    gconv tables [--paper e2gc|gc2l|vgg] [--csv]
    gconv notebooks [--profile P] [--set NB.KEY=VALUE ...] [--only NB ...]

A model variant is one :class:`~gconvlib.models.ModelSpec`: ``wrn28_10/gc2l:8:unfused`` or, the
same, ``wrn28 --width 10 --scheme gc2l --groups 8 --unfused``.
"""
from __future__ import annotations

import argparse
import json
import sys

from .commands import EXTENSIONS
from .layers import SCHEMES, GroupingError


class UsageError(ValueError):
    """Bad input from the command line, reported as one line, not a traceback."""


def _model_arguments(p: argparse.ArgumentParser) -> None:
    from .models import list_models

    p.add_argument("model", help=f"one of {', '.join(list_models())}, or a whole variant like wrn28_10/gc2l:8")
    p.add_argument("--scheme", help=f"conv scheme ({', '.join(SCHEMES)}, fggc; or its text form like e2gc:4); "
                                    "for VGG: baseline or A..E")
    grouping = p.add_mutually_exclusive_group()
    grouping.add_argument("--groups", "-g", type=int, help="number of groups g")
    grouping.add_argument("--group-size", "-G", type=int, help="group size G (e2gc)")
    p.add_argument("--width", type=int, help="WRN-28 widening factor k (default 10)")
    p.add_argument("--num-classes", type=int, help="classifier outputs (default: the paper's)")
    p.add_argument("--input-size", type=int, help="input resolution (default: the paper's)")
    p.add_argument("--unfused", action="store_true", help="GC-2L: two convs instead of the fused one")


def spec_from_args(args: argparse.Namespace):
    """The :class:`ModelSpec` an argument set describes; every bad value becomes a UsageError."""
    from .models import ModelSpec

    for flag, value, least in (("--num-classes", args.num_classes, 1), ("--input-size", args.input_size, 32),
                               ("--width", args.width, 1)):
        if value is not None and value < least:
            raise UsageError(f"{flag} must be at least {least}{' pixels' if least == 32 else ''}, got {value}")
    try:
        if "/" in args.model:
            if args.scheme or args.groups or args.group_size or args.unfused:
                raise UsageError(f"{args.model!r} names its scheme already; drop --scheme/--groups/--group-size")
            spec = ModelSpec.parse(args.model)
        else:
            spec = ModelSpec(args.model, _scheme_text(args), width=args.width)
        changes = {k: v for k, v in (("num_classes", args.num_classes), ("input_size", args.input_size))
                   if v is not None}
        return spec.replace(**changes).check()
    except UsageError:
        raise
    except (GroupingError, ValueError) as e:
        raise UsageError(f"{args.model}: {e}") from None


def _scheme_text(args) -> str | None:
    """--scheme/--groups/--group-size/--unfused as one scheme text (``gc2l:8:unfused``)."""
    text = args.scheme
    if text is None and args.groups is None and args.group_size is None:
        return None  # the architecture's own scheme
    if text is None:  # a bare --groups / --group-size picks the obvious scheme
        text = "e2gc" if args.group_size is not None else "gc"
    if ":" not in text and (args.groups is not None or args.group_size is not None):
        kind = text.lower()
        if kind == "e2gc" and args.group_size is None:
            raise UsageError("scheme 'e2gc' takes a group size G: use --group-size G")
        if kind != "e2gc" and args.group_size is not None and kind in SCHEMES + ("fggc",):
            raise UsageError(f"scheme {kind!r} takes a number of groups g, not a group size: use --groups g")
        text = f"{text}:{args.group_size if args.group_size is not None else args.groups}"
    return text + (":unfused" if args.unfused else "")


def build_from_args(args: argparse.Namespace, device=None):
    """The model an argument set describes (``device="meta"``: no weights allocated)."""
    return spec_from_args(args).build(device)


def cmd_count(args) -> int:
    from .complexity import count_spec

    c = count_spec(spec_from_args(args))
    if args.json:
        print(json.dumps(c))
    else:
        print(f"params (with BN)    {c['params']:>15,d}  ({c['params'] / 1e6:.4f} M)")
        print(f"params (without BN) {c['params_no_bn']:>15,d}  ({c['params_no_bn'] / 1e6:.4f} M)")
        print(f"MACs (conv + FC)    {c['macs']:>15,d}  ({c['macs'] / 1e9:.4f} G)")
    return 0


def cmd_layers(args) -> int:
    import pandas as pd

    from .complexity import layer_stats

    rows = [layer.as_dict() for layer in layer_stats(build_from_args(args))]
    df = pd.DataFrame(rows)[["name", "kind", "in_channels", "out_channels", "kernel", "groups", "group_size",
                             "stride", "macs", "params", "activations", "arithmetic_intensity"]]
    print(df.to_csv(index=False) if args.csv else df.to_string(index=False))
    return 0


def cmd_tables(args) -> int:
    from .tables import CSV_COLUMNS, reproduce_complexity

    if args.paper not in (None, "e2gc", "gc2l", "vgg"):
        raise UsageError(f"unknown paper {args.paper!r}; choose e2gc, gc2l or vgg")
    table = reproduce_complexity(args.paper)
    if args.paper == "vgg":
        print("The VGG paper prints no Params or MACs values (its Fig. 10 is a plot); count them with "
              "`gconv count vgg13_bn --scheme E` (computed, not published).")
        return 0
    if args.csv:
        print(table[CSV_COLUMNS].to_csv(index=False), end="")
    else:
        print(table[CSV_COLUMNS + ["verdict"]].to_string(index=False))
    return 0


def cmd_notebooks(args) -> int:
    from .pipeline import run_notebooks
    from .plan import train_jobs_setting, train_missing

    if args.train_jobs is not None and args.train_jobs < 1:
        raise UsageError(f"--train-jobs must be at least 1, got {args.train_jobs}")
    try:
        jobs = args.train_jobs or train_jobs_setting()   # None: one per CPU, decided when there are runs
    except ValueError as e:   # GCONV_TRAIN_JOBS
        raise UsageError(str(e)) from None

    def before(notebooks: list[str]) -> int:   # after the request is checked, before the first notebook
        return train_missing(args.profile, args.set, notebooks, jobs=jobs) if notebooks else 0

    return run_notebooks(profile=args.profile, overrides=args.set, only=args.only, force=args.force,
                         before=before)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gconv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("count", help="params (with/without BN) and MACs of one model variant")
    _model_arguments(p)
    p.add_argument("--json", action="store_true", help="print {params, params_no_bn, macs}")
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("layers", help="per-layer M_c, P, A and arithmetic intensity")
    _model_arguments(p)
    p.add_argument("--csv", action="store_true")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("tables", help="every published Params/MACs cell, reproduced")
    p.add_argument("--paper", help="e2gc, gc2l or vgg (default: all)")
    p.add_argument("--csv", action="store_true")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("notebooks", help="execute the notebooks with papermill for a profile")
    p.add_argument("--profile", default="quick", help="smoke, quick (default) or paper")
    p.add_argument("--set", action="append", default=[], metavar="NB.KEY=VALUE",
                   help="override one notebook parameter, e.g. e2gc_energy.batch_sizes=[1,4]")
    p.add_argument("--only", nargs="*", help="run only these notebooks")
    p.add_argument("--force", action="store_true", help="re-execute even when up to date")
    p.add_argument("--train-jobs", type=int, metavar="N",
                   help="train the runs the store lacks in N processes before the notebooks "
                        "(default GCONV_TRAIN_JOBS, else one per CPU without a GPU; 1: inside the notebooks)")
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser("book-check", help="refuse to build a book from missing or failed notebooks")
    p.set_defaults(func=cmd_book_check)

    p = sub.add_parser("advise", help="the group size G for this model on this device: measured, fitted, checked")
    p.add_argument("model", help="a model with E2GC/FgGC variants: mobilenet_v1 or resnext50")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=1, help="B (default 1)")
    p.add_argument("--input-size", type=int, help="input resolution (default: the paper's 224)")
    p.add_argument("--budget-s", type=float, default=60.0, help="seconds for measuring and fitting (default 60)")
    p.add_argument("--metric", choices=("time", "energy"), help="default: energy on a GPU with a counter, else time")
    p.add_argument("--out", help="store the records (and a CSV) here, e.g. data/results/reference/<device>/")
    p.add_argument("--threads", type=int, help="CPU threads (default: 1 on a CPU, all on a GPU host)")
    p.add_argument("--window-s", type=float,
                   help="seconds per timing window (default: the e2gc_energy chapter's, EpfProtocol.measured_here)")
    p.set_defaults(func=cmd_advise)

    for extension in EXTENSIONS:   # every one exists: a typo there is an error, not a lost command
        __import__(extension, fromlist=["add_subcommands"]).add_subcommands(sub)
    return parser


def cmd_advise(args) -> int:
    from .advise import advise, process_age_s
    from .measure.protocol import EpfProtocol

    if args.input_size is not None and args.input_size < 32:
        raise UsageError(f"--input-size must be at least 32 pixels, got {args.input_size}")
    try:
        protocol = EpfProtocol.measured_here(args.window_s)
        advice = advise(args.model, args.device, args.batch_size, args.input_size, budget_s=args.budget_s,
                        metric=args.metric, out=args.out, threads=args.threads, protocol=protocol,
                        spent_s=process_age_s(), log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except ValueError as e:
        raise UsageError(str(e)) from None
    print("\n".join(advice.lines()))
    return 0


def cmd_book_check(args) -> int:
    from .pipeline import check_book_sources

    return check_book_sources()


def main(argv: list[str] | None = None) -> int:
    from .faults import INTERRUPTED_EXIT, os_error_line, where_logged
    from .pipeline import PipelineError

    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, PipelineError) as e:
        print(f"gconv: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # Ctrl-C: one line, not the frames it happened to stop in
        print("gconv: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except OSError as e:             # an unwritable or missing folder, a full disk
        print(f"gconv: error: {os_error_line(e)} ({where_logged(e, args.command)})", file=sys.stderr)
        return 1
    except Exception as e:           # anything else: what it was in one line, the frames in the log
        text = (str(e).strip().splitlines() or [""])[0]
        print(f"gconv: error: {type(e).__name__}{': ' + text if text else ''} "
              f"({where_logged(e, args.command)})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
