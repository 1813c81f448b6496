"""The bundle manifest (`manifest.json`): schema, validation on load, checksums, atomic save.

Torch-free: the runtime on a device reads it. A bundle is a folder with one self-contained ONNX file
per (variant, precision), engines added later by `edgeseg build`, and this manifest. Loading checks,
in this order, before anything is allocated from the file's numbers: its size and nesting depth, that
it is JSON without NaN/Infinity or giant integers, the digest of its own canonical content (so a
changed byte in the manifest itself is refused), its schema (every field's type and range, no unknown
or duplicate entries), then every listed file's sha256, and that each ONNX file is the graph its entry
describes (input/output names, shapes, dtypes, opset, precision, and the export's stamp naming the
model, variant, precision, parameter count and source weights). External ONNX data is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import onnxgraph, typecheck
from .errors import IntegrityError
from .files import sha256, write_json
from .normalization import Normalization  # also reached as manifest.Normalization by the bundle's readers

SCHEMA = "edgeseg.bundle/2"
MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "fp16", "int8")
OUTPUT_KINDS = ("logits", "probabilities")
IMAGE = "input"  # the image tensor's name: what a progressive chain's first step reads
STAMP = "edgeseg"  # ONNX metadata_props key holding what the export wrote the graph as

MAX_MANIFEST_BYTES = 16 << 20  # a 12-artifact manifest with engine layer reports is well under 1 MB
MAX_DEPTH = 32
MAX_INT_DIGITS = 20
MAX_ONNX_BYTES = 2 << 30  # protobuf's own limit: larger models need external data, which bundles refuse
MAX_SIDE = 8192  # model input/output height and width (the runtime refuses larger images too)
MAX_BATCH = 4096
MAX_CHANNELS = {"input": 4, "output": 1024, "carried": 8192}  # carried: maps one progressive step passes on
MAX_STEPS = 16  # steps of one progressive chain
MAX_STEP_TENSORS = 64  # inputs, and outputs, of one step
MAX_TENSOR_ELEMENTS = 1 << 28  # one batch of one tensor: 1 GiB of float32
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}")  # variants, tensor and axis names
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")  # a plain file name inside the bundle


def check_fields(obj, where: str) -> None:
    """`typecheck.check_fields` for a dataclass read from a file: IntegrityError naming the field's path."""
    typecheck.check_fields(obj, where, IntegrityError, dotted=True)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list, tuple)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _build(cls, d: Any, where: str, **converted):
    """`cls(**d)` for a JSON object, refusing unknown and missing fields by name (never a Python TypeError)."""
    if not isinstance(d, dict):
        raise IntegrityError(f"{where} must be an object, got {_show(d)}")
    names = [f.name for f in fields(cls)]
    unknown = [k for k in d if k not in names]
    if unknown:
        raise IntegrityError(f"{where} has an unknown field {str(unknown[0])[:60]!r}")
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING and f.name not in d]
    if missing:
        raise IntegrityError(f"{where} is missing its {missing[0]} field")
    return cls(**{**d, **converted})


def _check_name(value: str, where: str, pattern: re.Pattern = _NAME) -> None:
    if not pattern.fullmatch(value):
        raise IntegrityError(f"{where} must be a plain name (letters, digits, _ . + -), got {_show(value)}")


def _check_int(value: int | None, where: str, lo: int, hi: int) -> None:
    if value is not None and not lo <= value <= hi:
        raise IntegrityError(f"{where} must be in [{lo}, {hi}], got {value}")


def _check_float(value: float | None, where: str, lo: float, hi: float, *, open_ends: bool = False) -> None:
    if value is None:
        return
    inside = lo < value < hi if open_ends else lo <= value <= hi
    if not (math.isfinite(value) and inside):
        ends = f"({lo:g}, {hi:g})" if open_ends else f"[{lo:g}, {hi:g}]"
        raise IntegrityError(f"{where} must be a finite number in {ends}, got {value!r}")


def _check_sha(value: str, where: str) -> None:
    if not _SHA256.fullmatch(value):
        raise IntegrityError(f"{where} must be a sha256 (64 lowercase hex digits), got {_show(value)}")


