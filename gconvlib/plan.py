"""``gconv plan``: a profile's training runs that are not in the store yet, as ``torchrun`` jobs.

The runs come from the chapters themselves: a chapter module (one of
:data:`gconvlib.chapters.CHAPTERS`) MAY define ``plan_specs(params) -> list[TrainSpec]`` (or
``plan_specs(**params)``, keywords like its ``run``: it gets those it declares), which
gets the notebook's parameters for the profile (the profile's ``defaults`` and its section for
the notebook, then ``--set`` overrides: what ``make reproduce`` passes to ``run()``) and returns
the runs ``run()`` trains with them. ``gconv plan`` asks every chapter that has it, drops the
runs the results store already holds (:func:`gconvlib.train.run.stored_record`, the very lookup
``train()`` does) and prints one command per missing run. Each command trains its run with
``gconv train`` (data-parallel over the processes torchrun starts) into the same store, so the
notebooks then read it back as a cache hit. Scheduling is left to the cluster's own tools
(SLURM's ``sbatch``, submitit, ...): see the README, "Scaling out".

It sits beside :mod:`gconvlib.pipeline`, above the chapters and the training package it asks,
so that nothing below it (:mod:`gconvlib.parallel`, :mod:`gconvlib.train`) imports upwards.
"""
from __future__ import annotations

import importlib
import inspect
import shlex
import sys
from dataclasses import dataclass

from .runtime import setting
from .store import ResultsStore


@dataclass(frozen=True)
class Job:
    chapter: str
    spec: object   # TrainSpec

    def command(self, nproc_per_node: str | int = 1, nnodes: int = 1, rdzv_endpoint: str | None = None,
                profile: str | None = None, python: str | None = None) -> str:
        from .train.cli import spec_arguments

        launcher = ["torchrun", "--nproc-per-node", str(nproc_per_node)]
        if nnodes > 1:
            launcher += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d",
                         "--rdzv-endpoint", rdzv_endpoint or "$MASTER_ADDR:29500"]
        args = ["-m", "gconvlib.cli", "train", *spec_arguments(self.spec), "--progress", "none"]
        if profile:
            args += ["--profile", profile]
        words = launcher + args
        text = " ".join(shlex.quote(w) if not w.startswith("$") else w for w in words)
        return text


def chapter_modules() -> list[tuple[str, object]]:
    """(name, module) of every chapter that defines ``plan_specs`` (the chapters that train)."""
    from .chapters import CHAPTERS

    out = []
    for chapter in CHAPTERS:
        module = importlib.import_module(f"gconvlib.chapters.{chapter.name}")
        if callable(getattr(module, "plan_specs", None)):
            out.append((chapter.name, module))
    return out


def chapter_parameters(chapter: str, profile_name: str, profile: dict, overrides: dict) -> dict:
    """The notebook's parameters for the profile (validated against the notebook when it exists)."""
    from .pipeline import notebook_dir, notebook_parameters

    if (notebook_dir() / f"{chapter}.ipynb").exists():
        return notebook_parameters(chapter, profile_name, profile, overrides)
    params = dict(profile.get("defaults") or {})
    params.update(profile["notebooks"].get(chapter) or {})
    params.update(overrides.get(chapter, {}))
    return {"profile": profile_name, **params}


def call_plan_specs(fn, params: dict) -> list:
    """``plan_specs(params)`` (the interface: one dict of notebook parameters); a ``plan_specs`` that
    takes the parameters as keywords (like ``run``) gets those it declares."""
    sig = inspect.signature(fn)
    ps = list(sig.parameters.values())
    if len(ps) == 1 and ps[0].kind in (ps[0].POSITIONAL_ONLY, ps[0].POSITIONAL_OR_KEYWORD) \
            and ps[0].default is ps[0].empty:
        return list(fn(params))
    if any(p.kind == p.VAR_KEYWORD for p in ps):
        return list(fn(**params))
    return list(fn(**{k: v for k, v in params.items() if k in sig.parameters}))


def planned_jobs(profile_name: str, overrides: list[str] | None = None) -> list[Job]:
    """Every training run of the profile's chapters (each once, in book order)."""
    from .pipeline import load_profile, parse_overrides

    profile = load_profile(profile_name)
    parsed = parse_overrides(overrides)
    jobs, seen = [], set()
    for name, module in chapter_modules():
        for spec in call_plan_specs(module.plan_specs, chapter_parameters(name, profile_name, profile, parsed)):
            if spec not in seen:
                seen.add(spec)
                jobs.append(Job(name, spec))
    return jobs


def missing_jobs(jobs: list[Job], store: ResultsStore | None = None) -> list[Job]:
    """The jobs whose run is not in the store (trained with this code)."""
    from .train.run import stored_record

    store = store or ResultsStore()
    return [job for job in jobs if stored_record(job.spec, store) is None]


# -- gconv plan ---------------------------------------------------------------------------------

def cmd_plan(args) -> int:
    from .pipeline import PipelineError

    try:
        jobs = planned_jobs(args.profile, args.set)
    except (ValueError, PipelineError) as e:
        print(f"gconv: error: {e}", file=sys.stderr)
        return 2
    store = ResultsStore()
    todo = jobs if args.all else missing_jobs(jobs, store)
    for job in todo:
        print(job.command(args.nproc_per_node, args.nnodes, args.rdzv_endpoint, args.profile))
    by_chapter = {}
    for job in todo:
        by_chapter[job.chapter] = by_chapter.get(job.chapter, 0) + 1
    detail = ", ".join(f"{n} {c}" for c, n in by_chapter.items())
    print(f"gconv plan: {len(todo)} of {len(jobs)} training runs of profile {args.profile!r} "
          f"{'listed' if args.all else 'not in the store'}" + (f" ({detail})" if detail else "")
          + (f"; {note}" if (note := store_note(store)) else ""), file=sys.stderr)
    return 0


def store_note(store: ResultsStore) -> str | None:
    """Why every run is missing, when the reason is the store itself: a mistyped ``GCONV_RESULTS``
    reads as 'nothing trained yet', so the line names the folder it looked in."""
    from .train.spec import KIND

    if not store.root.is_dir():
        where = "set by GCONV_RESULTS" if setting("GCONV_RESULTS") else "the default; GCONV_RESULTS names another"
        return f"the store {store.root} ({where}) does not exist"
    if not any((store.root / KIND).glob("*.json")):
        return f"the store {store.root} holds no training run yet"
    return None


def add_subcommands(subparsers) -> None:
    """Register ``gconv plan``."""
    p = subparsers.add_parser("plan", help="the profile's training runs missing from the store, as torchrun "
                                           "commands (one per line)")
    p.add_argument("--profile", default="paper", help="smoke, quick or paper (default)")
    p.add_argument("--set", action="append", default=[], metavar="NB.KEY=VALUE",
                   help="override one notebook parameter, as for `gconv notebooks`")
    p.add_argument("--nproc-per-node", default=setting("GCONV_NPROC_PER_NODE", "1"),
                   help="torchrun's processes per node (an integer, or gpu)")
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--rdzv-endpoint", help="HOST:PORT of the rendezvous (several nodes)")
    p.add_argument("--all", action="store_true", help="list every run, stored or not")
    p.set_defaults(func=cmd_plan)


__all__ = ["Job", "add_subcommands", "call_plan_specs", "chapter_modules", "chapter_parameters", "missing_jobs",
           "planned_jobs"]
