"""The ``gconv`` command.

    gconv count MODEL [--scheme S] [--groups g | --group-size G] [--num-classes K] [--input-size N] [--json]
    gconv tables [--paper e2gc|gc2l|vgg] [--csv]
    gconv layers MODEL ...            per-layer M_c, P, A, AI (E2GC Table II) of one variant
    gconv notebooks [--profile P] [--set NB.KEY=VALUE ...] [--only NB ...]
"""
from __future__ import annotations

import argparse
import json
import sys

from .layers import SCHEMES, ConvScheme, GroupingError

MODELS = ("mobilenet_v1", "resnext50", "wrn28", "wrn34_2", "mobilenet_v2", "vgg13_bn", "vgg16_bn", "vgg19_bn")


class UsageError(ValueError):
    """Bad input from the command line, reported as one line, not a traceback."""


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=f"one of {', '.join(MODELS)}")
    p.add_argument("--scheme", help=f"conv scheme ({', '.join(SCHEMES)}); for VGG: baseline or A..E")
    grouping = p.add_mutually_exclusive_group()
    grouping.add_argument("--groups", "-g", type=int, help="number of groups g")
    grouping.add_argument("--group-size", "-G", type=int, help="group size G (e2gc)")
    p.add_argument("--width", type=int, help="WRN-28 widening factor k (default 10)")
    p.add_argument("--num-classes", type=int, help="classifier outputs (default: the paper's)")
    p.add_argument("--input-size", type=int, help="input resolution (default: the paper's)")
    p.add_argument("--unfused", action="store_true", help="GC-2L: two convs instead of the fused one")


def build_from_args(args: argparse.Namespace):
    """The model an argument set describes, with every bad value turned into a UsageError."""
    from .models import create_model

    if args.model not in MODELS:
        raise UsageError(f"unknown model {args.model!r}; choose one of {', '.join(MODELS)}")
    kwargs = {}
    if args.num_classes is not None:
        if args.num_classes < 1:
            raise UsageError(f"--num-classes must be at least 1, got {args.num_classes}")
        kwargs["num_classes"] = args.num_classes
    if args.input_size is not None:
        if args.input_size < 32:
            raise UsageError(f"--input-size must be at least 32 pixels, got {args.input_size}")
        kwargs["input_size"] = args.input_size
    if args.width is not None:
        if args.model != "wrn28":
            raise UsageError("--width applies to wrn28 only")
        if args.width < 1:
            raise UsageError(f"--width must be at least 1, got {args.width}")
        kwargs["width"] = args.width
    if args.model.startswith("vgg"):
        if args.groups is not None or args.group_size is not None:
            raise UsageError("VGG schemes fix their own group counts: use --scheme baseline|A|B|C|D|E")
        kwargs["scheme"] = args.scheme or "baseline"
    elif args.scheme is not None or args.groups is not None or args.group_size is not None:
        kind = args.scheme
        if kind is None:  # a bare --groups / --group-size picks the obvious scheme
            kind = "e2gc" if args.group_size is not None else "gc"
        if kind not in SCHEMES:
            raise UsageError(f"unknown scheme {kind!r}; choose one of {', '.join(SCHEMES)}")
        try:
            kwargs["scheme"] = ConvScheme(kind, groups=args.groups, group_size=args.group_size,
                                          fused=not args.unfused)
        except ValueError as e:
            raise UsageError(f"{e} (use --groups g or --group-size G)") from None
    try:
        return create_model(args.model, **kwargs)
    except (GroupingError, ValueError) as e:
        raise UsageError(f"{args.model}: {e}") from None


def cmd_count(args) -> int:
    import torch

    from .complexity import count
    from .layers import FLGCConv2d

    model = build_from_args(args)
    if not any(isinstance(m, FLGCConv2d) for m in model.modules()):
        with torch.device("meta"):  # same model, no weights allocated: instant for any size
            model = build_from_args(args)
    c = count(model)
    if args.json:
        print(json.dumps(c.as_dict()))
    else:
        print(f"params (with BN)    {c.params:>15,d}  ({c.params / 1e6:.4f} M)")
        print(f"params (without BN) {c.params_no_bn:>15,d}  ({c.params_no_bn / 1e6:.4f} M)")
        print(f"MACs (conv + FC)    {c.macs:>15,d}  ({c.macs / 1e9:.4f} G)")
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
    if args.csv:
        print(table[CSV_COLUMNS].to_csv(index=False), end="")
    else:
        print(table[CSV_COLUMNS + ["verdict"]].to_string(index=False))
    return 0


def cmd_notebooks(args) -> int:
    from .pipeline import run_notebooks

    return run_notebooks(profile=args.profile, overrides=args.set, only=args.only, force=args.force)


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
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser("book-check", help="refuse to build a book from missing or failed notebooks")
    p.set_defaults(func=cmd_book_check)

    for extension in ("gconvlib.measure.cli", "gconvlib.train_cli"):
        try:
            module = __import__(extension, fromlist=["add_subcommands"])
        except ModuleNotFoundError as e:
            if e.name is None or not extension.startswith(e.name):
                raise  # a missing dependency inside the extension is a real error
            continue
        module.add_subcommands(sub)
    return parser


def cmd_book_check(args) -> int:
    from .pipeline import check_book_sources

    return check_book_sources()


def main(argv: list[str] | None = None) -> int:
    from .pipeline import PipelineError

    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, PipelineError) as e:
        print(f"gconv: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
