"""The one description of a model variant, and the one way to build it.

A :class:`ModelSpec` names an architecture of the registry, its conv scheme (by its text form),
the WRN-28 widening factor or the VGG width multiplier, the number of classes and the input
size. Complexity counts, training runs, energy and latency measurements, the CLI and the
notebooks all build their models through :meth:`ModelSpec.build`, so a scheme is parsed,
labelled and validated in one place.

Text form (round-trips through :meth:`ModelSpec.parse`; defaults are left out)::

    wrn28_10/gc2l:8:unfused         WRN-28-10, GC-2L with g = 8 computed by two convs
    mobilenet_v1/e2gc:4             MobileNet-V1 with E2GC modules of group size G = 4
    resnext50/gc:32                 ResNeXt-50 32x4d (the E2GC paper's FgGC g=32; `fggc:32` also reads)
    vgg13_bn/E/classes=49/size=28   VGG13-BN, scheme E, 49 classes, 28 x 28 input
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from ._registry import ModelEntry, list_models, model_entry

_WIDTH_SUFFIX = re.compile(r"^(?P<base>[a-z0-9_]+?)_(?P<width>\d+)$")
_EXTRAS = {"classes": "num_classes", "size": "input_size", "width_mult": "width_mult"}


def _split_name(name: str) -> tuple[str, int | None]:
    """``wrn28_10`` -> (``wrn28``, 10); a registered name (``wrn34_2``) is itself."""
    if name in list_models():
        return name, None
    m = _WIDTH_SUFFIX.match(name)
    if m and m["base"] in list_models() and "width" in _parameters(model_entry(m["base"])):
        return m["base"], int(m["width"])
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())} "
                     f"(wrn28 takes its width as wrn28_<k>, e.g. wrn28_10)")


def _parameters(entry: ModelEntry) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(entry.builder).parameters)


def scheme_text(scheme: str, k=None) -> str:
    """The text form from a scheme name and the papers' one number (``values.csv`` columns):
    ("fggc", 8) -> ``gc:8``, ("e2gc", 4) -> ``e2gc:4``, ("standard", 1) -> ``standard``, ("E", None) -> ``E``."""
    from ..layers.factory import ALIASES, SCHEMES

    kind = ALIASES.get(str(scheme).lower(), str(scheme).lower())
    if kind == "standard" or kind not in SCHEMES:
        return "standard" if kind == "standard" else str(scheme)
    return f"{kind}:{int(k)}"


def _positive(name: str, value, kind=int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        raise ValueError(f"{name} must be a positive {'number' if kind is float else 'integer'}, got {value!r}")


@dataclass(frozen=True)
class ModelSpec:
    """A model variant. ``None`` fields take the architecture's defaults at construction (its
    builder's keyword defaults), so equal variants are equal specs and have equal store keys.

    model: registry name (``wrn28_10`` is read as model ``wrn28``, width 10).
    scheme: text form of the conv scheme (``gc:8``, ``e2gc:4``, ``gc2l:8:unfused``; VGG:
        ``baseline``, ``A`` .. ``E``), stored canonically (``fggc:8`` -> ``gc:8``); ``None`` is the
        architecture's own (MobileNet-V1: ``e2gc:1``, i.e. depthwise; ResNeXt-50: ``gc:32``).
    width: WRN-28's widening factor k. width_mult: VGG's channel multiplier (group sizes kept).
    """

    model: str
    scheme: str | None = None
    width: int | None = None
    num_classes: int | None = None
    input_size: int | None = None
    width_mult: float | None = None

    def __post_init__(self):
        if "/" in str(self.model):  # the whole text form: ModelSpec("wrn28_10/gc2l:8", input_size=64)
            parsed = ModelSpec.parse(self.model)
            for field in ("scheme", "width"):
                if getattr(self, field) is not None and getattr(self, field) != getattr(parsed, field):
                    raise ValueError(f"{self.model!r} already says {field} {getattr(parsed, field)!r}")
            given = {f: getattr(self, f) for f in ("num_classes", "input_size", "width_mult")
                     if getattr(self, f) is not None}
            for field in dataclasses.fields(self):
                object.__setattr__(self, field.name, getattr(parsed.replace(**given), field.name))
            return
        name, width = _split_name(str(self.model))
        if width is not None:
            if self.width not in (None, width):
                raise ValueError(f"{self.model}: width {self.width} contradicts the name")
            object.__setattr__(self, "width", width)
        object.__setattr__(self, "model", name)
        entry = model_entry(name)
        params = _parameters(entry)
        for field in ("width", "width_mult"):
            if getattr(self, field) is not None and field not in params:
                takes = [m for m in list_models() if field in _parameters(model_entry(m))]
                raise ValueError(f"{field} applies to {', '.join(takes)} only, not {name}")
        for field in ("width", "num_classes", "input_size", "width_mult"):
            if getattr(self, field) is None and field in params:
                object.__setattr__(self, field, params[field].default)
        _positive("width", self.width)
        _positive("num_classes", self.num_classes)
        _positive("input_size", self.input_size)
        _positive("width_mult", self.width_mult, float)
        scheme = params["scheme"].default if self.scheme is None else self.scheme
        object.__setattr__(self, "scheme", entry.parse_scheme(scheme).text)

    # -- what it is -------------------------------------------------------------------------
    @property
    def entry(self) -> ModelEntry:
        return model_entry(self.model)

    @property
    def paper(self) -> str | None:
        return self.entry.paper

    @property
    def conv_scheme(self):
        """The scheme object the builder takes: a ConvScheme, or a VGG BlockSchemes preset."""
        return self.entry.parse_scheme(self.scheme)

    @property
    def k(self) -> int | None:
        """G for e2gc, g for the other grouped schemes, None for standard and VGG presets."""
        return self.conv_scheme.k

    @property
    def kind(self) -> str:
        """The scheme's kind (``gc``, ``e2gc``, ...), or the VGG preset's name."""
        scheme = self.conv_scheme
        return getattr(scheme, "kind", scheme.text)

    @property
    def label(self) -> str:
        """The scheme as the model's paper writes it: ``FgGC g=8`` (E2GC), ``GC-2L g=4``, ``E`` (VGG)."""
        return self.conv_scheme.label_for(self.paper)

    @property
    def name(self) -> str:
        """The architecture as the papers name it: ``wrn28_10``, ``mobilenet_v1``."""
        return f"{self.model}_{self.width}" if self.model == "wrn28" else self.model

    # -- text form -----------------------------------------------------------------------
    @property
    def text(self) -> str:
        defaults = ModelSpec(self.model, self.scheme, width=self.width)
        extras = [f"{short}={getattr(self, field):g}" if isinstance(getattr(self, field), float)
                  else f"{short}={getattr(self, field)}"
                  for short, field in _EXTRAS.items() if getattr(self, field) != getattr(defaults, field)]
        return "/".join([self.name, self.scheme, *extras])

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str | ModelSpec) -> ModelSpec:
        """``"wrn28_10/gc2l:8:unfused"`` -> ModelSpec; the inverse of :attr:`text`."""
        if isinstance(text, ModelSpec):
            return text
        parts = str(text).strip().split("/")
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"a model variant is written MODEL/SCHEME[/classes=N][/size=S], e.g. "
                             f"'wrn28_10/gc2l:8' or 'mobilenet_v1/e2gc:4', got {text!r}")
        extras = {}
        for part in parts[2:]:
            key, sep, value = part.partition("=")
            if not sep or key not in _EXTRAS:
                raise ValueError(f"{text!r}: unknown part {part!r}; use {', '.join(k + '=' for k in _EXTRAS)}")
            try:
                extras[_EXTRAS[key]] = float(value) if key == "width_mult" else int(value)
            except ValueError:
                raise ValueError(f"{text!r}: {key} must be a number, got {value!r}") from None
        return cls(parts[0], parts[1], **extras)

    @classmethod
    def from_paper(cls, model_key: str, scheme: str, k=None, **fields) -> ModelSpec:
        """A variant as ``data/paper/values.csv`` names it: model key (``wrn28_10``), scheme, k."""
        return cls(model_key, scheme_text(scheme, k), **fields)

    def replace(self, **changes) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    # -- building ----------------------------------------------------------------------------
    def build(self, device: str | torch.device | None = None) -> nn.Module:
        """The model (on ``device``; ``"meta"`` allocates nothing: counts of any size are instant)."""
        kwargs = {f: getattr(self, f) for f in ("width", "width_mult", "num_classes", "input_size")
                  if getattr(self, f) is not None}
        if device is None:
            return self.entry.builder(scheme=self.conv_scheme, **kwargs)
        with torch.device(device):
            return self.entry.builder(scheme=self.conv_scheme, **kwargs)

    def check(self) -> ModelSpec:
        """Build on the meta device so a grouping that does not divide a layer fails now, naming it."""
        _code_modules(self)
        return self

    def code_modules(self) -> tuple[str, ...]:
        """The gconvlib modules that define this model: its file, the shared blocks, the factory,
        the layer modules it instantiates and what these import (the weights' initialisation,
        layers.init), less the layer modules it does not instantiate (a GC model does not depend
        on the GC-2L layer).
        Results computed from the model carry their fingerprint (see gconvlib.store)."""
        return _code_modules(self)


def _layer_kind_modules() -> set[str]:
    """The modules that define one kind of conv layer each (flgc, shuffle, two_level): the layer
    classes the layers package exports, so a new kind of layer is found without a list."""
    from .. import layers

    return {obj.__module__ for obj in vars(layers).values()
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__.startswith("gconvlib.")}


@lru_cache(maxsize=512)
def _code_modules(spec: ModelSpec) -> tuple[str, ...]:
    from ..fingerprint import dependency_closure

    model = spec.build("meta")
    used = {type(m).__module__ for m in model.modules()}
    used |= {spec.entry.builder.__module__, "gconvlib.models._blocks", "gconvlib.layers.factory"}
    used = {m for m in used if m.startswith("gconvlib.")}
    # what those modules import counts too (layers.init draws every weight), except the layer
    # kinds the model does not instantiate: _blocks and the factory import them all, and a GC
    # model's result does not depend on the GC-2L layer
    return tuple(dependency_closure(sorted(used), "gconvlib", exclude=sorted(_layer_kind_modules() - used)))


def build(spec: ModelSpec | str, device: str | torch.device | None = None) -> nn.Module:
    """Build a model from a spec or its text form."""
    return ModelSpec.parse(spec).build(device)
