"""The bundle manifest (`manifest.json`): schema, validation on load, checksums, atomic save.

Torch-free: the runtime on a device reads it. A bundle is a folder with one ONNX file per
(variant, precision), engines added later by `edgeseg build`, and this manifest. Every file listed is
checked against its sha256 on load; a changed byte makes the bundle refuse to load.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import typecheck
from .errors import IntegrityError
from .files import sha256, write_json

SCHEMA = "edgeseg.bundle/1"
MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "fp16", "int8")
OUTPUT_KINDS = ("logits", "probabilities")


def check_fields(obj, where: str) -> None:
    """`typecheck.check_fields` for a dataclass read from a file: fails with IntegrityError."""
    typecheck.check_fields(obj, where, IntegrityError)


@dataclass(frozen=True)
class Normalization:
    """Pixels are scaled to [0, 1] by their dtype's range, then `(x - mean) / std` per channel."""

    color: str = "rgb"  # "rgb" or "gray": what the network's input channels hold
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def __post_init__(self):
        channels = {"rgb": 3, "gray": 1}.get(self.color)
        if channels is None:
            raise IntegrityError(f"normalization.color must be 'rgb' or 'gray', got {self.color!r}")
        if len(self.mean) != channels or len(self.std) != channels:
            raise IntegrityError(f"normalization for {self.color} needs {channels} mean/std values")
        if any(s <= 0 for s in self.std):
            raise IntegrityError("normalization.std values must be positive")

    @property
    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        try:
            return cls(color=d["color"], mean=tuple(map(float, d["mean"])), std=tuple(map(float, d["std"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"malformed normalization {d!r:.80}: needs color, mean and std ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]  # a str is a dynamic axis (e.g. "batch")
    dtype: str  # numpy dtype name: "float32", "float16", ...

    def __post_init__(self):
        check_fields(self, f"tensor {self.name!r}")

    @classmethod
    def from_dict(cls, d: dict) -> TensorSpec:
        shape = tuple(d["shape"])
        if not all(isinstance(s, (int, str)) and not isinstance(s, bool) for s in shape):
            raise IntegrityError(f"tensor {d.get('name')!r}: shape entries must be ints or axis names")
        return cls(name=d["name"], shape=shape, dtype=d["dtype"])


@dataclass(frozen=True)
class Artifact:
    file: str
    sha256: str
    variant: str
    precision: str
    input: TensorSpec
    output: TensorSpec
    output_kind: str = "logits"
    threshold: float = 0.5
    opset: int = 17
    params: int | None = None
    gflops: float | None = None
    parity: dict[str, Any] = field(default_factory=dict)  # measured at export against eager fp32
    trt_check: dict[str, Any] = field(default_factory=dict)  # TensorRT parser compatibility check
    details: dict[str, Any] = field(default_factory=dict)  # precision notes (fp32-kept nodes, calibration)

    def __post_init__(self):
        check_fields(self, f"artifact {self.file!r}")
        if self.precision not in PRECISIONS:
            raise IntegrityError(f"artifact {self.file}: precision {self.precision!r} not in {PRECISIONS}")
        if self.output_kind not in OUTPUT_KINDS:
            raise IntegrityError(f"artifact {self.file}: output_kind {self.output_kind!r} not in {OUTPUT_KINDS}")

    @property
    def key(self) -> str:
        return f"{self.variant}.{self.precision}"

    @classmethod
    def from_dict(cls, d: dict) -> Artifact:
        d = dict(d)
        d["input"] = TensorSpec.from_dict(d["input"])
        d["output"] = TensorSpec.from_dict(d["output"])
        return cls(**d)


@dataclass(frozen=True)
class Engine:
    """A TensorRT engine built from one artifact on one GPU with one TensorRT version."""

    file: str
    sha256: str
    artifact: str  # the ONNX file it was built from
    target: str
    gpu: str
    compute_capability: str
    trt_version: str
    cache_key: str
    settings: dict[str, Any] = field(default_factory=dict)
    layer_precisions: dict[str, Any] = field(default_factory=dict)  # read from the engine inspector

    def __post_init__(self):
        check_fields(self, f"engine {self.file!r}")

    @classmethod
    def from_dict(cls, d: dict) -> Engine:
        return cls(**d)


@dataclass(frozen=True)
class Manifest:
    model: dict[str, Any]  # {"name": ..., "config": {...}}
    normalization: Normalization
    artifacts: tuple[Artifact, ...]
    engines: tuple[Engine, ...] = ()
    tools: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # checkpoint it came from: file, sha256, epoch
    export: dict[str, Any] = field(default_factory=dict)  # export settings: target, img_size, batch, calibration
    schema: str = SCHEMA

    def __post_init__(self):
        check_fields(self, "manifest")
        size = self.export.get("img_size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise IntegrityError(f"manifest export.img_size must be a positive integer, got {size!r:.60}")

    def artifact(self, variant: str | None = None, precision: str | None = None) -> Artifact:
        """The artifact for (variant, precision); None means "the first one in the manifest"."""
        hits = [
            a
            for a in self.artifacts
            if (variant is None or a.variant == variant) and (precision is None or a.precision == precision)
        ]
        if not hits:
            have = ", ".join(a.key for a in self.artifacts) or "none"
            raise IntegrityError(f"bundle has no artifact for variant={variant} precision={precision}; it has: {have}")
        return hits[0]

    def with_engine(self, engine: Engine) -> Manifest:
        """A new manifest with `engine` added (replacing one with the same file name)."""
        engines = tuple(e for e in self.engines if e.file != engine.file) + (engine,)
        return Manifest(**{**self.__dict__, "engines": engines})

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}

    @classmethod
    def from_dict(cls, d: Any) -> Manifest:
        if not isinstance(d, dict):
            raise IntegrityError("manifest must be a JSON object")
        if d.get("schema") != SCHEMA:
            raise IntegrityError(f"unsupported manifest schema {d.get('schema')!r}; this edgeseg reads {SCHEMA}")
        try:
            model = d["model"]
            if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                raise IntegrityError("manifest.model must have a name")
            return cls(
                model=model,
                normalization=Normalization.from_dict(d["normalization"]),
                artifacts=tuple(Artifact.from_dict(a) for a in d["artifacts"]),
                engines=tuple(Engine.from_dict(e) for e in d.get("engines", [])),
                tools=dict(d.get("tools", {})),
                source=dict(d.get("source", {})),
                export=dict(d.get("export", {})),
            )
        except IntegrityError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"malformed manifest: {type(exc).__name__}: {exc}") from exc


def load(bundle: str | Path, verify: bool = True) -> Manifest:
    """Read and validate `bundle/manifest.json`; with `verify`, check every listed file's sha256."""
    bundle = Path(bundle)
    path = bundle / MANIFEST if bundle.is_dir() else bundle
    if not path.is_file():
        raise IntegrityError(f"{bundle} is not a bundle: no {MANIFEST} found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path}: not valid JSON ({exc})") from exc
    manifest = Manifest.from_dict(data)
    if verify:
        for entry in (*manifest.artifacts, *manifest.engines):
            if Path(entry.file).name != entry.file or entry.file in ("", ".", ".."):
                raise IntegrityError(f"manifest lists {entry.file!r}: file names must be plain names in the bundle")
            verify_file(path.parent / entry.file, entry.sha256)
    return manifest


def verify_file(path: Path, expected: str) -> None:
    if not path.is_file():
        raise IntegrityError(f"{path.name} is listed in the manifest but missing")
    actual = sha256(path)
    if actual != expected:
        raise IntegrityError(f"{path.name}: sha256 mismatch (file changed or corrupted): {actual[:12]} != {expected[:12]}")


def save(bundle: str | Path, manifest: Manifest) -> Path:
    return write_json(Path(bundle) / MANIFEST, manifest.to_dict())