MAX_CLASS_NAME = 40


def check_class_names(names: Any, classes: Any, where: str) -> None:
    """One short, printable name per class 0..classes-1 (what predict's overlay legend shows)."""
    if not isinstance(classes, int) or classes < 2:
        raise IntegrityError(f"{where}: class names are for outputs of several classes, this one has {classes}")
    if not isinstance(names, list) or len(names) != classes:
        raise IntegrityError(f"{where} must list one name for each of the {classes} classes, got {_show(names)}")
    for name in names:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CLASS_NAME or not name.isprintable():
            raise IntegrityError(f"{where}: each name must be 1-{MAX_CLASS_NAME} printable characters, "
                                 f"got {_show(name)}")


@dataclass(frozen=True)
class TensorSpec:
    """An (N, C, H, W) tensor: N an int or an axis name (dynamic batch), C, H, W fixed."""

    name: str
    shape: tuple[int | str, ...]  # a str is a dynamic axis (e.g. "batch")
    dtype: str  # numpy dtype name: "float32", "float16", ...

    def __post_init__(self):
        check_fields(self, "tensor")

    def check(self, where: str, max_channels: int) -> None:
        """Names, dtype and every dimension within the limits, before anything is allocated from them."""
        _check_name(self.name, f"{where}.name")
        if self.dtype not in onnxgraph.DTYPES.values():
            raise IntegrityError(f"{where}.dtype {_show(self.dtype)} is not a tensor dtype")
        if len(self.shape) != 4:
            raise IntegrityError(
                f"{where}.shape must be [batch, channels, "
                f"height, width], got {len(self.shape)} entries"
            )
        for i, (dim, hi) in enumerate(zip(self.shape, (MAX_BATCH, max_channels, MAX_SIDE, MAX_SIDE))):
            if isinstance(dim, str) and i == 0:
                _check_name(dim, f"{where}.shape[0]")
            elif isinstance(dim, int):
                _check_int(dim, f"{where}.shape[{i}]", 1, hi)
            else:
                raise IntegrityError(f"{where}.shape[{i}] must be an integer" + (" or an axis name" if i == 0 else ""))
        batch, channels, height, width = self.shape
        if (batch if isinstance(batch, int) else 1) * channels * height * width > MAX_TENSOR_ELEMENTS:
            raise IntegrityError(
                f"{where}.shape {_dims(self.shape)} holds over "
                f"{MAX_TENSOR_ELEMENTS:,} values per batch"
            )

    @classmethod
    def from_dict(cls, d: Any, where: str = "tensor") -> TensorSpec:
        if isinstance(d, dict) and isinstance(d.get("shape"), list):
            d = {**d, "shape": tuple(d["shape"])}
        return _build(cls, d, where)


@dataclass(frozen=True)
class Artifact:
    file: str
    sha256: str
    variant: str
    precision: str
    input: TensorSpec
    output: TensorSpec
    output_kind: str = "logits"
    threshold: float = 0.5  # on probabilities: a pixel is foreground when p > threshold
    opset: int = 17
    params: int | None = None
    gflops: float | None = None
    parity: dict[str, Any] = field(default_factory=dict)  # measured at export against eager fp32
    trt_check: dict[str, Any] = field(default_factory=dict)  # TensorRT parser compatibility check
    details: dict[str, Any] = field(default_factory=dict)  # precision notes (fp32-kept nodes, calibration)

    def __post_init__(self):
        check_fields(self, "artifact")
        if self.file:  # empty for a model that has no ONNX file (the benchmark's torch rows); a manifest refuses it
            _check_name(self.file, "artifact.file", _FILE)
        if self.sha256:  # empty only while an export is still writing the file
            _check_sha(self.sha256, f"artifact {self.file}: sha256")
        _check_name(self.variant, f"artifact {self.file}: variant")
        if self.precision not in PRECISIONS:
            raise IntegrityError(
                f"artifact {self.file}: precision {_show(self.precision)} "
                f"is not one of {', '.join(PRECISIONS)}"
            )
        if self.output_kind not in OUTPUT_KINDS:
            raise IntegrityError(
                f"artifact {self.file}: output_kind {_show(self.output_kind)} "
                f"is not one of {', '.join(OUTPUT_KINDS)}"
            )
        _check_float(self.threshold, f"artifact {self.file}: threshold", 0.0, 1.0, open_ends=True)
        _check_int(self.opset, f"artifact {self.file}: opset", 7, 99)
        _check_int(self.params, f"artifact {self.file}: params", 0, 10**12)
        _check_float(self.gflops, f"artifact {self.file}: gflops", 0.0, 1e9)
        self.input.check(f"artifact {self.file}: input", MAX_CHANNELS["input"])
        self.output.check(f"artifact {self.file}: output", MAX_CHANNELS["output"])

    @property
    def key(self) -> str:
        return f"{self.variant}.{self.precision}"

    @classmethod
    def from_dict(cls, d: Any, where: str = "artifact") -> Artifact:
        if not isinstance(d, dict):
            raise IntegrityError(f"{where} must be an object, got {_show(d)}")
        tensors = {k: TensorSpec.from_dict(d[k], f"{where}.{k}") for k in ("input", "output") if k in d}
        return _build(cls, d, where, **tensors)


