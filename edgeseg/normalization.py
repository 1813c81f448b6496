"""How pixels become network input: colour, then `(x - mean) / std` per channel (torch-free, no bundle schema).

Data loading, training, export and the runtime all take a `Normalization`; a checkpoint sidecar and a
bundle manifest both store one. Values are validated on construction, so one read from a file can
never turn every pixel into NaN, inf or a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import IntegrityError

CHANNELS = {"rgb": 3, "gray": 1}
# Pixels are in [0, 1] before normalising: a mean this far out or a std this small or large is a
# broken file (std 1e-300 divides every pixel into inf; mean 1e308 overflows float32), not a recipe.
MEAN_LIMIT = 1e3
STD_RANGE = (1e-6, 1e3)


@dataclass(frozen=True)
class Normalization:
    """Pixels are scaled to [0, 1] by their dtype's range, then `(x - mean) / std` per channel."""

    color: str = "rgb"  # "rgb" or "gray": what the network's input channels hold
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def __post_init__(self):
        channels = CHANNELS.get(self.color) if isinstance(self.color, str) else None
        if channels is None:
            raise IntegrityError(f"normalization.color must be 'rgb' or 'gray', got {self.color!r:.40}")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != channels:
                raise IntegrityError(
                    f"normalization.{name} for {self.color} "
                    f"needs {channels} values, got {len(values)}"
                )
        for value in self.mean:
            if not (math.isfinite(value) and abs(value) <= MEAN_LIMIT):
                raise IntegrityError(
                    "normalization.mean values must be finite "
                    f"and within +-{MEAN_LIMIT:g}, got {value!r}"
                )
        lo, hi = STD_RANGE
        for value in self.std:
            if not (math.isfinite(value) and lo <= value <= hi):
                raise IntegrityError(f"normalization.std values must be finite and in [{lo:g}, {hi:g}], got {value!r}")

    @property
    def channels(self) -> int:
        return CHANNELS[self.color]

    def to_dict(self) -> dict[str, Any]:
        return {"color": self.color, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: Any) -> Normalization:
        if not isinstance(d, dict):
            raise IntegrityError(f"normalization must be an object with color, mean and std, got {type(d).__name__}")
        unknown = sorted(set(d) - {"color", "mean", "std"})
        if unknown:
            raise IntegrityError(f"normalization has unknown field(s): {', '.join(map(str, unknown))[:80]}")
        missing = [k for k in ("color", "mean", "std") if k not in d]
        if missing:
            raise IntegrityError(f"normalization needs {', '.join(missing)}")
        return cls(color=d["color"], mean=_floats(d["mean"], "mean"), std=_floats(d["std"], "std"))


def _floats(values: Any, name: str) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or len(values) > 4:
        raise IntegrityError(f"normalization.{name} must be a list of 1 or 3 numbers, got {values!r:.60}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise IntegrityError(f"normalization.{name} must hold numbers, got {values!r:.60}")
    try:
        return tuple(float(v) for v in values)
    except OverflowError as exc:
        raise IntegrityError(f"normalization.{name} holds a number too large for a float") from exc
