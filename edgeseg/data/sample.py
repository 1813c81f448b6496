"""What every data source yields (`Sample`) and how a source string's `?key=value` query is read.

Its own module so that `sources` (which opens synthetic sources) and `synthetic` (which yields
samples) both import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np

from ..errors import EdgesegError


@dataclass
class Sample:
    image: np.ndarray  # HxW or HxWxC, uint8/uint16 (as stored)
    mask: np.ndarray  # HxW uint8 class indices
    name: str
    mask_file: str = ""  # where the mask was read from, for error messages ("": generated)
    thresholded: bool = False  # the stored mask was not class indices and was thresholded to 0/1


def parse_query(query: str, allowed: set[str], src: str) -> dict[str, str]:
    """`key=value&key=value` -> dict; a malformed query or a key not in `allowed` fails naming `src`."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise EdgesegError(f"{src}: malformed query {query!r}; write it as ?key=value&key=value") from None
    params = dict(pairs)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise EdgesegError(f"{src}: unknown parameter {unknown[0]!r}; valid: {', '.join(sorted(allowed))}")
    return params