@dataclass(frozen=True)
class Step:
    """One graph of a progressive chain: it reads the image (`input`) and/or maps earlier steps wrote,
    and writes its level's prediction plus the maps later steps read."""

    file: str
    sha256: str
    level: str  # the level its prediction is ("L2", "stage1", "fused")
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    prediction: str  # the output holding the level's prediction
    params: int | None = None
    gflops: float | None = None  # this step's own work (cumulative: the sum over the steps so far)
    parity: dict[str, Any] = field(default_factory=dict)
    trt_check: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_fields(self, "step")
        if self.file:  # empty only while an export is still writing the file
            _check_name(self.file, "step.file", _FILE)
        if self.sha256:
            _check_sha(self.sha256, f"step {self.file}: sha256")
        where = f"step {self.file}"
        _check_name(self.level, f"{where}: level")
        _check_int(self.params, f"{where}: params", 0, 10**12)
        _check_float(self.gflops, f"{where}: gflops", 0.0, 1e9)
        for kind, specs in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not 1 <= len(specs) <= MAX_STEP_TENSORS:
                raise IntegrityError(f"{where}: {kind} must list 1 to {MAX_STEP_TENSORS} tensors, got {len(specs)}")
            for spec in specs:
                if not isinstance(spec, TensorSpec):
                    raise IntegrityError(f"{where}: {kind} must hold tensor specs")
            _refuse_duplicates([spec.name for spec in specs], f"{where} {kind[:-1]} name")
        for spec in self.inputs:
            limit = MAX_CHANNELS["input"] if spec.name == IMAGE else MAX_CHANNELS["carried"]
            spec.check(f"{where}: input {spec.name}", limit)
        if self.prediction not in {spec.name for spec in self.outputs}:
            raise IntegrityError(f"{where}: prediction {_show(self.prediction)} is not one of its outputs")
        for spec in self.outputs:
            if spec.name == IMAGE:
                raise IntegrityError(f"{where}: an output may not be named {IMAGE!r} (the image)")
            limit = MAX_CHANNELS["output"] if spec.name == self.prediction else MAX_CHANNELS["carried"]
            spec.check(f"{where}: output {spec.name}", limit)

    @property
    def output(self) -> TensorSpec:
        """The prediction's tensor."""
        return next(spec for spec in self.outputs if spec.name == self.prediction)

    @classmethod
    def from_dict(cls, d: Any, where: str = "step") -> Step:
        if not isinstance(d, dict):
            raise IntegrityError(f"{where} must be an object, got {_show(d)}")
        tensors = {}
        for kind in ("inputs", "outputs"):
            if kind in d:
                specs = d[kind]
                if not isinstance(specs, list) or len(specs) > MAX_STEP_TENSORS:
                    raise IntegrityError(f"{where}.{kind} must be a list of at most {MAX_STEP_TENSORS} tensors")
                tensors[kind] = tuple(TensorSpec.from_dict(t, f"{where}.{kind}[{i}]") for i, t in enumerate(specs))
        return _build(cls, d, where, **tensors)


