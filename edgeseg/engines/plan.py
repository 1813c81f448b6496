"""The build plan: every decision of a TensorRT build, made in plain Python before TensorRT is touched.

`make_plan(artifact, ...)` checks the request against the target and the installed TensorRT and
returns a frozen `BuildPlan`; `edgeseg.engines.build` only carries the plan out. The decisions:

- TensorRT 11 is strongly typed only (no precision flags, no calibrator): every graph builds as a
  strongly typed network and its precision is whatever the ONNX says.
- TensorRT 10 (JetPack 6) builds weakly typed networks: an fp16 graph gets the FP16 flag, an int8 QDQ
  graph gets the INT8 flag and no calibrator (its scales are in the graph: explicit quantization).
  On DLA an int8 graph also gets FP16, because DLA runs the layers between Q/DQ pairs in fp16.
- DLA needs fp16 or int8 and always gets GPU fallback for layers it cannot run; it has no dynamic
  shapes, so its profile is the one opt batch (min = opt = max). TensorRT runs DLA only up to 10.7 and
  again from 11.4.1, there only on Jetson AGX Orin with JetPack 7.2.2+ (see targets.py for the sources);
  other combinations are refused here, with the reason.
- TensorRT 11 exists on Jetson only from 11.4.1 (JetPack 7.2.2, AGX Orin and Thor): JetPack 6 has none.
- One optimization profile for the input's batch axis (min/opt/max); height and width are static.
- The cache key hashes everything that changes the engine's bytes: ONNX sha256, TensorRT version,
  compute capability, precision and settings. An engine whose key is already in the manifest is reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..errors import EdgesegError
from ..manifest import Artifact
from .targets import Target, get_target, parse_cc

GIB = 1 << 30
OPT_LEVELS = range(6)
DEFAULT_OPT_LEVEL = 3  # TensorRT's own default
LAST_DLA_TRT10 = (10, 7)  # TensorRT 10.8+ dropped DLA ("Working with DLA", TensorRT 11.4.1 docs)
FIRST_DLA_TRT11 = (11, 4, 1)  # DLA back, on Jetson AGX Orin with JetPack 7.2.2+ only (same page)


def parse_version(version: str) -> tuple[int, ...]:
    """'10.3.0.30' -> (10, 3, 0, 30)."""
    try:
        parts = tuple(int(p) for p in str(version).split(".") if p != "")
    except ValueError:
        raise EdgesegError(f"cannot read TensorRT version {version!r}") from None
    if not parts:
        raise EdgesegError(f"cannot read TensorRT version {version!r}")
    return parts


@dataclass(frozen=True)
class Profile:
    """Shapes of one optimization profile for one input tensor."""

    input: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


@dataclass(frozen=True)
class BuildPlan:
    artifact: str  # ONNX file in the bundle
    onnx_sha256: str
    variant: str
    precision: str
    target: str
    trt_version: str
    compute_capability: str
    strongly_typed: bool
    flags: tuple[str, ...]  # names of tensorrt.BuilderFlag members to set
    profile: Profile
    workspace_bytes: int
    dla_core: int | None
    opt_level: int
    timing_cache: str | None = None  # a path; speeds up builds, never changes what is built
    notes: tuple[str, ...] = ()  # why each non-obvious decision was made, for the build log

    @property
    def trt_major(self) -> int:
        return parse_version(self.trt_version)[0]

    def settings(self) -> dict:
        """What goes into the manifest and the cache key (not the timing cache path: it is only a speed-up)."""
        return {
            "strongly_typed": self.strongly_typed,
            "flags": list(self.flags),
            "profile": {
                "input": self.profile.input,
                "min": list(self.profile.min),
                "opt": list(self.profile.opt),
                "max": list(self.profile.max),
            },
            "workspace_bytes": self.workspace_bytes,
            "dla_core": self.dla_core,
            "gpu_fallback": self.dla_core is not None,
            "opt_level": self.opt_level,
        }

    @property
    def cache_key(self) -> str:
        return cache_key(self.onnx_sha256, self.trt_version, self.compute_capability, self.precision, self.settings())

    @property
    def engine_file(self) -> str:
        return f"{self.variant}.{self.precision}.{self.target}.{self.cache_key[:12]}.engine"


def cache_key(onnx_sha256: str, trt_version: str, compute_capability: str, precision: str, settings: dict) -> str:
    payload = {
        "onnx_sha256": onnx_sha256,
        "trt_version": trt_version,
        "compute_capability": compute_capability,
        "precision": precision,
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def make_plan(
    artifact: Artifact,
    *,
    target: str | Target = "cuda",
    trt_version: str,
    compute_capability: str,
    workspace_gib: float | None = None,
    dla_core: int | None = None,
    opt_level: int = DEFAULT_OPT_LEVEL,
    timing_cache: str | None = None,
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
) -> BuildPlan:
    """Check a build request and decide everything; raises EdgesegError with a way out when it cannot work."""
    tgt = target if isinstance(target, Target) else get_target(target)
    version = parse_version(trt_version)
    _check_trt(tgt, version)
    _check_device(tgt, compute_capability)
    if artifact.precision not in tgt.precisions:
        supported = ", ".join(tgt.precisions)
        raise EdgesegError(f"{artifact.file}: {artifact.precision} is not supported on {tgt.name} ({supported})")
    if opt_level not in OPT_LEVELS:
        raise EdgesegError(f"--opt-level must be 0-5 (TensorRT builder optimization level), got {opt_level}")
    notes: list[str] = []
    _check_dla(tgt, artifact, dla_core, version)

    strongly_typed = version[0] >= 11
    flags: list[str] = []
    if strongly_typed:
        notes.append("TensorRT 11: strongly typed network, precision taken from the ONNX graph")
    elif artifact.precision == "fp16":
        flags.append("FP16")
        notes.append("TensorRT 10: fp16 graph built with the FP16 builder flag")
    elif artifact.precision == "int8":
        flags.append("INT8")
        notes.append("TensorRT 10: int8 QDQ graph, explicit quantization (INT8 flag, no calibrator)")
        if dla_core is not None:
            flags.append("FP16")
            notes.append("DLA runs the layers between Q/DQ pairs in fp16: FP16 flag added")
    if dla_core is not None:
        flags.append("GPU_FALLBACK")
        notes.append(f"DLA core {dla_core} with GPU fallback for layers DLA cannot run")

    profile = make_profile(artifact, min_batch, opt_batch, max_batch, tgt.default_max_batch)
    if dla_core is not None and profile.min != profile.max:
        if min_batch is not None or max_batch is not None:
            raise EdgesegError("DLA has no dynamic shapes: give only --opt-batch (the one batch size the engine runs)")
        profile = Profile(profile.input, profile.opt, profile.opt, profile.opt)
        notes.append(f"DLA: static batch {profile.opt[0]}")

    return BuildPlan(
        artifact=artifact.file,
        onnx_sha256=artifact.sha256,
        variant=artifact.variant,
        precision=artifact.precision,
        target=tgt.name,
        trt_version=trt_version,
        compute_capability=compute_capability,
        strongly_typed=strongly_typed,
        flags=tuple(flags),
        profile=profile,
        workspace_bytes=_workspace_bytes(tgt, workspace_gib),
        dla_core=dla_core,
        opt_level=opt_level,
        timing_cache=timing_cache,
        notes=tuple(notes),
    )


def make_profile(
    artifact: Artifact, min_batch: int | None, opt_batch: int | None, max_batch: int | None, default_max: int = 8
) -> Profile:
    spec = artifact.input
    if len(spec.shape) != 4 or not all(isinstance(d, int) for d in spec.shape[1:]):
        raise EdgesegError(
            f"{artifact.file}: input {spec.name} must be (N, C, H, W) with static C, H, W, got {spec.shape}"
        )
    rest = tuple(spec.shape[1:])
    batch = spec.shape[0]
    if isinstance(batch, int):
        for name, value in (("--min-batch", min_batch), ("--opt-batch", opt_batch), ("--max-batch", max_batch)):
            if value is not None and value != batch:
                raise EdgesegError(
                    f"{artifact.file} has a fixed batch of {batch}; {name} {value} needs an export with --dynamic-batch"
                )
        shape = (batch, *rest)
        return Profile(spec.name, shape, shape, shape)
    lo = 1 if min_batch is None else min_batch
    hi = max(default_max, lo) if max_batch is None else max_batch
    opt = lo if opt_batch is None else opt_batch
    if not 1 <= lo <= opt <= hi:
        raise EdgesegError(f"batch sizes must satisfy 1 <= min <= opt <= max, got min={lo} opt={opt} max={hi}")
    return Profile(spec.name, (lo, *rest), (opt, *rest), (hi, *rest))


def _check_trt(tgt: Target, version: tuple[int, ...]) -> None:
    text = ".".join(map(str, version))
    if version[0] < 10:
        old_jetpack = tgt.max_trt and parse_version(tgt.max_trt)[0] < 10
        hint = f" ({tgt.name}'s last JetPack {tgt.jetpack} ships TensorRT {tgt.max_trt})" if old_jetpack else ""
        raise EdgesegError(
            f"TensorRT {text} is too old: edgeseg builds engines with TensorRT 10 or 11{hint}; "
            "run the bundle with --backend ort-cuda or ort-cpu instead"
        )
    if version[0] < 11:
        return
    if tgt.trt11_from is None:
        raise EdgesegError(
            f"{tgt.name} has no TensorRT 11: its JetPack {tgt.jetpack} ships TensorRT {tgt.max_trt}, and TensorRT 11 "
            "supports only Jetson AGX Orin and Thor (JetPack 7.2.2+); plan for TensorRT 10"
        )
    if version < parse_version(tgt.trt11_from):
        raise EdgesegError(f"TensorRT {text} does not support {tgt.name}: TensorRT 11 there starts at {tgt.trt11_from}")


def _check_device(tgt: Target, cc: str) -> None:
    have = parse_cc(cc)
    if tgt.compute_capability is not None and have != parse_cc(tgt.compute_capability):
        raise EdgesegError(
            f"target {tgt.name} has compute capability {tgt.compute_capability} but this GPU has {cc}; "
            "build the engine on the target device (engines do not move between GPU types)"
        )
    if tgt.compute_capability is None and have < parse_cc(tgt.min_compute_capability):
        need = tgt.min_compute_capability
        raise EdgesegError(f"this GPU has compute capability {cc}; TensorRT 10+ needs {need} or newer")


def _check_dla(tgt: Target, artifact: Artifact, dla_core: int | None, version: tuple[int, ...]) -> None:
    if dla_core is None:
        return
    if tgt.dla_cores == 0:
        raise EdgesegError(f"{tgt.name} has no DLA; drop --dla-core")
    if not 0 <= dla_core < tgt.dla_cores:
        raise EdgesegError(f"{tgt.name} has DLA cores 0-{tgt.dla_cores - 1}, got --dla-core {dla_core}")
    if artifact.precision not in tgt.dla_precisions:
        runs = " or ".join(tgt.dla_precisions)
        raise EdgesegError(f"DLA runs only {runs}; build {artifact.file} without --dla-core or export fp16/int8")
    text = ".".join(map(str, version))
    if version[0] == 10 and version[:2] > LAST_DLA_TRT10:
        raise EdgesegError(
            f"TensorRT {text} has no DLA: 10.7 was the last TensorRT 10 with DLA (JetPack 6 ships 10.3); "
            "plan for that TensorRT or drop --dla-core"
        )
    if version[0] >= 11 and version < FIRST_DLA_TRT11:
        raise EdgesegError(
            f"TensorRT {text} has no DLA on Jetson (back in 11.4.1, on Jetson AGX Orin with JetPack 7.2.2+); "
            "drop --dla-core"
        )
    if version[0] >= 11 and not tgt.dla_trt11:
        raise EdgesegError(
            f"TensorRT 11 runs DLA only on Jetson AGX Orin (JetPack 7.2.2+), not {tgt.name}; drop --dla-core"
        )


def _workspace_bytes(tgt: Target, workspace_gib: float | None) -> int:
    gib = tgt.default_workspace_gib if workspace_gib is None else workspace_gib
    if not 0 < gib < float("inf"):
        raise EdgesegError(f"--workspace must be a positive, finite number of GiB, got {gib}")
    if tgt.memory_gib is not None and gib >= tgt.memory_gib:
        raise EdgesegError(f"--workspace {gib} GiB does not fit {tgt.name}'s {tgt.memory_gib:g} GiB of memory")
    return int(gib * GIB)
