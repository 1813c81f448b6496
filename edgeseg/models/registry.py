"""Model families by name: `@register("unet")` on a factory, `create_model(name, **cfg)` to build one."""

from __future__ import annotations

import typing
from collections.abc import Callable

from ..errors import EdgesegError
from ..typecheck import has_type

_FACTORIES: dict[str, Callable] = {}


def register(name: str) -> Callable[[Callable], Callable]:
    def add(factory: Callable) -> Callable:
        if name in _FACTORIES:
            raise ValueError(f"model {name!r} registered twice")
        _FACTORIES[name] = factory
        return factory

    return add


def list_models() -> list[str]:
    _load_families()
    return sorted(_FACTORIES)


def create_model(name: str, **config):
    """Build a model family by name; unknown names and config keys fail with the valid choices."""
    _load_families()
    factory = _FACTORIES.get(name)
    if factory is None:
        raise EdgesegError(f"unknown model {name!r}; valid models: {', '.join(sorted(_FACTORIES))}")
    _check_types(name, factory, config)
    try:
        model = factory(**config)
    except TypeError as exc:
        raise EdgesegError(f"bad config for model {name!r}: {exc}") from exc
    model.name = name
    return model


def _check_types(name: str, factory: Callable, config: dict) -> None:
    """A config value of the wrong plain type (cgm="maybe", width_mult="wide") is refused, not coerced."""
    built = factory if isinstance(factory, type) else typing.get_type_hints(factory).get("return")
    hints = typing.get_type_hints(built.__init__) if isinstance(built, type) else {}
    for key, value in config.items():
        want = hints.get(key)
        if want in (bool, int, float, str) and not has_type(value, want):
            raise EdgesegError(f"bad config for model {name!r}: {key} must be {want.__name__}, got {value!r}")


def _load_families() -> None:
    from . import FAMILIES  # noqa: F401  (importing the package registers every family)