@dataclass(frozen=True)
class Progressive:
    """A progressive variant in one precision: steps run in order, each refining the last one's prediction.

    Every step input is the image or an output of an earlier step with the same spec; output names are
    unique over the chain; every prediction has the image's batch, height and width."""

    variant: str
    precision: str
    steps: tuple[Step, ...]
    output_kind: str = "logits"
    threshold: float = 0.5
    opset: int = 17
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_fields(self, "progressive")
        where = f"progressive {self.variant}.{self.precision}"
        _check_name(self.variant, "progressive.variant")
        if self.precision not in PRECISIONS:
            raise IntegrityError(f"{where}: precision is not one of {', '.join(PRECISIONS)}")
        if self.output_kind not in OUTPUT_KINDS:
            raise IntegrityError(f"{where}: output_kind is not one of {', '.join(OUTPUT_KINDS)}")
        _check_float(self.threshold, f"{where}: threshold", 0.0, 1.0, open_ends=True)
        _check_int(self.opset, f"{where}: opset", 7, 99)
        if not 1 <= len(self.steps) <= MAX_STEPS or not all(isinstance(s, Step) for s in self.steps):
            raise IntegrityError(f"{where}: steps must list 1 to {MAX_STEPS} steps")
        _refuse_duplicates([s.level for s in self.steps], f"{where} level")
        first = self.steps[0]
        if [spec.name for spec in first.inputs] != [IMAGE]:
            raise IntegrityError(f"{where}: the first step must read the image ({IMAGE!r}) and nothing else")
        image = first.inputs[0]
        written: dict[str, TensorSpec] = {IMAGE: image}
        for step in self.steps:
            for spec in step.inputs:
                if written.get(spec.name) != spec:
                    raise IntegrityError(f"step {step.file} reads {spec.name!r}, which no earlier step writes "
                                         "with that shape and dtype")
            for spec in step.outputs:
                if spec.name in written:
                    raise IntegrityError(f"step {step.file} writes {spec.name!r}, which the chain already has")
                written[spec.name] = spec
            pred = step.output.shape
            if (pred[0], *pred[2:]) != (image.shape[0], *image.shape[2:]):
                raise IntegrityError(f"step {step.file}: its prediction is {_dims(pred)}, "
                                     f"the image {_dims(image.shape)} (batch, height and width must match)")

    @property
    def key(self) -> str:
        return f"{self.variant}.{self.precision}"

    @property
    def file(self) -> str:
        """How messages name the chain (it has one file per step)."""
        return f"{self.key} chain"

    @property
    def input(self) -> TensorSpec:
        return self.steps[0].inputs[0]

    @property
    def output(self) -> TensorSpec:
        """The last step's prediction."""
        return self.steps[-1].output

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(step.level for step in self.steps)

    @classmethod
    def from_dict(cls, d: Any, where: str = "progressive") -> Progressive:
        if not isinstance(d, dict):
            raise IntegrityError(f"{where} must be an object, got {_show(d)}")
        steps = d.get("steps")
        if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
            raise IntegrityError(f"{where}.steps must be a list of 1 to {MAX_STEPS} steps")
        return _build(cls, d, where, steps=tuple(Step.from_dict(s, f"{where}.steps[{i}]") for i, s in enumerate(steps)))


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
        check_fields(self, "engine")
        _check_name(self.file, "engine.file", _FILE)
        _check_sha(self.sha256, f"engine {self.file}: sha256")
        _check_name(self.artifact, f"engine {self.file}: artifact", _FILE)
        for f in ("target", "gpu", "compute_capability", "trt_version", "cache_key"):
            if len(getattr(self, f)) > 200:
                raise IntegrityError(f"engine {self.file}: {f} is longer than 200 characters")

    @classmethod
    def from_dict(cls, d: Any, where: str = "engine") -> Engine:
        return _build(cls, d, where)


