"""Checkpoints: weights in safetensors + a JSON sidecar. Never pickle: a checkpoint is untrusted input.

`run/best.safetensors` + `run/best.json`; either path (or the stem `run/best`) names the checkpoint.
The JSON holds the format tag, model name and config, recipe, normalisation, epoch, metrics and the
sha256 of the weights file. Loading verifies the checksum and the normalisation, sizes the model on
the meta device before building it (a config asking for more than the weights file holds is refused
unallocated), and refuses any tensor whose name, shape or dtype differs from what that model expects
or that holds NaN or inf.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import IntegrityError
from .files import atomic_path, sha256, shown, write_json
from .manifest import Normalization, check_fields
from .typecheck import fits, type_name

FORMAT = "edgeseg.checkpoint/1"
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".bin", ".tar"}
SIZE_SLACK = 64 << 20  # bytes a sidecar's config may ask for beyond twice its weights file before it is refused


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

    def __post_init__(self):
        check_fields(self, "checkpoint")
        if Path(self.weights).name != self.weights:
            raise IntegrityError(f"weights {self.weights!r} must be a plain file name next to the sidecar")
        size = self.recipe.get("img_size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise IntegrityError(f"recipe.img_size must be a positive integer, got {size!r:.60}")


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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{sidecar.name}: malformed checkpoint sidecar ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise IntegrityError(f"{sidecar.name}: not an edgeseg checkpoint (format {found!r}, expected {FORMAT!r})")
    try:
        info = CheckpointInfo(**_known_fields(data, CheckpointInfo))
        if info.normalization:  # empty: not recorded (a model saved outside training); export then refuses it
            Normalization.from_dict(info.normalization)  # finite, in range, the right count per colour
        return info
    except IntegrityError as exc:
        raise IntegrityError(f"{shown(sidecar.name)}: malformed checkpoint sidecar ({exc})") from exc


def _known_fields(data: dict, cls) -> dict:
    """`data` if it names every required field of the dataclass `cls` and no other, else an error naming them."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    missing = [f.name for f in fields(cls)
               if f.default is MISSING and f.default_factory is MISSING and f.name not in data]
    if unknown or missing:
        raise IntegrityError(f"unknown field(s) {unknown}" if unknown else f"missing field(s) {missing}")
    return data


def load(path: str | Path, device: str = "cpu"):
    """Verify and load a checkpoint: returns (model in eval mode, CheckpointInfo)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import create_model

    info = read_info(path)
    weights = paths(path)[1].with_name(info.weights) if info.weights else None
    if weights is None or not weights.is_file():
        raise IntegrityError(f"weights file {info.weights!r} named by the checkpoint is missing")
    if sha256(weights) != info.weights_sha256:
        raise IntegrityError(f"{weights.name}: sha256 mismatch, the weights file changed or is corrupted")
    size = model_bytes(lambda: create_model(info.model, **info.config))
    if size > 2 * weights.stat().st_size + SIZE_SLACK:  # small mismatches get the precise tensor message below
        raise IntegrityError(f"{shown(weights.name)} holds {weights.stat().st_size:,} bytes but config {info.config} "
                             f"describes a {info.model} of {size:,} bytes: the sidecar does not match its weights")
    model = create_model(info.model, **info.config)
    try:
        state = load_file(str(weights), device=device)
    except SafetensorError as exc:
        raise IntegrityError(f"{weights.name}: not a valid safetensors file ({exc})") from exc
    check_state(state, model.state_dict())
    model.load_state_dict(state)
    return model.to(device).eval(), info


def model_bytes(build) -> int:
    """Bytes of the parameters and buffers `build()` would allocate, counted on the meta device (nothing allocated)."""
    import torch

    with torch.device("meta"):
        model = build()
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def check_state(state: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise IntegrityError(f"checkpoint tensors do not match the model: missing {missing[:3]}, "
                             f"unexpected {extra[:3]}")
    for name, ref in expected.items():
        got = state[name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise IntegrityError(f"tensor {name}: checkpoint has {tuple(got.shape)} {got.dtype}, "
                                 f"model expects {tuple(ref.shape)} {ref.dtype}")
        if got.is_floating_point() and not got.isfinite().all():
            raise IntegrityError(f"tensor {name} holds NaN or inf: the weights come from a diverged training")


# --- resume state -----------------------------------------------------------------------------------
# A training run's folder holds `resume.json` + `resume-EEEE.safetensors`: model weights, optimizer
# tensors and RNG states in safetensors, everything else (optimizer hyper-parameters, scheduler,
# grad scaler, history, run settings) in the JSON. The JSON is written last and names the tensor
# file with its sha256, so it is the commit point: a run killed at any moment resumes from the last
# epoch whose JSON was written, and older tensor files are removed only after that.
RESUME_FORMAT = "edgeseg.resume/1"
RESUME = "resume.json"
RESUME_FIELDS = {"epoch": int, "settings": dict, "model": str, "model_config": dict, "phase": int, "carried": list,
                 "history": list, "best": dict, "optimizer": dict, "scheduler": dict | None, "scaler": dict | None}


def save_resume(folder: str | Path, epoch: int, tensors: dict, state: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    weights = folder / f"resume-{epoch:04d}.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"format": RESUME_FORMAT})
    sidecar = write_json(folder / RESUME, {"format": RESUME_FORMAT, "epoch": epoch, "tensors": weights.name,
                                           "tensors_sha256": sha256(weights), **state})
    for old in folder.glob("resume-*.safetensors"):
        if old.name != weights.name:
            old.unlink(missing_ok=True)
    return sidecar


def load_resume(folder: str | Path) -> tuple[dict[str, Any], dict]:
    """(state JSON, tensors) of the last committed epoch; refuses anything that is not ours or changed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    sidecar = Path(folder) / RESUME
    if not sidecar.is_file():
        raise IntegrityError(f"{shown(sidecar)} not found: nothing to resume in {shown(folder)} (no epoch finished); "
                             "run again without --resume to start over")
    try:
        state = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{sidecar.name}: malformed resume state ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise IntegrityError(f"{sidecar.name}: not an edgeseg resume state")
    for key, hint in RESUME_FIELDS.items():
        if key not in state or not fits(state[key], hint):
            raise IntegrityError(f"{sidecar.name}: field {key} must be {type_name(hint)}, "
                                 f"got {state.get(key, 'nothing')!r:.60}")
    name = state.get("tensors", "")
    weights = sidecar.with_name(name)
    if Path(name).name != name or not weights.is_file():
        raise IntegrityError(f"resume tensors {name!r} named by {sidecar.name} are missing")
    if sha256(weights) != state.get("tensors_sha256"):
        raise IntegrityError(f"{weights.name}: sha256 mismatch, the resume state changed or is corrupted")
    try:
        return state, load_file(str(weights))
    except SafetensorError as exc:
        raise IntegrityError(f"{weights.name}: not a valid safetensors file ({exc})") from exc


def split_optimizer_state(state_dict: dict, prefix: str = "optim") -> tuple[dict, dict]:
    """torch optimizer state_dict -> (tensors for safetensors, JSON-able rest)."""
    import torch

    tensors, scalars = {}, {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def join_optimizer_state(tensors: dict, rest: dict, prefix: str = "optim") -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for name, value in rest["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}
