"""Model registry, the architectures of the three papers (one file each), and the model description."""
from . import mobilenet_v1, mobilenet_v2, resnext, vgg, wide_resnet  # noqa: F401  (registers them)
from ._registry import create_model, list_models, register_model
from .spec import ModelSpec, scheme_text

__all__ = ["ModelSpec", "create_model", "list_models", "register_model", "scheme_text"]