@dataclass(frozen=True)
class Source:
    """The checkpoint a bundle was exported from: a plain name, looked up by its weights' sha256."""

    checkpoint: str | None = None  # the checkpoint's stem (no folder): `best`, `last`
    weights_sha256: str | None = None
    epoch: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    def __post_init__(self):
        check_fields(self, "source")
        if self.checkpoint is not None:
            _check_name(self.checkpoint, "source.checkpoint", _FILE)
            if self.weights_sha256 is None:
                raise IntegrityError("source.checkpoint needs source.weights_sha256 (the checkpoint is found by it)")
        if self.weights_sha256 is not None:
            _check_sha(self.weights_sha256, "source.weights_sha256")
        _check_int(self.epoch, "source.epoch", 0, 10**9)

    @classmethod
    def from_dict(cls, d: Any) -> Source:
        return _build(cls, d, "source")


@dataclass(frozen=True)
class BatchSettings:
    dynamic: bool
    size: int | None = None  # the fixed batch of a static export
    max: int | None = None  # the largest batch engines are built for, with a dynamic batch axis

    def __post_init__(self):
        check_fields(self, "export.batch")
        _check_int(self.size, "export.batch.size", 1, MAX_BATCH)
        _check_int(self.max, "export.batch.max", 1, MAX_BATCH)


@dataclass(frozen=True)
class Calibration:
    data: str  # a folder, synthetic:NAME?.., or "random"
    method: str
    requested: int
    images: int  # used, after the parity images were set aside

    def __post_init__(self):
        check_fields(self, "export.calibration")
        _check_int(self.requested, "export.calibration.requested", 1, 10**7)
        _check_int(self.images, "export.calibration.images", 1, 10**7)


@dataclass(frozen=True)
class ExportSettings:
    """How `edgeseg export` made the bundle."""

    target: str
    img_size: int
    batch: BatchSettings
    opset: int
    parity_images: int
    calibration: Calibration | None = None  # int8 only

    def __post_init__(self):
        check_fields(self, "export")
        _check_int(self.img_size, "export.img_size", 1, MAX_SIDE)
        _check_int(self.opset, "export.opset", 7, 99)
        _check_int(self.parity_images, "export.parity_images", 1, 10**7)

    @classmethod
    def from_dict(cls, d: Any) -> ExportSettings:
        if not isinstance(d, dict):
            raise IntegrityError(f"export must be an object, got {_show(d)}")
        parts = {}
        if "batch" in d:
            parts["batch"] = _build(BatchSettings, d["batch"], "export.batch")
        if d.get("calibration") is not None:
            parts["calibration"] = _build(Calibration, d["calibration"], "export.calibration")
        return _build(cls, d, "export", **parts)


