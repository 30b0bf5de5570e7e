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
import logging
import multiprocessing
import shlex
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from .runtime import cpu_count, setting
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


def planned_jobs(profile_name: str, overrides: list[str] | None = None,
                 chapters: list[str] | None = None) -> list[Job]:
    """Every training run of the profile's chapters (``chapters``: of these only), each once, in
    book order, filed under the first chapter that trains it."""
    from .pipeline import load_profile, parse_overrides

    profile = load_profile(profile_name)
    parsed = parse_overrides(overrides)
    jobs, seen = [], set()
    for name, module in chapter_modules():
        if chapters is not None and name not in chapters:
            continue
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


# -- the missing runs, several at a time, before the notebooks -----------------------------------
#
# Measured here (2-core CPU, VGG13-BN at 1/8 of its channels, batch 20, 8 epochs, two runs): two
# processes of one thread each took 20.4 s, the same two runs one after the other with two
# threads 36.7 s. The quick profile's models are small and its batches 20-64 images: a second
# thread per operation buys little, a second process adds more (VGG 1.8x; MobileNet-V1 and WRN-28-1
# about 1.3x; the whole quick profile 18 min 45 s against 27 min 50 s). On a GPU the runs stay in
# the notebooks, one at a time (one device).

MAX_DEFAULT_TRAIN_JOBS = 4   # each process holds its data set in memory; more are measured nowhere yet


def train_jobs_setting() -> int | None:
    """``GCONV_TRAIN_JOBS`` as a number (None: unset); ValueError, in one line, for anything else."""
    value = setting("GCONV_TRAIN_JOBS")
    if value is not None and (not value.strip().isdigit() or int(value) < 1):
        raise ValueError(f"GCONV_TRAIN_JOBS={value!r}: give a whole number of processes, at least 1 "
                         f"(1: every run trains inside its notebook)")
    return None if value is None else int(value)


def default_train_jobs() -> int:
    """``GCONV_TRAIN_JOBS``, else one process per CPU (at most :data:`MAX_DEFAULT_TRAIN_JOBS`) when
    no GPU is there to train on, else 1."""
    jobs = train_jobs_setting()
    if jobs is not None:
        return jobs
    import torch

    return 1 if torch.cuda.is_available() else min(cpu_count(), MAX_DEFAULT_TRAIN_JOBS)


def train_missing(profile: str, overrides: list[str] | None = None, chapters: list[str] | None = None,
                  jobs: int | None = None, store: ResultsStore | None = None) -> int:
    """Train the runs of ``chapters`` (default: all) that the store lacks, in ``jobs`` processes with
    an equal share of the CPUs each, into the store the notebooks then read them back from.

    The runs are those :func:`planned_jobs` lists, so each is stored under the very key its chapter
    looks up; the records say how many threads made them. A run that fails is reported in one line
    and left to its notebook, which trains it again and shows the error where the reader sees it.
    Returns how many runs it started. Ctrl-C: the runs in progress checkpoint at their next step
    (each worker's own handler, :class:`~gconvlib.train.checkpoint.StopOnInterrupt`) and no other
    starts; KeyboardInterrupt is raised once they have stopped."""
    started = time.time()   # planning included: the time the run's summary gives
    jobs = default_train_jobs() if jobs is None else jobs
    if jobs < 2:
        return 0
    import torch

    if torch.cuda.is_available():
        raise ValueError(f"{jobs} training processes on a machine with a GPU would share one device; "
                         f"use --train-jobs 1 (each notebook trains its runs on the GPU)")
    store = store or ResultsStore()
    todo = missing_jobs(planned_jobs(profile, overrides, chapters), store)
    if not todo:
        return 0
    jobs = min(jobs, len(todo))
    threads = max(1, cpu_count() // jobs)
    print(f"[gconv] training the {len(todo)} runs of the {profile} profile that the store lacks, {jobs} at a "
          f"time ({threads} thread{'s' if threads > 1 else ''} each); the notebooks then read them back",
          flush=True)
    failed, waiting = 0, list(reversed(todo))
    # spawn: a forked child would inherit this process's torch thread pool and its state
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(threads,)) as pool:
        running = {}

        def submit() -> None:   # one run per free process: none waits in the pool's queue for a Ctrl-C
            while waiting and len(running) < jobs:
                job = waiting.pop()
                running[pool.submit(_train_one, job.spec, profile, str(store.root))] = job

        submit()
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as e:   # the notebook trains it again and shows the whole error
                        failed += 1
                        outcome = (f"failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                                   f"{job.chapter} trains it again and shows why")
                    finished = len(todo) - len(waiting) - len(running)
                    print(f"    ({finished}/{len(todo)}) {job.chapter}: {job.spec.model} seed {job.spec.seed}: "
                          f"{outcome}", flush=True)
                submit()
        except KeyboardInterrupt:
            waiting.clear()   # the running ones checkpoint and stop; leaving the block waits for them
            raise
    print(f"[gconv] {len(todo) - failed} of {len(todo)} runs trained in {time.time() - started:.0f} s", flush=True)
    return len(todo)


def _start_worker(threads: int) -> None:
    import signal

    import pooch

    from .datasets import StandInWarning
    from .train.device import set_process_threads

    # Ctrl-C reaches every process of the terminal: a worker between runs ignores it (it would die
    # and break the pool); during a run, training's own handler checkpoints at the next step
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_threads(threads)
    # the notebook that reads the run back shows where its data came from (and why not the real
    # data); here it would repeat once per process and run
    warnings.simplefilter("ignore", StandInWarning)
    pooch.get_logger().setLevel(logging.WARNING)   # its "Downloading data from ..." before each try


_DATA = None   # one data cache per worker process: the seeds of one variant share their data


def _train_one(spec, profile: str, root: str) -> str:
    from .train.data import DataCache
    from .train.run import train

    global _DATA
    if _DATA is None:
        _DATA = DataCache()
    record = train(spec, ResultsStore(root), progress="none", profile=profile, data_cache=_DATA)
    res = record["result"]
    wall = res["timing"]["wall_s"]
    return ("read back" if record.get("cache_hit") else
            f"{wall:.1f} s" if wall < 10 else f"{wall:.0f} s") + f" on {res['data']['source']} data"


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


__all__ = ["Job", "add_subcommands", "call_plan_specs", "chapter_modules", "chapter_parameters",
           "default_train_jobs", "missing_jobs", "planned_jobs", "train_jobs_setting", "train_missing"]
