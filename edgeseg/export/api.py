"""`export_bundle`: a checkpoint's deploy variants -> ONNX files (fp32, fp16, int8) + manifest.json.

Per variant: `model.deploy(variant)` -> `onnx_export.export_module` -> `passes.standard` (checker,
shape inference, onnxslim) -> TensorRT parser check -> parity against eager PyTorch on the CPU; then
per precision a pure conversion (`fp16.to_fp16`, `int8.quantize`), its own TensorRT check and
parity. Only `bundle` writes files, and only after every artifact passed its checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import manifest as mf
from ..engines.targets import get_target
from ..errors import EdgesegError, IntegrityError
from . import bundle, fp16, int8, parity, passes, progressive, samples, trt_check
from .onnx_export import BATCH, MIN_OPSET, export_module

DEFAULT_IMG_SIZE = 256


def export_bundle(
    source,
    out: str | Path,
    *,
    variants: str | Iterable[str] = "all",
    precisions: Iterable[str] = ("fp32",),
    img_size: int | None = None,
    batch: int = 1,
    dynamic_batch: int | None = None,
    calib_data: str | None = None,
    calib_images: int = 32,
    calib_method: str = "minmax",
    parity_images: int = 8,
    opset: int = MIN_OPSET,
    target: str = "cuda",
    progress: bool = False,
    sign_key: str | Path | None = None,
) -> mf.Manifest:
    """Export deploy variants of `source` (a checkpoint path, or a `(model, normalization)` pair).

    `batch` fixes the batch size; `dynamic_batch=N` makes the batch axis dynamic (named `batch`) and
    records N as the largest batch engines should be built for. `sign_key` (a PEM private key) signs
    the bundle before it replaces `out`. Returns the verified manifest.
    """
    import onnx
    import torch

    model, norm, source_info, recipe = _open_source(source)
    chosen = _variants(model, variants)
    precisions = _precisions(precisions)
    get_target(target)
    if batch < 1 or (dynamic_batch is not None and dynamic_batch < 1):
        raise EdgesegError("batch sizes must be >= 1")
    if calib_images < 1 or parity_images < 1:
        raise EdgesegError("`calib_images` and `parity_images` must be >= 1")
    if opset < 13:
        raise EdgesegError(f"opset {opset} is too old: per-channel int8 and Resize need opset >= 13")
    newest = onnx.defs.onnx_opset_version()  # beyond it torch's exporter silently falls back to its default
    if opset > newest:
        raise EdgesegError(
            f"opset {opset} is newer than this onnx package knows ({newest}); TensorRT 10 parses up to 20")
    img_size = img_size or int(recipe.get("img_size") or DEFAULT_IMG_SIZE)
    out = Path(out)
    bundle.check_target(out)

    sample_cache: dict[int, tuple[samples.Samples, samples.Samples]] = {}
    artifacts: list[tuple[mf.Artifact, Any]] = []
    chains: list[tuple[mf.Progressive, list[Any]]] = []
    for variant in chosen:
        size = model.input_size(variant, img_size) if variant in model.variants() else img_size
        if size < model.size_divisor or size % model.size_divisor:
            raise EdgesegError(
                f"`img_size` {size} must be a multiple of {model.size_divisor} for {model.name or 'this model'}; "
                f"try {max(1, round(size / model.size_divisor)) * model.size_divisor}"
            )
        if size not in sample_cache:
            sample_cache[size] = _samples(calib_data, calib_images, parity_images, size, norm)
        calib, check = sample_cache[size]
        if variant in model.progressive_variants():
            chains += progressive.export_chain(
                model, variant, size, norm.channels, precisions, calib, check,
                feeds=lambda images: _feeds(images, batch, dynamic_batch is not None),
                batch=batch, dynamic=dynamic_batch is not None, opset=opset, calib_method=calib_method,
            )
            continue
        with torch.no_grad():
            artifacts += _export_variant(
                model, variant, size, norm, precisions, calib, check,
                batch=batch, dynamic=dynamic_batch is not None, opset=opset,
                calib_method=calib_method, progress=progress,
            )

    settings = mf.ExportSettings(
        target=target,
        img_size=img_size,
        batch=mf.BatchSettings(dynamic=True, max=dynamic_batch)
        if dynamic_batch is not None else mf.BatchSettings(dynamic=False, size=batch),
        opset=opset,
        calibration=mf.Calibration(data=calib_data or "random", method=calib_method, requested=calib_images,
                                   images=min(len(calib.images) for calib, _ in sample_cache.values()))
        if "int8" in precisions else None,
        parity_images=parity_images,
    )
    with bundle.staging(out) as stage:
        final = []
        for art, graph in artifacts:
            digest = bundle.write_model(stage.folder, art.file, graph, mf.stamp(model.name, art, source_info))
            final.append(replace(art, sha256=digest))
        written = []
        for chain, graphs in chains:
            digests = [bundle.write_model(stage.folder, step.file, graph,
                                          mf.step_stamp(model.name, chain, step, source_info))
                       for step, graph in zip(chain.steps, graphs)]
            written.append(progressive.with_digests(chain, digests))
        manifest = mf.Manifest(
            model={"name": model.name, "config": dict(model.config), "variants": model.variants(),
                   **_class_names(recipe, model.config.get("num_classes", 1))},
            normalization=norm,
            artifacts=tuple(final),
            progressive=tuple(written),
            tools=_tools(),
            source=source_info,
            export=settings,
        )
        return stage.commit(manifest, sign_key)


def _export_variant(model, variant, size, norm, precisions, calib, check, *,
                    batch, dynamic, opset, calib_method, progress):
    import torch

    from ..models.flops import count_flops

    module = model.deploy(variant).eval()
    channels = norm.channels
    example = torch.zeros(1 if dynamic else batch, channels, size, size)
    fp32 = passes.standard(export_module(module, example, opset=opset, dynamic_batch=dynamic))
    if len(fp32.graph.output) != 1:
        outputs = len(fp32.graph.output)
        raise EdgesegError(f"{model.name} {variant}: the deploy graph has {outputs} outputs; it must have one")
    kind = model.output_kind(variant)
    reference = parity.eager_outputs(module, check.images)
    params = sum(p.numel() for p in module.parameters())
    gflops = count_flops(module, torch.zeros(1, channels, size, size)) / 1e9
    dims = [d.dim_param or d.dim_value for d in fp32.graph.output[0].type.tensor_type.shape.dim]
    lead = BATCH if dynamic else batch
    base_details: dict[str, Any] = {"ops": passes.op_counts(fp32)}
    rewrite = _rewrite_details(model, variant, size, channels, fp32, gflops, opset=opset)
    if rewrite:
        base_details["fold"] = rewrite

    results = []
    for precision in precisions:
        what = f"{model.name} {variant} {precision}"
        details = dict(base_details)
        if precision == "fp32":
            graph = fp32
        elif precision == "fp16":
            ranges = fp16.activation_ranges(fp32, _feeds(calib.images, batch, dynamic))
            graph, kept = fp16.to_fp16(fp32, ranges)
            details["fp32_nodes"] = kept
            details["fp16_check"] = parity.fp16_execution(graph)
        else:
            feeds = _feeds(calib.images, batch, dynamic)
            with _progress_bar(progress, f"calibrating {variant} int8 ({calib_method})", len(feeds)) as tick:
                graph, qdetails = int8.quantize(fp32, feeds, method=calib_method, on_feed=tick)
            details.update(qdetails)
            details["calibration"]["data"] = calib.source
        graph = passes.check(graph)
        trt = trt_check.check_graph(graph)
        trt_check.require_compatible(trt, what)
        result = parity.compare(reference, parity.ort_outputs(graph, check.images), kind=kind, targets=check.masks)
        result["images_source"] = check.source
        if precision == "fp32":
            parity.require_fp32(result, what)
        art = mf.Artifact(
            file=bundle.artifact_file(variant, precision),
            sha256="",
            variant=variant,
            precision=precision,
            input=mf.TensorSpec("input", (lead, channels, size, size), "float32"),
            output=mf.TensorSpec("output", (lead, *dims[1:]), "float32"),
            output_kind=kind,
            threshold=0.5,
            opset=next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")),
            params=params,
            gflops=round(gflops, 6),
            parity=result,
            trt_check=trt,
            details=details,
        )
        results.append((art, graph))
    return results


def _rewrite_details(model, variant, size, channels, graph, gflops, *, opset) -> dict[str, Any] | None:
    """For a variant that rewrites another (`model.reference_variant`): FLOPs and the family's graph
    facts before and after, and how far its outputs are from the reference graph's."""
    import torch

    from ..models.flops import count_flops

    reference = model.reference_variant(variant)
    if reference is None:
        return None
    original = model.deploy(reference).eval()
    before = count_flops(original, torch.zeros(1, channels, size, size)) / 1e9
    ref_graph = passes.standard(export_module(original, torch.zeros(1, channels, size, size), opset=opset))
    x = np.random.default_rng(0).standard_normal((2, channels, size, size)).astype(np.float32)
    ref_out, out = parity.ort_outputs(ref_graph, x), parity.ort_outputs(graph, x)
    diff = parity.compare(ref_out, out)
    scale = float(np.abs(ref_out).max()) or 1.0
    details: dict[str, Any] = {"reference_variant": reference, "gflops_before": round(before, 6),
                               "gflops_after": round(gflops, 6)}
    for when, facts in (("before", model.graph_facts(ref_graph)), ("after", model.graph_facts(graph))):
        details.update({f"{key}_{when}": value for key, value in facts.items()})
    details["max_abs_prob_err_vs_reference"] = diff["max_abs_prob_err"]
    details["max_rel_output_err_vs_reference"] = float(np.abs(out - ref_out).max()) / scale  # raw: saturation-proof
    return details


