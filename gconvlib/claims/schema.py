"""The evaluator vocabulary of ``claims.yaml``: each evaluator registers itself with its argument
schema through :func:`evaluator`, so the function and the args the registry accepts for it are
declared in one place (the registry validates every entry against :data:`EVALUATOR_ARGS`)."""
from __future__ import annotations

from typing import Callable

#: args every evaluator (but ``untestable``) takes: where (models, datasets, devices, batch sizes,
#: ks) and what (quantity)
COMMON_ARGS = frozenset({"model", "models", "layer", "layers", "dataset", "datasets", "batch_sizes",
                         "batch_size", "paper_devices", "ks", "per", "quantity", "quantities",
                         "also_models", "processes"})

#: evaluator name -> (extra args it takes, required args (a tuple = one of))
EVALUATOR_ARGS: dict[str, tuple[frozenset, tuple]] = {}
#: evaluator name -> function(ctx) -> list[Check]
EVALUATORS: dict[str, Callable] = {}


def evaluator(name: str, takes: tuple | frozenset = (), needs: tuple = ()) -> Callable:
    """Register ``fn`` as the evaluator ``name`` taking the common args plus ``takes`` and requiring
    every entry of ``needs`` (a tuple entry: one of its names)."""
    def register(fn: Callable) -> Callable:
        if name in EVALUATORS:
            raise ValueError(f"evaluator {name!r} registered twice")
        EVALUATORS[name] = fn
        EVALUATOR_ARGS[name] = (frozenset(takes), tuple(needs))
        return fn
    return register


def allowed_args(name: str) -> frozenset:
    extra, _ = EVALUATOR_ARGS[name]
    return extra if name == "untestable" else COMMON_ARGS | extra


#: where a claim's threshold comes from: the paper's own number, our reading of its words, or
#: no threshold at all (an exact identity, a strict relation)
THRESHOLD_SOURCES = ("paper", "reading", "none")
#: args that set a threshold a verdict rests on, in the order one is taken as *the* threshold
THRESHOLD_ARGS = ("tolerance_pts", "tolerance", "threshold", "at_most", "at_least", "min_rho", "tolerance_factor",
                  "factor", "match_within")
#: thresholds an evaluator applies when the claim gives none
THRESHOLD_DEFAULTS = {"rank_correlation": ("min_rho", 0.7)}


def threshold_arg(name: str, args) -> tuple[str, object] | None:
    """The (arg, value) a claim's verdict rests on, or None: a zero tolerance is an identity, a
    ratio's factor is a threshold only as a bound (at_most / at_least), ``pairs: matched`` rests
    on ``match_within`` (default 0.10)."""
    for key in THRESHOLD_ARGS:
        if key not in args:
            continue
        value = args[key]
        if key in ("tolerance", "tolerance_pts") and not value:
            continue
        if key == "factor" and (args.get("relation") not in ("at_most", "at_least")
                                or not isinstance(value, (int, float))):
            continue
        return key, value
    if args.get("pairs") == "matched":
        return "match_within", 0.10
    return THRESHOLD_DEFAULTS.get(name)
