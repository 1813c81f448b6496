"""One way to describe and validate configuration.

Configuration is a dataclass whose annotations say what each field holds (a model family's config,
a training recipe's options, a synthetic source's query, the fields of a manifest or checkpoint
sidecar read from JSON). `Annotated[int, Limits(ge=1)]` adds a range; `PositiveInt` and
`PositiveFloat` name the common ones. In user input, `tuple[X, ...]` is a list of X (text: comma-separated,
"1,2.5,4"), each item checked by `parse`.

`check_fields(obj, where)` is the one rule: a bool is not a number, an int is a float, unions and
generic hints (`dict[str, Any]`) are followed, limits hold, and every error names the field.
`parse(cls, values, where)` builds a dataclass from user input, JSON values (a checkpoint sidecar)
or text (`-c width_mult=0.25`, `?n=8`): unknown keys are refused with the valid ones, text is read
as the field's type, then `check_fields` runs.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

from .errors import EdgesegError

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Bounds of a number field, as in `Annotated[int, Limits(ge=1, le=4)]`."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None

    def hold(self, value) -> bool:
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
        )

    def describe(self, base: type) -> str:
        kind = "integer" if base is int else "number"
        if self.ge is not None and self.le is not None:
            return f"{self.ge}..{self.le}"
        if self.gt == 0 or (self.ge == 1 and base is int):
            return f"a positive {kind}"
        if self.ge == 0:
            return f"a non-negative {kind}"
        bounds = [f">= {self.ge}" if self.ge is not None else "", f"> {self.gt}" if self.gt is not None else "",
                  f"<= {self.le}" if self.le is not None else ""]
        return f"{'an' if base is int else 'a'} {kind} {' and '.join(b for b in bounds if b)}"


PositiveInt = Annotated[int, Limits(ge=1)]
PositiveFloat = Annotated[float, Limits(gt=0)]
NonNegativeInt = Annotated[int, Limits(ge=0)]


def parse(cls: type[T], values: Mapping[str, Any], where: str, error: type[Exception] = EdgesegError) -> T:
    """The dataclass `cls` from user input (`where` opens every error, e.g. "model 'unet'")."""
    names = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise error(f"{where} has no option {unknown[0]!r}; valid options: {', '.join(sorted(names)) or 'none'}")
    hints = typing.get_type_hints(cls, include_extras=True)
    obj = cls(**{key: _read(value, hints[key]) for key, value in values.items()})
    for key in values:
        item, value = _item_hint(hints[key]), getattr(obj, key)
        if item is not None and isinstance(value, tuple) and not all(fits(v, item) for v in value):
            raise error(f"{where}: {key} must be a comma-separated list, each {type_name(item)}, "
                        f"got {values[key]!r:.60}")
    check_fields(obj, where, error)
    return obj


def check_fields(obj, where: str, error: type[Exception] = EdgesegError, *, dotted: bool = False) -> None:
    """Refuse a dataclass whose field values do not have their annotated types and limits.

    Errors name the field as "WHERE: FIELD", or as the path "WHERE.FIELD" with `dotted` (a file's fields)."""
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in fields(obj):
        value = getattr(obj, f.name)
        hint = hints[f.name]
        if not fits(value, hint):
            name = f"{where}.{f.name}" if dotted else f"{where}: {f.name}"
            raise error(f"{name} must be {type_name(hint)}, got {value!r:.60}")


def fits(value, hint) -> bool:
    """Does `value` have the type (and lie within the limits) `hint` says?"""
    if hint is Any:
        return True
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        return fits(value, base) and all(x.hold(value) for x in extras if isinstance(x, Limits))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(fits(value, h) for h in typing.get_args(hint))
    hint = typing.get_origin(hint) or hint
    if isinstance(value, bool) and hint in (int, float):
        return False
    if hint is float:  # a number field holds a finite number: NaN or inf would train or segment silently wrong
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, hint)


def type_name(hint) -> str:
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        limits = [x for x in extras if isinstance(x, Limits)]
        return limits[0].describe(base) if limits else type_name(base)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(h) for h in typing.get_args(hint))
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
             dict: "an object", tuple: "a list", list: "a list"}
    return names.get(typing.get_origin(hint) or hint, getattr(hint, "__name__", str(hint)))


def _item_hint(hint):
    """X for a `tuple[X, ...]` hint, else None."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _read(value, hint):
    """A value as its field's type: text parsed (`"0.25"`, `"true"`, `"null"`, `"1,2"` for a list), an int
    widened to a float field; anything that does not fit is returned unchanged for `check_fields` to refuse."""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    item = _item_hint(hint)
    if item is not None:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")] if value.strip() else []
        return tuple(_read(v, item) for v in value) if isinstance(value, (list, tuple)) else value
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if isinstance(value, str):
        if type(None) in options and value.lower() in ("null", "none"):
            return None
        if str in options:
            return value
        for option in options:
            parsed = _from_text(value, option)
            if parsed is not None:
                return parsed
        return value
    if float in options and int not in options and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _from_text(text: str, hint):
    if hint is bool:
        return {"true": True, "false": False, "1": True, "0": False}.get(text.strip().lower())
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            return None
    return None