@dataclass(frozen=True)
class Manifest:
    model: dict[str, Any]  # {"name": ..., "config": {...}, "variants": [...]}
    normalization: Normalization
    artifacts: tuple[Artifact, ...]
    engines: tuple[Engine, ...] = ()
    tools: dict[str, str] = field(default_factory=dict)
    source: Source = field(default_factory=Source)
    export: ExportSettings | None = None
    progressive: tuple[Progressive, ...] = ()  # left out of the file when empty: older readers load the bundle
    schema: str = SCHEMA

    def __post_init__(self):
        check_fields(self, "manifest")
        name = self.model.get("name")
        if not isinstance(name, str) or not name:
            raise IntegrityError("model.name must be a non-empty string")
        _check_name(name, "model.name")
        if not isinstance(self.model.get("config", {}), dict):
            raise IntegrityError("model.config must be an object")
        if not self.artifacts and not self.progressive:
            raise IntegrityError("artifacts must list at least one ONNX file")
        if len(self.progressive) > 64 or not all(isinstance(p, Progressive) for p in self.progressive):
            raise IntegrityError("progressive must list at most 64 progressive variants")
        for artifact in self.artifacts:
            if not artifact.file or not artifact.sha256:
                raise IntegrityError(f"artifact {artifact.key} needs its file name and sha256")
        for chain in self.progressive:
            for step in chain.steps:
                if not step.file or not step.sha256:
                    raise IntegrityError(f"progressive {chain.key} step {step.level} needs its file name and sha256")
        _refuse_duplicates(list(self.files()), "file")
        _refuse_duplicates([a.key for a in self.artifacts] + [p.key for p in self.progressive], "variant and precision")
        onnx_files = {a.file for a in self.artifacts} | {s.file for p in self.progressive for s in p.steps}
        for engine in self.engines:
            if engine.artifact not in onnx_files:
                raise IntegrityError(
                    f"engine {engine.file} was built from "
                    f"{engine.artifact}, which the manifest does not list"
                )
        for artifact in (*self.artifacts, *self.progressive):
            if artifact.input.shape[1] != self.normalization.channels:
                raise IntegrityError(
                    f"artifact {artifact.file} takes {artifact.input.shape[1]} channels but "
                    f"normalization.color is {self.normalization.color} ({self.normalization.channels})"
                )
        if "class_names" in self.model:  # one per output channel (argmax classes)
            check_class_names(self.model["class_names"], self.artifacts[0].output.shape[1], "model.class_names")
        for key, value in self.tools.items():
            if not isinstance(value, str) or len(key) > 100 or len(value) > 200:
                raise IntegrityError("tools must map short names to version strings")

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

    def chain(self, variant: str | None = None, precision: str | None = None) -> Progressive:
        """The progressive variant `variant` (None: the first one) in `precision` (None: the first listed)."""
        for chain in self.progressive:
            if (variant is None or chain.variant == variant) and (precision is None or chain.precision == precision):
                return chain
        have = ", ".join(p.key for p in self.progressive) or "none"
        raise IntegrityError(f"bundle has no progressive variant={variant} precision={precision}; it has: {have}")

    def files(self) -> tuple[str, ...]:
        """Every file the manifest lists (ONNX files, progressive steps, then engines)."""
        steps = [step for chain in self.progressive for step in chain.steps]
        return tuple(entry.file for entry in (*self.artifacts, *steps, *self.engines))

    def with_engine(self, engine: Engine) -> Manifest:
        """A new manifest with `engine` added (replacing one with the same file name)."""
        engines = tuple(e for e in self.engines if e.file != engine.file) + (engine,)
        return Manifest(**{**self.__dict__, "engines": engines})

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["progressive"]:
            del d["progressive"]
        return {"schema": d.pop("schema"), **d}

    @classmethod
    def from_dict(cls, d: Any) -> Manifest:
        """Validate a parsed manifest (digest included) and build it; every failure is one IntegrityError line."""
        if not isinstance(d, dict):
            raise IntegrityError("manifest must be a JSON object")
        if d.get("schema") != SCHEMA:
            raise IntegrityError(
                f"unsupported manifest schema {_show(d.get('schema'))}; "
                f"this edgeseg reads {SCHEMA} (export the bundle again)"
            )
        check_digest(d)
        d = {k: v for k, v in d.items() if k != "digest"}
        artifacts, engines, chains = d.get("artifacts"), d.get("engines", []), d.get("progressive", [])
        for name, items in (("artifacts", artifacts), ("engines", engines), ("progressive", chains)):
            if not isinstance(items, list):
                raise IntegrityError(f"{name} must be a list, got {_show(items)}")
        model = d.get("model")
        if not isinstance(model, dict):
            raise IntegrityError(f"model must be an object, got {_show(model)}")
        parts = {
            "normalization": Normalization.from_dict(d.get("normalization")),
            "artifacts": tuple(Artifact.from_dict(a, f"artifacts[{i}]") for i, a in enumerate(artifacts)),
            "engines": tuple(Engine.from_dict(e, f"engines[{i}]") for i, e in enumerate(engines)),
            "progressive": tuple(Progressive.from_dict(p, f"progressive[{i}]") for i, p in enumerate(chains)),
            "source": Source.from_dict(d.get("source", {})),
            "export": ExportSettings.from_dict(d["export"]) if d.get("export") is not None else None,
        }
        return _build(cls, {**d, **parts}, "manifest")


