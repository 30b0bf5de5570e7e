"""Name -> builder registry (timm's ``register_model`` / ``create_model`` idea).

Each entry also says which paper the architecture belongs to (so a scheme is labelled the way
that paper writes it) and, for models whose schemes are presets rather than one conv scheme
(VGG's A-E), how to read a scheme's text form.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..layers import ConvScheme


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    paper: str | None
    parse_scheme: Callable[[str], object]


_MODELS: dict[str, ModelEntry] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, paper: str | None = None,
                   parse_scheme: Callable[[str], object] = ConvScheme.parse):
    """``@register_model`` or ``@register_model(paper="gc2l", parse_scheme=...)``."""
    def register(fn):
        name = fn.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = ModelEntry(name, fn, paper, parse_scheme)
        return fn

    return register(fn) if fn is not None else register


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    return model_entry(name).builder(**kwargs)
