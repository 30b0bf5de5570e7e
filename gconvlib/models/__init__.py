"""Model registry, the architectures of the three papers (one file each), and the model description."""
from . import mobilenet_v1, mobilenet_v2, resnext, vgg, wide_resnet  # noqa: F401  (registers them)
from ._registry import create_model, list_models, model_entry, register_model
from .spec import ModelSpec, build, scheme_text

__all__ = ["ModelSpec", "build", "create_model", "list_models", "model_entry", "register_model", "scheme_text"]
