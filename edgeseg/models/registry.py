"""Model families by name: `@register("unet")` on a family class, `create_model(name, **config)` to build one.

The registry is the one list of families: importing `edgeseg.models` imports every family module,
and each one registers its class here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EdgesegError
from ..typecheck import parse

if TYPE_CHECKING:
    from .base import SegModel

_FAMILIES: dict[str, type[SegModel]] = {}


def register(name: str):
    def add(cls: type[SegModel]) -> type[SegModel]:
        if name in _FAMILIES:
            raise ValueError(f"model {name!r} registered twice")
        _FAMILIES[name] = cls
        return cls

    return add


def list_models() -> list[str]:
    return sorted(_FAMILIES)


def create_model(name: str, **config) -> SegModel:
    """Build a family by name from user input (JSON values or command-line text): an unknown name,
    an unknown key or a value of the wrong type or range fails with the valid choices."""
    cls = _FAMILIES.get(name)
    if cls is None:
        raise EdgesegError(f"unknown model {name!r}; valid models: {', '.join(sorted(_FAMILIES))}")
    model = cls(parse(cls.Options, config, f"model {name!r}"))
    model.name = name
    return model