def _feeds(images: np.ndarray, batch: int, dynamic: bool) -> list[dict[str, np.ndarray]]:
    step = 4 if dynamic else batch
    feeds = []
    for i in range(0, len(images), step):
        chunk = images[i : i + step]
        if not dynamic and len(chunk) < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
        feeds.append({"input": np.ascontiguousarray(chunk)})
    return feeds


def _samples(calib_data, calib_images, parity_images, size, norm):
    """(calibration samples, parity samples): disjoint when the source has enough images."""
    if calib_data is None:
        return (
            samples.random_samples(calib_images, size, norm, seed=0),
            samples.random_samples(parity_images, size, norm, seed=1),
        )
    every = samples.dataset_samples(calib_data, calib_images + parity_images, size, norm)
    n = len(every.images)
    cut = min(calib_images, n - parity_images) if n > parity_images else n
    calib = every.take(slice(0, cut), f"{calib_data} images 0..{cut - 1}")
    if cut < n:
        check = every.take(slice(cut, n), f"{calib_data} images {cut}..{n - 1}")
    else:
        check = every.take(slice(0, n), f"{calib_data} images 0..{n - 1} (the calibration images: too few for both)")
    return calib, check


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str, total: int):
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda i, n: bar.update(task, completed=min(i, n))


def _open_source(source):
    """(model, Normalization, source info for the manifest, training recipe)."""
    if isinstance(source, tuple):
        model, norm = source
        norm = norm if isinstance(norm, mf.Normalization) else mf.Normalization.from_dict(norm)
        return model.eval(), norm, mf.Source(note="in-memory model"), {}
    from .. import checkpoint

    model, info = checkpoint.load(source)
    weights = checkpoint.paths(source)[0]
    src = mf.Source(
        checkpoint=weights.with_suffix("").name,
        weights_sha256=info.weights_sha256,
        epoch=info.epoch,
        metrics=dict(info.metrics or {}),
    )
    return model, mf.Normalization.from_dict(info.normalization), src, dict(info.recipe or {})


