"""Library messages name their parameters in backquotes (`min_iou`); a command shows them as its flags (--min-iou)."""

from __future__ import annotations

import contextlib
import re

from ..errors import EdgesegError


def flags_of(ctx, **renamed: str) -> dict[str, str]:
    """This command's parameter names -> their long flags; `renamed` adds library parameters spelled otherwise here."""
    return {**{p.name: p.opts[0] for p in ctx.command.params if p.opts[0].startswith("--")}, **renamed}


def as_flags(message: str, flags: dict[str, str]) -> str:
    """A library message with its parameter names (`min_iou`) written as this command's flags (--min-iou)."""
    return re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), m.group(0)), message)


@contextlib.contextmanager
def flag_errors(flags: dict[str, str]):
    """Re-raises a library error with its parameter names written as `flags`, keeping its type."""
    try:
        yield
    except EdgesegError as exc:
        raise type(exc)(as_flags(str(exc), flags)) from None
