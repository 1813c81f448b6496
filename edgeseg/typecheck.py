"""Does a value read from JSON or the command line have its annotated type? One rule for every caller:
a bool is not a number, and an int is a float; unions and generic hints (dict[str, Any]) are followed."""

from __future__ import annotations

import types
import typing
from typing import Any


def has_type(value, hint) -> bool:
    if hint is Any:
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(has_type(value, h) for h in typing.get_args(hint))
    hint = typing.get_origin(hint) or hint
    if isinstance(value, bool) and hint in (int, float):
        return False
    return isinstance(value, (int, float) if hint is float else hint)


def type_name(hint) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(h) for h in typing.get_args(hint))
    return {type(None): "null", dict: "an object", tuple: "a list", list: "a list"}.get(
        typing.get_origin(hint) or hint, getattr(hint, "__name__", str(hint)))
