"""``gconv train`` and ``gconv bench train``: the training loop from the command line.

    gconv train --model wrn28_1/gc2l:4 [--task T] [--data auto|real|standin] [--epochs N] [--limit N]
                [--image-size N] [--seed S] [--device auto|cpu|cuda] [--threads N]
    gconv bench train --model wrn28_2/gc:2 --task cifar10 --data standin [--steps N] [--rounds R]
    torchrun --nproc-per-node N [--nnodes M ...] -m gconvlib.cli train --model ...   (data-parallel)

The variant is a model text (``wrn28_1/gc2l:4``, ``mobilenet_v1/e2gc:4``, ``vgg13_bn/E/width_mult=0.25``);
the older form ``--model wrn28 --width 1 --scheme gc2l --k 4`` still reads.
This is where a ``gconv train`` process starts, so this is where its thread count is set
and, when ``torchrun`` started it with more than one process, where it joins the process group
(gloo on CPUs, NCCL on GPUs): the run then trains data-parallel (:mod:`.distributed`) and only
rank 0 prints.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..commands import subcommand_group
from ..datasets.download import DatasetUnavailable
from .progress import PROGRESS_MODES


# The options of a training run, in --help's order: (flag, type, help, other keywords). None: text.
_SPEC_OPTIONS = (
    ("--model", None, "the variant as text, e.g. wrn28_1/gc2l:4, wrn28_2/gc:2, mobilenet_v1/e2gc:4, "
                      "vgg13_bn/E/width_mult=0.25 (or a model name with --scheme/--k/--width)", {"required": True}),
    ("--scheme", None, "old form: conv scheme (standard, gc, e2gc, fggc, gc2l, shuffle, flgc); "
                       "VGG: baseline or A..E", {}),
    ("--k", int, "old form: group size G (e2gc) or number of groups g (other schemes)", {}),
    ("--width", int, "old form: WRN-28 widening factor (default 10, the paper's)", {}),
    ("--width-mult", float, "old form: VGG channel multiplier", {}),
    ("--task", None, "data set (default: the paper's for the model)", {}),
    ("--data", None, "real data, the offline stand-in, or real when present (default)",
     {"default": "auto", "choices": ("auto", "real", "standin")}),
    ("--data-root", None, "folder of the real data set's files (default: the cache's "
                          "datasets/<task>, or GCONV_IMAGENET for ImageNet)", {}),
    ("--limit", int, "at most N images per split", {}),
    ("--image-size", int, "input resolution (default: the data set's)", {}),
    ("--num-classes", int, "keep the K most frequent classes", {}),
    ("--recipe", None, "training recipe (default: the paper's for the model)", {}),
    ("--epochs", int, "train N epochs; the lr milestones are rescaled", {}),
    ("--batch-size", int, "override the recipe's batch size", {}),
    ("--lr", float, "override the recipe's initial learning rate", {}),
    ("--weight-decay", float, "override the recipe's weight decay", {}),
    ("--augment", None, "override the recipe's augmentation (pad_crop_flip, resized_crop_flip, none)", {}),
    ("--seed", int, None, {"default": 0}),
    ("--data-seed", int, "seed of the data itself (limit, splits, stand-in)", {"default": 0}),
    ("--device", None, "auto (CUDA when present), cpu or cuda[:i]", {"default": "auto"}),
    ("--threads", int, "torch threads (default: the CPUs this process may use, from its affinity)", {}),
)


def _spec_arguments(p: argparse.ArgumentParser) -> None:
    for flag, kind, text, more in _SPEC_OPTIONS:
        p.add_argument(flag, type=kind, help=text, **more)


def model_from_args(args: argparse.Namespace) -> str:
    """The variant text from ``--model`` (and the older ``--scheme/--k/--width/--width-mult``)."""
    from ..models.spec import ModelSpec

    old = {"--k": args.k, "--width": args.width, "--width-mult": args.width_mult}
    if args.scheme is None:
        given = [flag for flag, value in old.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} need --scheme; or write the whole variant, "
                             f"e.g. --model wrn28_2/gc:2")
        if "/" not in args.model:
            raise ValueError(f"--model {args.model!r} names no scheme: write it like wrn28_2/gc:2 or "
                             f"mobilenet_v1/e2gc:4 (or add --scheme)")
        return args.model
    if "/" in args.model:
        raise ValueError(f"--model {args.model!r} names its scheme already; drop --scheme/--k")
    return ModelSpec.from_paper(args.model, args.scheme, args.k, width=args.width,
                                width_mult=args.width_mult).text


def spec_from_args(args: argparse.Namespace):
    from .spec import TrainSpec

    return TrainSpec(model=model_from_args(args), task=args.task, data_mode=args.data,
                     image_size=args.image_size, limit=args.limit, num_classes=args.num_classes,
                     recipe=args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     weight_decay=getattr(args, "weight_decay", None), augment=getattr(args, "augment", None),
                     seed=args.seed, data_seed=getattr(args, "data_seed", 0))


def spec_arguments(spec) -> list[str]:
    """The ``gconv train`` arguments of a TrainSpec (every field given: the same spec reads back)."""
    flags = {"model": "--model", "task": "--task", "data_mode": "--data", "image_size": "--image-size",
             "limit": "--limit", "num_classes": "--num-classes", "recipe": "--recipe", "epochs": "--epochs",
             "batch_size": "--batch-size", "lr": "--lr", "weight_decay": "--weight-decay",
             "augment": "--augment", "seed": "--seed", "data_seed": "--data-seed"}
    out = []
    for field, flag in flags.items():
        value = getattr(spec, field)
        if value is not None:
            out += [flag, f"{value!r}" if isinstance(value, float) else str(value)]
    return out


def _fail(message: str, code: int = 2) -> int:
    print(f"gconv: error: {message}", file=sys.stderr)
    return code


def _start(args, distributed: bool = False):
    """Process-wide settings, made once where the process starts (library calls never do).

    With ``distributed`` (``gconv train``) and torchrun's environment of more than one process,
    join the process group; the default thread count is then the CPUs of the process's affinity
    shared by the processes of the node. Returns the process's DistInfo (None: one process)."""
    from ..runtime import init_from_torchrun, torchrun_env
    from .device import available_cpus, set_process_threads

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    info = init_from_torchrun(args.device) if distributed else None
    env = torchrun_env() or {}
    threads = args.threads or (max(1, available_cpus() // env.get("local_world_size", 1)) if info else None)
    set_process_threads(threads)
    return info


def cmd_train(args) -> int:
    from ..faults import INTERRUPTED_EXIT
    from ..store import ResultsStore
    from .run import TrainingInterrupted, train
    from .spec import KIND

    info = None
    try:
        spec = spec_from_args(args)      # bad parameters fail before any process group is joined
        info = _start(args, distributed=True)
        store = ResultsStore()
        record = train(spec, store, progress=args.progress, device=info.device if info else args.device,
                       profile=args.profile, data_root=args.data_root)
    except TrainingInterrupted as e:     # Ctrl-C: the checkpoint is written; the line says how to go on
        print(f"gconv: {e}", file=sys.stderr)
        return INTERRUPTED_EXIT
    except DatasetUnavailable as e:
        return _fail(str(e), 1)
    except ValueError as e:
        return _fail(str(e))
    finally:
        if info is not None:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    if info is not None and info.rank != 0:
        return 0
    if args.json:
        print(json.dumps(record["result"], indent=1))
        return 0
    res = record["result"]
    sc, test, timing = res["scaling"], res["test"], res["timing"]
    curves = res["curves"]
    print(f"{res['architecture']} {res['label']} on {res['task']} ({res['data']['source']} data): "
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
    ips, run = timing["images_per_s"], res["run"]
    processes = run.get("processes", 1)
    where = (f"{processes} processes ({run.get('backend')}, {', '.join(sorted(set(run.get('devices', []))))})"
             if processes > 1 else run["device"])
    print(f"  time      {timing['wall_s']:.1f} s ({ips:.0f} training img/s on {where}, "
          f"{run['threads']} threads{' each' if processes > 1 else ''}, {run['amp'] or 'fp32'}"
          f"{', channels_last' if run['channels_last'] else ''})")
    print(f"  stored    {store.root / KIND / (record['key'] + '.json')}")
    return 0


def _bench_settings(args) -> dict:
    """--amp/--channels-last as changes to the measured settings ("auto": keep them)."""
    changes = {}
    if args.amp != "auto":
        changes["amp"] = None if args.amp == "fp32" else args.amp
    if args.channels_last != "auto":
        changes["channels_last"] = args.channels_last == "on"
    return changes


def cmd_bench_train(args) -> int:
    from .bench import benchmark_training

    try:
        _start(args)
        spec = spec_from_args(args)
        out = benchmark_training(spec, steps=args.steps, warmup=args.warmup, rounds=args.rounds,
                                 device=args.device, settings=_bench_settings(args))
    except ValueError as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    loop, plain = out["loop"], out["plain"]
    print(f"{out['model']} ({out['label']}) on {out['task']} ({out['source']} data), {out['image_size']} px, "
          f"batch {out['batch_size']}, {out['rounds']} x {out['steps']} timed steps per loop on "
          f"{out['device']}, {out['threads']} threads")
    print(f"  this loop   {out['loop_images_per_s']:10.1f} img/s  ({loop['amp'] or 'fp32'}, "
          f"channels_last {loop['channels_last']}, data on device {loop['in_memory']})")
    print(f"  plain loop  {out['plain_images_per_s']:10.1f} img/s  (fp32, NCHW, DataLoader with "
          f"{plain['dataloader_workers']} workers, loss.item() each step)")
    rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(out["rounds_images_per_s"]["loop"],
                                                      out["rounds_images_per_s"]["plain"]))
    print(f"  speed-up    {out['speedup']:.2f}x  (medians; per round {rounds})")
    return 0


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one model variant (cached in the results store)")
    _spec_arguments(p)
    p.add_argument("--progress", default="auto", choices=PROGRESS_MODES,
                   help="a progress bar on stderr (auto, bar) or none")
    p.add_argument("--profile", help="profile name recorded in the provenance (does not change the run)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=cmd_train)

    p = subcommand_group(subparsers, "bench", "throughput benchmarks").add_parser(
        "train", help="training images/s: this loop vs a plain fp32 DataLoader loop")
    _spec_arguments(p)
    p.add_argument("--steps", type=int, default=10, help="timed training steps per loop and round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps of each loop before timing")
    p.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (medians are reported)")
    p.add_argument("--amp", default="auto", choices=("auto", "bf16", "fp32"),
                   help="this loop's autocast (auto: the device's measured setting)")
    p.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"),
                   help="this loop's memory format (auto: the device's measured setting)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_train)
