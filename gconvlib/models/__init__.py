"""Model registry and the architectures of the three papers (one file each)."""
from . import mobilenet_v1, mobilenet_v2, resnext, vgg, wide_resnet  # noqa: F401  (registers them)
from ._registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