def _class_names(recipe: dict, classes: int) -> dict[str, list[str]]:
    """`{"class_names": [...]}` when training recorded valid names for these classes, else nothing."""
    names = recipe.get("class_names")
    try:
        mf.check_class_names(names, classes, "class_names")
    except IntegrityError:
        return {}
    return {"class_names": list(names)}


def _variants(model, variants) -> list[str]:
    """The chosen variants; "all" means every standalone one (progressive ones are named explicitly)."""
    valid = model.variants()
    progressive = model.progressive_variants()
    if isinstance(variants, str):
        variants = valid if variants == "all" else [v.strip() for v in variants.split(",") if v.strip()]
    variants = list(dict.fromkeys(variants))
    if not variants:
        raise EdgesegError(f"no variants given; valid: all, {', '.join(valid + progressive)}")
    for v in variants:
        if v not in progressive and v not in valid:
            name = model.name or type(model).__name__
            raise EdgesegError(f"{name} has no variant {v!r}; valid: {', '.join(valid + progressive)}")
    return variants


def _precisions(precisions) -> list[str]:
    if isinstance(precisions, str):
        precisions = [p.strip() for p in precisions.split(",") if p.strip()]
    precisions = list(dict.fromkeys(precisions))
    bad = [p for p in precisions if p not in mf.PRECISIONS]
    if bad or not precisions:
        raise EdgesegError(f"unknown precision {', '.join(bad) or '(none)'}; valid: {', '.join(mf.PRECISIONS)}")
    return [p for p in mf.PRECISIONS if p in precisions]


def _tools() -> dict[str, str]:
    import onnx
    import onnxruntime
    import onnxslim
    import torch

    from .. import __version__

    return {
        "edgeseg": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxslim": onnxslim.__version__,
    }
