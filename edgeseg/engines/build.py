"""The TensorRT build chain, one small step each: parse -> configure -> build bytes -> save -> inspect.

Parsing, configuring and building go through Polygraphy's TensorRT loaders (`loaders.py` turns the
`BuildPlan`, where every decision is made in tested plain Python, into their arguments). edgeseg keeps
the steps Polygraphy does not do the way a build here needs: the timing cache (a cache TensorRT rejects
is reported and replaced, never fatal, and it is saved only after the engine), the atomic engine write
and the engine inspector's summary. `tensorrt`, `pycuda` and `polygraphy` are imported lazily; without
them these functions raise MissingDependency with the install command. `build_bundle` runs the chain for
every artifact of a bundle, skips engines whose cache key is already in the manifest, and records each
new engine (GPU, compute capability, TensorRT version, settings, real layer precisions).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import manifest as mf
from ..errors import EdgesegError, require
from ..files import sha256, write_bytes
from ..runtime.trt import set_input_shape
from ..runtime.trt_info import Device, current_device, tensorrt, trt_version
from . import layers, loaders
from .plan import BuildPlan, make_plan

__all__ = ["Device", "build_bundle", "current_device", "dry_run", "plans_for", "trt_version"]


def logger(verbose: bool = False):
    trt = tensorrt()
    return trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)


def parse_network(onnx_path: str | Path, plan: BuildPlan) -> tuple[Any, Any, Any]:
    """Step 1: builder, network (strongly typed when the plan says so) and the parser that filled it."""
    with _polygraphy_errors(f"TensorRT cannot parse {Path(onnx_path).name}"):
        return loaders.network_loader(plan, onnx_path)()


def configure(builder, network, plan: BuildPlan):
    """Step 2: the builder config of the plan (precision flags, profile, workspace, opt level, DLA)."""
    with _polygraphy_errors("TensorRT cannot configure the build"):
        return loaders.config_loader(plan)(builder, network)


def use_timing_cache(config, path: str | Path) -> str | None:
    """Step 2b: load the timing cache at `path` into the config. A cache TensorRT refuses (made on another GPU
    or TensorRT version, or damaged) is replaced by an empty one: the build goes on and the note says so."""
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    try:
        cache = config.create_timing_cache(data)
    except (RuntimeError, TypeError, ValueError):
        cache = None
    if cache is not None and config.set_timing_cache(cache, False):  # False: refuse a foreign cache, say so
        return None
    if not config.set_timing_cache(config.create_timing_cache(b""), False):
        return f"TensorRT refused even an empty timing cache; {path.name} is not used"
    return f"timing cache {path.name} is from another GPU or TensorRT version (or damaged): a new one replaces it"


def build_bytes(builder, network, config) -> bytes:
    """Step 3: the serialized engine."""
    pg = loaders.polygraphy_trt()
    with _polygraphy_errors("TensorRT failed to build the engine (see its log above); try a larger --workspace"):
        data = pg.EngineBytesFromNetwork((builder, network), config=config)()
    if not data:
        raise EdgesegError("TensorRT failed to build the engine (see its log above); try a larger --workspace")
    return bytes(memoryview(data))


def save_engine(path: str | Path, data: bytes) -> Path:
    """Step 4: atomic write (an interrupted build never leaves a half engine)."""
    return write_bytes(path, data)


def save_timing_cache(config, path: str | Path) -> str | None:
    """Step 4b, after the engine is safe on disk: write the config's timing cache; a failure is a note, not an error."""
    cache = config.get_timing_cache()
    if cache is None:
        return f"TensorRT returned no timing cache; {Path(path).name} not updated"
    try:
        write_bytes(path, bytes(memoryview(cache.serialize())))
    except OSError as exc:
        return f"timing cache not saved ({exc}); the engine is"
    return None


def save(bundle: Path, plan: BuildPlan, data: bytes, config, report: Callable[[str], None]) -> Path:
    """Steps 4 and 4b in the order that never loses a finished build: the engine first, then the timing cache."""
    path = save_engine(bundle / plan.engine_file, data)
    if plan.timing_cache is not None:
        note = save_timing_cache(config, plan.timing_cache)
        if note:
            report(f"{plan.artifact}: {note}")
    return path


