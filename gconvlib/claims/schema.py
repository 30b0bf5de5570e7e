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
