"""Checkpoints: weights in safetensors + a JSON sidecar. Never pickle: a checkpoint is untrusted input.

`run/best.safetensors` + `run/best.json`; either path (or the stem `run/best`) names the checkpoint.
The JSON holds the format tag, model name and config, recipe, normalisation, epoch, metrics and the
sha256 of the weights file. Loading verifies the checksum, rebuilds the model from the registry and
refuses any tensor whose name, shape or dtype differs from what that model expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import IntegrityError
from .files import atomic_path, sha256, write_json

FORMAT = "edgeseg.checkpoint/1"
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".bin", ".tar"}


@dataclass
class CheckpointInfo:
    model: str
    config: dict[str, Any]
    normalization: dict[str, Any]
    recipe: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    weights: str = ""  # file name of the safetensors file, next to the JSON
    weights_sha256: str = ""
    format: str = FORMAT


def paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) for a checkpoint named by either file or by its stem."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise IntegrityError(
            f"{path.name}: pickle checkpoints are not loaded (they can run code); "
            "edgeseg checkpoints are a .safetensors file with a .json sidecar"
        )
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save(path: str | Path, model, info: CheckpointInfo) -> Path:
    """Write weights then sidecar, each atomically; returns the sidecar path."""
    from safetensors.torch import save_file

    weights, sidecar = paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    info.weights = weights.name
    info.weights_sha256 = sha256(weights)
    write_json(sidecar, info.__dict__)
    return sidecar


def read_info(path: str | Path) -> CheckpointInfo:
    weights, sidecar = paths(path)
    if not sidecar.is_file():
        raise IntegrityError(f"{sidecar} not found: a checkpoint is a .safetensors file with a .json sidecar")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise IntegrityError(f"{sidecar.name}: not an edgeseg checkpoint (format {data.get('format')!r})")
        return CheckpointInfo(**data)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"{sidecar.name}: malformed checkpoint sidecar ({exc})") from exc


def load(path: str | Path, device: str = "cpu"):
    """Verify and load a checkpoint: returns (model in eval mode, CheckpointInfo)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import create_model

    info = read_info(path)
    weights = paths(path)[1].with_name(info.weights)
    if Path(info.weights).name != info.weights or not weights.is_file():
        raise IntegrityError(f"weights file {info.weights!r} named by the checkpoint is missing")
    if sha256(weights) != info.weights_sha256:
        raise IntegrityError(f"{weights.name}: sha256 mismatch, the weights file changed or is corrupted")
    model = create_model(info.model, **info.config)
    try:
        state = load_file(str(weights), device=device)
    except SafetensorError as exc:
        raise IntegrityError(f"{weights.name}: not a valid safetensors file ({exc})") from exc
    check_state(state, model.state_dict())
    model.load_state_dict(state)
    return model.to(device).eval(), info


def check_state(state: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise IntegrityError(f"checkpoint tensors do not match the model: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, ref in expected.items():
        got = state[name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise IntegrityError(
                f"tensor {name}: checkpoint has {tuple(got.shape)} {got.dtype}, model expects {tuple(ref.shape)} {ref.dtype}"
            )
