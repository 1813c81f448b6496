"""The sweep: variant x precision x backend x batch (x input size), one timed row each.

Every row runs through a runtime `Segmenter`: its `preprocess`, the runner's `infer` and its
`postprocess` are timed separately (timing.py). Torch rows plug the eager deploy module in as a
runner (torch_runner.py), so all backends share pre/post and differ only in `infer`. Before timing,
each row segments the evaluation images once (untimed) for IoU/Dice against the ground truth (per class
and their mean over classes 1..C-1 for a multi-class model) and for mask parity against the reference:
the first row of the same variant that ran (the torch fp32 row, else the first fp32 row; without fp32
rows, the first fp16/int8 one). A backend that cannot run here gives one "skipped" row with the
reason; a row that fails gives a "failed" row with the error. Nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import manifest as mf
from ..errors import EdgesegError
from ..metrics import Confusion, class_scores, dataset_scores
from ..runtime import ort_int8
from ..runtime.backends import Backend, parse_backend
from . import env as bench_env
from .inputs import Images, Target
from .power import PowerSampler
from .results import BenchRow, Parity
from .stats import CV_WARN
from .timing import Timing, TimingPlan, time_pipeline

ORDER = tuple(Backend)  # rows of one configuration are listed in this order


@dataclass
class SweepPlan:
    backends: list[Backend]  # long or short names are accepted too
    batches: list[int]
    variants: list[str] | None = None  # None: every variant in the bundle (or model)
    precisions: list[str] | None = None  # None: every precision in the bundle
    timing: TimingPlan = field(default_factory=TimingPlan)
    threads: int = 1

    def __post_init__(self):
        self.backends = [parse_backend(b) for b in self.backends]
        if not self.batches or any(b < 1 for b in self.batches):
            raise EdgesegError("batch sizes must be >= 1")
        bad = [p for p in self.precisions or [] if p not in mf.PRECISIONS]
        if bad:
            raise EdgesegError(f"unknown precision(s) {', '.join(bad)}; choose from {', '.join(mf.PRECISIONS)}")


def run_sweep(targets: list[Target], plan: SweepPlan, images: Images, log=print) -> tuple[list[BenchRow], list[str]]:
    """All rows for all targets, and the warnings to print with them."""
    statuses = {s.backend: s for s in bench_env.backends()}
    rows: list[BenchRow] = []
    warnings: list[str] = []
    model_name = _model_name(targets)
    for backend in plan.backends:
        status = statuses[backend]
        if not status.available:
            rows.append(_skipped(model_name, backend, status.reason))
    if Backend.TORCH in plan.backends and statuses[Backend.TORCH].available:
        for t in targets:
            if t.model is None:
                rows.append(_skipped(model_name, Backend.TORCH, t.torch_reason, size=t.size))
    runnable = [b for b in plan.backends if statuses[b].available]
    _set_torch_threads(plan.threads, Backend.TORCH in runnable)
    with PowerSampler() as power:
        if power.reason:
            warnings.append(f"power not measured: {power.reason}")
        for t in targets:
            for variant in _variants(t, plan):
                reference: dict = {}
                for precision in _precisions(t, plan, variant):
                    for backend in sorted(runnable, key=ORDER.index):
                        if backend is Backend.TORCH and (t.model is None or precision != "fp32"):
                            continue  # torch is the fp32 eager reference only
                        if backend is not Backend.TORCH and t.manifest is None:
                            continue
                        for batch in plan.batches:
                            row = _row(t, variant, precision, backend, batch, plan, images, reference, power, log)
                            rows.append(row)
                            warnings += row.warnings
    return rows, warnings + int8_not_faster(rows)


def int8_not_faster(rows: list[BenchRow]) -> list[str]:
    """One warning per int8 row whose median latency is not below the fp32 row of the same model, variant,
    backend, batch and size. On CPUs without int8 dot-product instructions (AVX-512 VNNI / AVX-VNNI), and
    on small graphs, the Q/DQ conversions can cost what the int8 convolutions save."""
    def key(row: BenchRow) -> tuple:
        return row.model, row.variant, row.backend, row.batch, row.img_size

    timed = [r for r in rows if r.ok and r.latency_ms is not None]
    fp32 = {key(r): r.latency_ms.p50 for r in timed if r.precision == "fp32"}
    warnings = []
    for r in timed:
        base = fp32.get(key(r)) if r.precision == "int8" else None
        if base is not None and r.latency_ms.p50 >= base:
            warnings.append(f"{r.variant} int8 on {r.backend.short} (batch {r.batch}, {r.img_size} px) is not faster "
                            f"than fp32: {r.latency_ms.p50:.2f} ms vs {base:.2f} ms; this CPU's int8 kernels do not "
                            "pay off here, use fp32")
    return warnings


def _model_name(targets: list[Target]) -> str:
    for t in targets:
        if t.manifest is not None:
            return t.manifest.model["name"]
        if t.model is not None:
            return t.model.name
    return "?"


def _variants(t: Target, plan: SweepPlan) -> list[str]:
    have = list(dict.fromkeys(a.variant for a in t.manifest.artifacts)) if t.manifest else t.model.variants()
    if plan.variants is None:
        return have
    chains = {c.variant for c in t.manifest.progressive} if t.manifest else set()  # bench.progressive times them
    missing = [v for v in plan.variants if v not in have and v not in chains]
    if missing:
        raise EdgesegError(f"variant(s) {', '.join(missing)} not available; "
                           f"this {'bundle' if t.manifest else 'model'} has: {', '.join(have)}")
    return [v for v in plan.variants if v in have]


def _precisions(t: Target, plan: SweepPlan, variant: str) -> list[str]:
    if t.manifest is None:
        return ["fp32"]
    have = [a.precision for a in t.manifest.artifacts if a.variant == variant]
    wanted = plan.precisions or have
    order = {p: i for i, p in enumerate(mf.PRECISIONS)}
    return sorted(dict.fromkeys(wanted), key=lambda p: order.get(p, 99))


def _skipped(model: str, backend: Backend, reason: str, size: int | None = None) -> BenchRow:
    return BenchRow(model=model, backend=backend, img_size=size, status="skipped", reason=reason)


def _set_torch_threads(threads: int, needed: bool) -> None:
    if needed:
        import torch

        torch.set_num_threads(threads)


def _row(
    t: Target, variant, precision, backend: Backend, batch, plan, images: Images, reference, power, log
) -> BenchRow:
    row = BenchRow(model=_model_name([t]), backend=backend, variant=variant, precision=precision, batch=batch,
                   img_size=t.size)
    label = f"{variant} {precision} {backend.short} batch {batch} at {t.size}px"
    try:
        seg, facts = _open(t, variant, precision, backend, plan.threads)
    except EdgesegError as exc:  # the backend cannot run this artifact here (no engine, no artifact, ...)
        return replace(row, status="skipped", reason=str(exc))
    row = replace(row, **facts, img_size=seg.size[0])
    try:
        with seg:
            if seg.batch is not None and seg.batch != batch:
                why = f"{row.file} has a fixed batch of {seg.batch}; export it with a dynamic batch of {batch} or more"
                return replace(row, status="skipped", reason=why)
            log(f"bench: {label}")
            row = replace(row, **_quality(seg, images, reference, f"{backend.short} {precision}"))
            timed = [images.images[i % len(images.images)] for i in range(batch)]
            timing = time_pipeline(
                preprocess=lambda: seg.preprocess(timed),
                infer=lambda b: seg.runner.infer({seg.input_name: b}),
                postprocess=seg.postprocess,
                batch=batch,
                plan=plan.timing,
                device_timings=seg.runner.last_timings,
            )
            row = replace(row, **_timed(timing), power=power.window(*timing.window, images=batch * timing.latency.n),
                          gpu_mem_mb=_gpu_memory(backend, seg))
    except EdgesegError as exc:
        return replace(row, status="failed", reason=str(exc))
    except Exception as exc:  # noqa: BLE001  (a backend crashing on one row must not lose the others)
        return replace(row, status="failed", reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    if timing.latency.noisy:
        row.warnings.append(
            f"{label}: latency CV {timing.latency.cv:.1%} > {CV_WARN:.0%} (noisy machine or too few iterations)"
        )
    return row


def _timed(timing: Timing) -> dict:
    """The row fields a timing fills."""
    return {
        "latency_ms": timing.latency,
        "preprocess_ms": timing.preprocess,
        "postprocess_ms": timing.postprocess,
        "end_to_end_ms": timing.end_to_end,
        "throughput": timing.throughput,
        "throughput_e2e": timing.throughput_e2e,
        "device_ms": timing.device,
        "peak_rss_mb": timing.peak_rss_mb,
        "peak_rss_scope": timing.peak_rss_scope,
    }


def _open(t: Target, variant, precision, backend: Backend, threads):
    """(Segmenter, row facts: device, file, file size, params, GFLOPs) for one row."""
    from ..runtime import Segmenter

    if backend is Backend.TORCH:
        from .torch_runner import TorchRunner, torch_artifact

        device = "cuda" if _torch_cuda() else "cpu"
        artifact = torch_artifact(t.model, variant, t.size)
        if t.manifest is not None:
            bundled = _find_artifact(t.manifest, variant, "fp32")
            if bundled is not None:
                artifact = replace(artifact, threshold=bundled.threshold, output_kind=bundled.output_kind)
        shape = artifact.input.shape
        runner = TorchRunner(t.model.deploy(variant), shape[1], artifact.output.shape[1], shape[2], device)
        weights = t.checkpoint_file
        facts = {"device": f"torch {device}", "file": weights.name if weights else None,
                 "file_size_mb": weights.stat().st_size / 2**20 if weights else None, **_deploy_stats(t, variant)}
        return Segmenter(runner, artifact, t.normalization or t.manifest.normalization), facts
    artifact = _find_artifact(t.manifest, variant, precision)
    if artifact is None:
        raise EdgesegError(f"{variant}.{precision} not in the bundle")
    seg = Segmenter.from_bundle(t.bundle, backend=backend.value, variant=variant, precision=precision, threads=threads)
    params, gflops = artifact.params, artifact.gflops
    if (params is None or gflops is None) and t.model is not None:
        stats = _deploy_stats(t, variant)
        params, gflops = params or stats["params"], gflops or stats["gflops"]
    size_mb = (t.bundle / artifact.file).stat().st_size / 2**20
    rewritten = getattr(seg.runner, "details", {}).get("graph") == ort_int8.GRAPH
    device = f"{backend.short} (uint8)" if rewritten else backend.short  # the CPU's int8 graph, docs/benchmarks.md
    facts = {"device": device, "file": artifact.file, "file_size_mb": size_mb, "params": params,
             "gflops": gflops}
    return seg, facts


def _find_artifact(manifest: mf.Manifest, variant: str, precision: str) -> mf.Artifact | None:
    return next((a for a in manifest.artifacts if a.variant == variant and a.precision == precision), None)


def _deploy_stats(t: Target, variant: str) -> dict:
    """Params and GFLOPs of the target's deploy module, counted once per variant (kept on the target)."""
    if variant not in t.stats:
        from ..models.flops import deploy_stats

        s = deploy_stats(t.model, variant, t.size)
        t.stats[variant] = {"params": s.params, "gflops": s.gflops}
    return t.stats[variant]


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _quality(seg, images: Images, reference: dict, name: str) -> dict:
    """IoU/Dice vs ground truth and mask parity vs the reference, from one untimed pass over the images."""
    masks = seg.segment(list(images.images))
    out: dict = {}
    if images.masks is not None:
        scores = dataset_scores(masks, images.masks)
        out.update(iou=scores["mean_iou"], dice=scores["mean_dice"], micro_iou=scores["micro_iou"],
                   scored_images=scores["images"])
        classes = seg.artifact.output.shape[1]
        if classes > 1:
            out.update(_class_quality(masks, images.masks, classes))
    if not reference:
        reference.update(name=name, masks=masks)
    total = Confusion(0, 0, 0, 0)
    flips = pixels = 0
    for a, b in zip(masks, reference["masks"], strict=True):
        total = total + Confusion.of(a, b)
        flips += int(np.count_nonzero(a != b))
        pixels += a.size
    out["parity"] = Parity(reference=reference["name"], flips=flips / pixels if pixels else 0.0, iou=total.iou())
    return out


def _class_quality(masks, truth, classes: int) -> dict:
    """A multi-class row: iou/dice become the mean over classes 1..C-1, and each class's scores are kept."""
    try:
        scores = class_scores(masks, truth, classes)
    except ValueError as exc:
        raise EdgesegError(f"`data` masks do not fit this {classes}-class model: {exc}") from None
    return {"iou": scores["mean_iou"], "dice": scores["mean_dice"], "class_scores": scores["classes"]}


def _gpu_memory(backend: Backend, seg) -> float | None:
    if backend is Backend.TORCH:
        import torch

        return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    if backend is Backend.ORT_CPU:
        return None
    from .nvidia import memory_used_mb

    return memory_used_mb()
