"""The TensorRT build chain, one small step each: parse -> configure -> build bytes -> save -> inspect.

Each step takes the `BuildPlan` (every decision is made there, in tested plain Python) and the
TensorRT objects of the step before it. `tensorrt` and `pycuda` are imported lazily; without them
these functions raise MissingDependency with the install command. `build_bundle` runs the chain for
every artifact of a bundle, skips engines whose cache key is already in the manifest, and records
each new engine (GPU, compute capability, TensorRT version, settings, real layer precisions).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import manifest as mf
from ..errors import EdgesegError, require
from ..files import sha256, write_bytes
from . import layers
from .plan import BuildPlan, make_plan


def tensorrt():
    return require("tensorrt", "trt")


def trt_version() -> str:
    return str(tensorrt().__version__)


@dataclass(frozen=True)
class Device:
    name: str
    compute_capability: str


def current_device(index: int = 0) -> Device:
    """Name and compute capability of the GPU that will run the engine (read with pycuda)."""
    cuda = require("pycuda.driver", "trt")
    cuda.init()
    if cuda.Device.count() <= index:
        raise EdgesegError(f"no CUDA device {index} found; TensorRT engines are built on the GPU that runs them")
    dev = cuda.Device(index)
    major, minor = dev.compute_capability()
    return Device(name=dev.name(), compute_capability=f"{major}.{minor}")


def logger(verbose: bool = False):
    trt = tensorrt()
    return trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)


def parse_network(onnx_path: str | Path, plan: BuildPlan, log) -> tuple[Any, Any, Any]:
    """Step 1: builder + network (strongly typed when the plan says so) + parsed ONNX."""
    trt = tensorrt()
    builder = trt.Builder(log)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if plan.strongly_typed and strongly_typed is not None:  # TensorRT 11 may drop the flag: always on there
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EdgesegError(f"TensorRT cannot parse {Path(onnx_path).name}: {errors}")
    return builder, network, parser


def configure(builder, plan: BuildPlan):
    """Step 2: builder config from the plan: workspace, flags, DLA, opt level, profile, timing cache."""
    trt = tensorrt()
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    config.builder_optimization_level = plan.opt_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if plan.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    profile = builder.create_optimization_profile()
    profile.set_shape(plan.profile.input, plan.profile.min, plan.profile.opt, plan.profile.max)
    config.add_optimization_profile(profile)
    if plan.timing_cache is not None:
        path = Path(plan.timing_cache)
        cache = config.create_timing_cache(path.read_bytes() if path.is_file() else b"")
        config.set_timing_cache(cache, False)  # False: refuse a cache from another GPU/TensorRT
    return config


def build_bytes(builder, network, config) -> bytes:
    """Step 3: the serialized engine."""
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgesegError("TensorRT failed to build the engine (see its log above); try a larger --workspace")
    return bytes(memoryview(serialized))


def save_timing_cache(config, plan: BuildPlan) -> None:
    if plan.timing_cache is not None:
        write_bytes(plan.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))


def save_engine(path: str | Path, data: bytes) -> Path:
    """Step 4: atomic write (an interrupted build never leaves a half engine)."""
    return write_bytes(path, data)


def inspect_engine(data: bytes, plan: BuildPlan, log) -> str:
    """Step 5: the engine inspector's JSON, with the input set to the profile's opt shape."""
    trt = tensorrt()
    runtime = trt.Runtime(log)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise EdgesegError("TensorRT could not load the engine it just built")
    context = engine.create_execution_context()
    context.set_input_shape(plan.profile.input, plan.profile.opt)
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)


def engine_entry(plan: BuildPlan, device: Device, engine_path: Path, inspector_json: str) -> mf.Engine:
    """The manifest's record of one engine (pure; tested with a recorded-format inspector sample)."""
    return mf.Engine(
        file=engine_path.name,
        sha256=sha256(engine_path),
        artifact=plan.artifact,
        target=plan.target,
        gpu=device.name,
        compute_capability=plan.compute_capability,
        trt_version=plan.trt_version,
        cache_key=plan.cache_key,
        settings=plan.settings(),
        layer_precisions=layers.summarize(inspector_json),
    )