def inspect_engine(data: bytes, plan: BuildPlan, log) -> str:
    """Step 5: the engine inspector's JSON, with the input set to the profile's opt shape."""
    trt = tensorrt()
    runtime = trt.Runtime(log)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise EdgesegError("TensorRT could not load the engine it just built")
    context = engine.create_execution_context()
    set_input_shape(context, plan.profile.input, plan.profile.opt)
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
    for recorded in manifest.engines:
        path = bundle / recorded.file
        if recorded.cache_key == plan.cache_key and path.is_file() and sha256(path) == recorded.sha256:
            return recorded
    return None


def plans_for(
    manifest: mf.Manifest, *, variant: str | None = None, precision: str | None = None, **options
) -> list[BuildPlan]:
    """One plan per ONNX artifact (or those of one variant/precision); `options` are make_plan's keywords.

    Without --max-batch, a dynamic-batch export's recorded maximum (`edgeseg export --dynamic-batch N`)
    is the profile's max batch (and the target's default when the manifest states none)."""
    if options.get("max_batch") is None and options.get("dla_core") is None:
        batch = manifest.export.batch if manifest.export is not None else None
        if batch is not None and batch.dynamic and batch.max is not None:
            largest = max(batch.max, options.get("min_batch") or 1, options.get("opt_batch") or 1)
            options = {**options, "max_batch": largest}
    chosen = [
        a
        for a in manifest.artifacts
        if (variant is None or a.variant == variant) and (precision is None or a.precision == precision)
    ]
    if not chosen:
        manifest.artifact(variant, precision)  # raises, listing what the bundle has
    return [make_plan(artifact, **options) for artifact in chosen]


def build_one(
    bundle: Path, plan: BuildPlan, device: Device, report: Callable[[str], None] = print, verbose: bool = False
) -> mf.Engine:
    _quiet_polygraphy(verbose)
    builder, network, _parser = parse_network(bundle / plan.artifact, plan)
    config = configure(builder, network, plan)
    if plan.timing_cache is not None:
        note = use_timing_cache(config, plan.timing_cache)
        if note:
            report(f"{plan.artifact}: {note}")
    data = build_bytes(builder, network, config)
    path = save(bundle, plan, data, config, report)
    return engine_entry(plan, device, path, inspect_engine(data, plan, logger(verbose)))


@contextmanager
def _polygraphy_errors(doing: str) -> Iterator[None]:
    """Polygraphy reports a failure as PolygraphyException, after logging TensorRT's reasons: one EdgesegError."""
    exception = require("polygraphy.exception", "trt")
    try:
        yield
    except exception.PolygraphyException as exc:
        raise EdgesegError(f"{doing}: {exc}") from exc


def _quiet_polygraphy(verbose: bool) -> None:
    G_LOGGER = require("polygraphy.logger", "trt").G_LOGGER
    G_LOGGER.module_severity = G_LOGGER.VERBOSE if verbose else G_LOGGER.WARNING


def describe(plan: BuildPlan, cached: bool) -> str:
    """One line per plan for `edgeseg build --dry-run` and the build log."""
    p = plan.profile
    batch = f"batch {p.min[0]}/{p.opt[0]}/{p.max[0]}"
    flags = ",".join(plan.flags) or "none"
    typing = "strongly typed" if plan.strongly_typed else "weakly typed"
    state = "up to date" if cached else "to build"
    return (
        f"{plan.artifact} -> {plan.engine_file} [{state}]: TensorRT {plan.trt_version}, sm {plan.compute_capability}, "
        f"{typing}, flags {flags}, {batch}, workspace {plan.workspace_bytes / (1 << 30):g} GiB, "
        f"opt level {plan.opt_level}"
        + (f", DLA core {plan.dla_core}" if plan.dla_core is not None else "")
    )


def dry_run(
    bundle: str | Path, *, trt_version: str, compute_capability: str, report: Callable[[str], None] = print, **options
) -> list[BuildPlan]:
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
        entry = build_one(bundle, plan, device, report, verbose)
        manifest = manifest.with_engine(entry)
        mf.save(bundle, manifest)
        report(f"{plan.artifact}: layers {json.dumps(entry.layer_precisions['compute_layers'])}")
    return manifest
