"""Model families. Importing this package registers every family with the registry."""

from . import m2snet, pgunet, plnet, unet, unet_sharp  # noqa: F401  (each registers its family)
from .base import SegModel, SegOptions
from .registry import create_model, list_models, register

__all__ = ["SegModel", "SegOptions", "create_model", "list_models", "register"]