def cached_engine(manifest: mf.Manifest, plan: BuildPlan, bundle: Path) -> mf.Engine | None:
    """The engine already built for this plan's cache key, if its file is still there and intact."""
    for engine in manifest.engines:
        if engine.cache_key == plan.cache_key and (bundle / engine.file).is_file():
            if sha256(bundle / engine.file) == engine.sha256:
                return engine
    return None


def plans_for(manifest: mf.Manifest, *, variant: str | None = None, precision: str | None = None, **options) -> list[BuildPlan]:
    """One plan per ONNX artifact (or those of one variant/precision); `options` are make_plan's keywords.

    Without --max-batch, a dynamic-batch export's recorded maximum (`edgeseg export --dynamic-batch N`)
    is the profile's max batch (and the target's default when the manifest states none)."""
    if options.get("max_batch") is None and options.get("dla_core") is None:
        batch = manifest.export.batch if manifest.export is not None else None
        if batch is not None and batch.dynamic and batch.max is not None:
            largest = max(batch.max, options.get("min_batch") or 1, options.get("opt_batch") or 1)
            options = {**options, "max_batch": largest}
    chosen = [
        a for a in manifest.artifacts if (variant is None or a.variant == variant) and (precision is None or a.precision == precision)
    ]
    if not chosen:
        manifest.artifact(variant, precision)  # raises, listing what the bundle has
    return [make_plan(artifact, **options) for artifact in chosen]


def build_one(bundle: Path, plan: BuildPlan, device: Device, verbose: bool = False) -> mf.Engine:
    log = logger(verbose)
    builder, network, _parser = parse_network(bundle / plan.artifact, plan, log)
    config = configure(builder, plan)
    data = build_bytes(builder, network, config)
    save_timing_cache(config, plan)
    path = save_engine(bundle / plan.engine_file, data)
    return engine_entry(plan, device, path, inspect_engine(data, plan, log))


def describe(plan: BuildPlan, cached: bool) -> str:
    """One line per plan for `edgeseg build --dry-run` and the build log."""
    p = plan.profile
    batch = f"batch {p.min[0]}/{p.opt[0]}/{p.max[0]}"
    flags = ",".join(plan.flags) or "none"
    typing = "strongly typed" if plan.strongly_typed else "weakly typed"
    state = "up to date" if cached else "to build"
    return (
        f"{plan.artifact} -> {plan.engine_file} [{state}]: TensorRT {plan.trt_version}, sm {plan.compute_capability}, "
        f"{typing}, flags {flags}, {batch}, workspace {plan.workspace_bytes / (1 << 30):g} GiB, opt level {plan.opt_level}"
        + (f", DLA core {plan.dla_core}" if plan.dla_core is not None else "")
    )


def dry_run(bundle: str | Path, *, trt_version: str, compute_capability: str, report: Callable[[str], None] = print, **options) -> list[BuildPlan]:
    """The plans `build_bundle` would carry out for this TensorRT version and GPU, without TensorRT."""
    bundle = Path(bundle)
    manifest = mf.load(bundle)
    plans = plans_for(manifest, trt_version=trt_version, compute_capability=compute_capability, **options)
    for plan in plans:
        report(describe(plan, cached_engine(manifest, plan, bundle) is not None))
        for note in plan.notes:
            report(f"    {note}")
    return plans


def build_bundle(
    bundle: str | Path,
    *,
    report: Callable[[str], None] = print,
    verbose: bool = False,
    device_index: int = 0,
    **options,
) -> mf.Manifest:
    """Build (or reuse) one engine per artifact and record each in the manifest as soon as it exists."""
    bundle = Path(bundle)
    manifest = mf.load(bundle)
    version = trt_version()
    device = current_device(device_index)
    plans = plans_for(manifest, trt_version=version, compute_capability=device.compute_capability, **options)
    for plan in plans:
        if cached_engine(manifest, plan, bundle) is not None:
            report(describe(plan, cached=True))
            continue
        report(describe(plan, cached=False))
        engine = build_one(bundle, plan, device, verbose)
        manifest = manifest.with_engine(engine)
        mf.save(bundle, manifest)
        report(f"{plan.artifact}: layers {json.dumps(engine.layer_precisions['compute_layers'])}")
    return manifest
