"""``gconv train`` and ``gconv bench train``: the training loop from the command line.

    gconv train --model M --scheme S [--k K] [--task T] [--data auto|real|standin] [--epochs N]
                [--limit N] [--image-size N] [--seed S] [--width K] [--device auto|cpu|cuda]
    gconv bench train --model M --scheme S ... --steps N
"""
from __future__ import annotations

import argparse
import json
import sys


def _spec_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model name (gconv count --help lists them)")
    p.add_argument("--scheme", required=True,
                   help="conv scheme (standard, gc, e2gc, fggc, gc2l, shuffle, flgc); VGG: baseline or A..E")
    p.add_argument("--k", type=int, help="group size G (e2gc) or number of groups g (other grouped schemes)")
    p.add_argument("--width", type=int, help="WRN-28 widening factor (default 10, the paper's)")
    p.add_argument("--task", help="data set (default: the paper's for the model)")
    p.add_argument("--data", default="auto", choices=("auto", "real", "standin"),
                   help="real data, the offline stand-in, or real when present (default)")
    p.add_argument("--limit", type=int, help="at most N images per split")
    p.add_argument("--image-size", type=int, help="input resolution (default: the data set's)")
    p.add_argument("--num-classes", type=int, help="keep the K most frequent classes (Kuzushiji)")
    p.add_argument("--recipe", help="training recipe (default: the paper's for the model)")
    p.add_argument("--epochs", type=int, help="train N epochs; the lr milestones are rescaled")
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument("--lr", type=float, help="override the recipe's initial learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:i]")


def spec_from_args(args: argparse.Namespace):
    from .train import TrainSpec

    return TrainSpec(model=args.model, scheme=args.scheme, k=args.k, width=args.width, task=args.task,
                     data_mode=args.data, image_size=args.image_size, limit=args.limit,
                     num_classes=args.num_classes, recipe=args.recipe, epochs=args.epochs,
                     batch_size=args.batch_size, lr=args.lr, seed=args.seed)


def _fail(message: str) -> int:
    print(f"gconv: error: {message}", file=sys.stderr)
    return 2


def cmd_train(args) -> int:
    from .store import ResultsStore
    from .train import KIND, train

    try:
        spec = spec_from_args(args)
        store = ResultsStore()
        record = train(spec, store, progress=args.progress, device=args.device, profile=args.profile)
    except ValueError as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps(record["result"], indent=1))
        return 0
    res = record["result"]
    sc, test, timing = res["scaling"], res["test"], res["timing"]
    curves = res["curves"]
    print(f"{res['model']} {res['label']} on {res['task']} ({res['data']['source']} data): "
          f"{'read from the store' if record['cache_hit'] else 'trained'}")
    print(f"  data      {res['data']['description']}")
    print(f"  recipe    {sc['recipe']}: {sc['epochs']} of the paper's {sc['paper_epochs']} epochs "
          f"(x{sc['epochs_ratio']:.3g}), milestones {sc['milestones']}, batch {sc['batch_size']}")
    ratio = f" ({100 * sc['dataset_ratio']:.3g} % of the paper's)" if sc["dataset_ratio"] else ""
    print(f"  scale     {sc['train_images']} training images{ratio}, {sc['resolution']} px "
          f"(paper {sc['paper_resolution']}), {sc['num_classes']} classes (paper {sc['paper_num_classes']})"
          + (f", width {sc['width']} (paper {sc['paper_width']})" if sc["paper_width"] else ""))
    print(f"  final     train loss {curves['train_loss'][-1]:.4f} acc {100 * curves['train_acc'][-1]:.2f} %"
          + (f", val acc {100 * curves['val_acc'][-1]:.2f} %" if curves["val_acc"][-1] is not None else ""))
    line = f"  test      top-1 {100 * test['accuracy']:.2f} % (error {100 * test['error']:.2f} %)"
    if res["primary_metric"] == "balanced_accuracy":
        line += f", balanced {100 * test['balanced_accuracy']:.2f} %"
    print(line)
    ips = timing["images_per_s"]
    print(f"  time      {timing['wall_s']:.1f} s ({ips:.0f} training img/s on {res['run']['device']})")
    print(f"  stored    {store.root / KIND / (record['key'] + '.json')}")
    return 0


def cmd_bench_train(args) -> int:
    from .train import benchmark_training

    try:
        spec = spec_from_args(args)
        out = benchmark_training(spec, steps=args.steps, warmup=args.warmup, device=args.device)
    except ValueError as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{out['model']} {out['label']} on {out['task']} ({out['source']} data), {out['image_size']} px, "
          f"batch {out['batch_size']}, {out['steps']} steps on {out['device']}")
    print(f"  this loop   {out['loop_images_per_s']:10.1f} img/s  (amp {out['loop']['amp']}, "
          f"channels_last {out['loop']['channels_last']}, data on device {out['loop']['in_memory']})")
    print(f"  plain loop  {out['plain_images_per_s']:10.1f} img/s  (fp32, DataLoader with "
          f"{out['plain']['dataloader_workers']} workers, loss.item() each step)")
    print(f"  speed-up    {out['speedup']:.2f}x")
    return 0


def _bench_subparsers(subparsers):
    """The sub-command group under ``gconv bench`` (another module may have created ``bench``)."""
    bench = subparsers.choices.get("bench")
    if bench is None:
        bench = subparsers.add_parser("bench", help="throughput benchmarks")
        return bench.add_subparsers(dest="bench_command", required=True)
    for action in bench._actions:  # argparse keeps a parser's sub-command group among its actions
        if isinstance(action, argparse._SubParsersAction):
            return action
    return bench.add_subparsers(dest="bench_command", required=True)


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one model variant (cached in the results store)")
    _spec_arguments(p)
    p.add_argument("--progress", default="auto", choices=("auto", "bar", "compact", "none"))
    p.add_argument("--profile", help="profile name recorded in the provenance (does not change the run)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=cmd_train)

    p = _bench_subparsers(subparsers).add_parser(
        "train", help="training images/s: this loop vs a plain fp32 DataLoader loop")
    _spec_arguments(p)
    p.add_argument("--steps", type=int, default=50, help="timed training steps per loop")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_train)
