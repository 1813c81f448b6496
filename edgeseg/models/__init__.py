"""Model families. Importing this package registers every family with the registry."""

from . import m2snet, pgunet, plnet, unet, unet_sharp  # noqa: F401
from .base import SegModel
from .registry import create_model, list_models, register

FAMILIES = ("unet", "unet_sharp", "plnet", "m2snet", "pgunet")

__all__ = ["SegModel", "create_model", "list_models", "register", "FAMILIES"]