def _refuse_duplicates(values: list[str], what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise IntegrityError(f"the manifest lists {value} twice (each {what} may appear once)")
        seen.add(value)


# --- the manifest file: size, JSON, depth, digest ------------------------------------------------------


def canonical(d: dict) -> bytes:
    """The manifest's content as digested: sorted keys, no spaces, ASCII, no digest field."""
    body = {k: v for k, v in d.items() if k != "digest"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def digest_of(d: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical(d)).hexdigest()


def check_digest(d: dict) -> None:
    stated = d.get("digest")
    if not isinstance(stated, str):
        raise IntegrityError(f"{MANIFEST} has no digest of its own content (field digest); export the bundle again")
    if stated != digest_of(d):
        raise IntegrityError(f"{MANIFEST} was changed after it was written: its content does not match its digest")


def parse(text: bytes | str) -> Any:
    """JSON with the manifest's limits: size, integer length, no NaN/Infinity, nesting depth."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise IntegrityError(f"{MANIFEST} is {len(text):,} bytes; a manifest is at most {MAX_MANIFEST_BYTES:,}")
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise IntegrityError(f"{MANIFEST} is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"{MANIFEST} is not valid JSON: {str(exc)[:120]}") from None
    _check_depth(data)
    return data


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a manifest may hold")


def _check_depth(data: Any) -> None:
    level = [data]
    for _ in range(MAX_DEPTH):
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else ())]
        if not level:
            return
    raise IntegrityError(f"{MANIFEST} is nested too deeply (at most {MAX_DEPTH} levels)")


def read(path: Path) -> Any:
    """The parsed manifest file, its size bounded before reading."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise IntegrityError(f"{path} cannot be read: {exc.strerror or exc}") from None
    return parse(text)


def manifest_path(bundle: str | Path) -> Path:
    bundle = Path(bundle)
    return bundle / MANIFEST if bundle.is_dir() else bundle


def load(bundle: str | Path, verify: bool = True) -> Manifest:
    """Read and validate `bundle/manifest.json`; with `verify`, check every listed file's sha256 and graph."""
    bundle = Path(bundle)
    path = manifest_path(bundle)
    if not path.is_file():
        raise IntegrityError(f"{bundle} is not a bundle: no {MANIFEST} found")
    manifest = Manifest.from_dict(read(path))
    if verify:
        for artifact in manifest.artifacts:
            bind(manifest, artifact, read_verified(path.parent / artifact.file, artifact.sha256, MAX_ONNX_BYTES))
        for chain in manifest.progressive:
            for step in chain.steps:
                bind_step(manifest, chain, step, read_verified(path.parent / step.file, step.sha256, MAX_ONNX_BYTES))
        for engine in manifest.engines:
            verify_file(path.parent / engine.file, engine.sha256)
    return manifest


def is_bundle(folder: str | Path) -> bool:
    """Whether `folder` holds a manifest.json that is a valid edgeseg manifest (files not checked)."""
    try:
        load(folder, verify=False)
    except IntegrityError:
        return False
    return True


def read_verified(path: Path, expected: str, limit: int) -> bytes:
    """The file's bytes, refused when missing, over `limit`, or not matching `expected` sha256."""
    if not path.is_file():
        raise IntegrityError(f"{path.name} is listed in the manifest but missing")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise IntegrityError(f"{path.name} is over {limit:,} bytes")
    _same_sha256(path, hashlib.sha256(data).hexdigest(), expected)
    return data


def verify_file(path: Path, expected: str) -> None:
    if not path.is_file():
        raise IntegrityError(f"{path.name} is listed in the manifest but missing")
    _same_sha256(path, sha256(path), expected)


def _same_sha256(path: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise IntegrityError(f"{path.name}: sha256 mismatch (file changed or corrupted): "
                             f"{actual[:12]} != {expected[:12]}")


# --- binding an entry to its graph ---------------------------------------------------------------------


def stamp(manifest_model: str, artifact: Artifact, source: Source) -> str:
    """What the export writes into each ONNX file's metadata (key STAMP), and load expects back."""
    return json.dumps({"model": manifest_model, "variant": artifact.variant, "precision": artifact.precision,
                       "params": artifact.params, "weights_sha256": source.weights_sha256}, sort_keys=True)


def step_stamp(manifest_model: str, chain: Progressive, step: Step, source: Source) -> str:
    """The stamp of one progressive step's ONNX file: its chain, level and parameter count."""
    return json.dumps({"model": manifest_model, "variant": chain.variant, "precision": chain.precision,
                       "step": step.level, "params": step.params, "weights_sha256": source.weights_sha256},
                      sort_keys=True)


def bind(manifest: Manifest, artifact: Artifact, data: bytes) -> onnxgraph.Graph:
    """Refuse an ONNX file that is not the graph `artifact` describes."""
    expected = stamp(manifest.model["name"], artifact, manifest.source)
    return _bind(artifact.file, data, (artifact.input,), (artifact.output,), artifact.opset, artifact.precision,
                 expected)


def bind_step(manifest: Manifest, chain: Progressive, step: Step, data: bytes) -> onnxgraph.Graph:
    """Refuse an ONNX file that is not the graph `step` of `chain` describes."""
    expected = step_stamp(manifest.model["name"], chain, step, manifest.source)
    return _bind(step.file, data, step.inputs, step.outputs, chain.opset, chain.precision, expected)


def _bind(where: str, data: bytes, inputs, outputs, opset: int, precision: str, expected: str) -> onnxgraph.Graph:
    graph = onnxgraph.read(data, where)
    if graph.external:
        raise IntegrityError(
            f"{where} keeps tensors in ONNX external data ({', '.join(graph.external[:3])}); "
            "a bundle holds only self-contained ONNX files, each covered by its sha256"
        )
    for specs, tensors, what in ((inputs, graph.inputs, "input"), (outputs, graph.outputs, "output")):
        if len(tensors) != len(specs):
            names = ", ".join(spec.name for spec in specs)
            raise IntegrityError(f"{where} has {len(tensors)} {what}s; the manifest describes {len(specs)} ({names})")
        for spec, tensor in zip(specs, tensors):
            _same_tensor(spec, tensor, f"{where} {what}")
    if opset != graph.opset:
        raise IntegrityError(f"{where} uses opset {graph.opset}, the manifest says {opset}")
    found = "int8" if graph.quantized else "fp16" if "float16" in graph.weight_dtypes else "fp32"
    if found != precision:
        raise IntegrityError(f"{where} is listed as {precision} but its graph is {found}")
    stamped = graph.metadata.get(STAMP)
    if stamped is None:
        raise IntegrityError(f"{where} has no edgeseg stamp in its ONNX metadata: "
                             "it was not written by edgeseg export")
    if stamped != expected:
        raise IntegrityError(f"{where} was exported as {_describe(stamped)}; the manifest lists it as "
                             f"{_describe(expected)}")
    return graph


def _same_tensor(spec: TensorSpec, tensor: onnxgraph.Tensor, where: str) -> None:
    if tensor.name != spec.name:
        raise IntegrityError(f"{where} is named {tensor.name!r:.60}, the manifest says {spec.name!r}")
    if tensor.dtype != spec.dtype:
        raise IntegrityError(f"{where} {spec.name!r} is {tensor.dtype}, the manifest says {spec.dtype}")
    want = ["?" if isinstance(d, str) else d for d in spec.shape]
    got = ["?" if not isinstance(d, int) else d for d in tensor.shape]
    if want != got:
        raise IntegrityError(f"{where} {spec.name!r} has shape {_dims(got)}, the manifest says {_dims(want)}")


def _dims(shape) -> str:
    return "x".join(map(str, shape))


def _describe(stamped: str) -> str:
    try:
        d = json.loads(stamped)
        weights = str(d["weights_sha256"])[:12]
        step = f" step {d['step']}" if "step" in d else ""
        return f"{d['model']} {d['variant']}.{d['precision']}{step} ({d['params']} params, weights {weights})"
    except (ValueError, KeyError, TypeError):
        return "something else"


def save(bundle: str | Path, manifest: Manifest) -> Path:
    """Write `bundle/manifest.json` atomically, with the digest of its canonical content."""
    d = manifest.to_dict()
    try:
        digest = digest_of(d)
    except ValueError:
        raise IntegrityError("the manifest holds a NaN or infinite number; it cannot be written") from None
    return write_json(Path(bundle) / MANIFEST, {**d, "digest": digest})
