"""The one way tests run the `edgeseg` CLI: a fixed wide terminal without colour, and messages read as plain text.

Rich draws Typer's errors in boxes as wide as the terminal and wraps long paths, so a raw `in output`
check depends on the terminal and on the length of the temporary path. `Run.says` compares with every
box-drawing character and every whitespace removed, so a wrapped message still matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typer.testing import CliRunner

# Fixed for every invocation, whatever the terminal that runs pytest (COLUMNS=60, TERM=dumb in CI).
ENV = {"COLUMNS": "200", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1", "TERMINAL_WIDTH": "200",
       "_TYPER_FORCE_DISABLE_TERMINAL": "1", "LC_ALL": "C.UTF-8"}

_BOX = re.compile(r"[\u2500-\u257f]")
_SPACE = re.compile(r"\s+")


def plain(text: str) -> str:
    """Text without box drawing, runs of whitespace made one space."""
    return _SPACE.sub(" ", _BOX.sub(" ", text)).strip()


def _squeezed(text: str) -> str:
    return _SPACE.sub("", _BOX.sub("", text))


@dataclass
class Run:
    exit_code: int
    output: str  # stdout and stderr as printed
    exception: BaseException | None

    @property
    def lines(self) -> list[str]:
        """The output's non-blank lines (a one-line error is one line however long the path in it)."""
        return [line for line in self.output.splitlines() if line.strip()]

    @property
    def text(self) -> str:
        return plain(self.output)

    def says(self, fragment: str) -> bool:
        """True when the output holds `fragment`, however the terminal wrapped or boxed it."""
        return _squeezed(fragment) in _squeezed(self.output)


def invoke(*args: str, **kwargs) -> Run:
    """Run `edgeseg ARGS...` in-process; `kwargs` go to CliRunner.invoke (e.g. input=...)."""
    from edgeseg.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **kwargs.pop("env", {})}, **kwargs)
    return Run(result.exit_code, result.output, result.exception)
