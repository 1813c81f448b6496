"""Segmenter: a bundle + the best available backend -> masks at the caller's image size.

    with Segmenter.from_bundle("runs/bundle") as seg:
        mask = seg.segment("scan.png")              # HxW uint8 at the image's own size
        masks, probs = seg.segment([a, b], probabilities=True)

The benchmark times the three public steps separately: `preprocess(images) -> (batch, metas)`,
`runner.infer({"input": batch})`, `postprocess(outputs, metas)`. A Segmenter holds no per-call state,
so one instance can serve many threads (the ONNX Runtime session is thread-safe; TrtRunner locks).

A progressive variant (`variant="progressive"`) refines its mask step by step:

        for level, mask in seg.refine("scan.png"):  # ("L1", mask), ("L2", mask), ...
            show(mask)
        mask, level = seg.segment("scan.png", deadline_ms=20)  # the deepest level that fits 20 ms

With a deadline, each next step starts only if its predicted time (from the steps measured so far, the
step times shared by all calls of this Segmenter) ends within the deadline, counted from the call;
the first level is always returned. A single-graph bundle has one level, its variant.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..errors import EdgesegError, EdgesegInputError, IntegrityError
from ..normalization import Normalization
from . import preprocess as pre
from .backends import RUNTIME, Backend, candidates, matching_engine, parse_backend
from .base import Runner
from .progressive import Chain, OrtChain, StepTimes, run_until


class Segmenter:
    def __init__(
        self,
        runner: Runner,
        artifact: mf.Artifact,
        normalization: Normalization,
        *,
        fit: str = "resize",
        skipped: Sequence[str] = (),
        clock: Callable[[], float] = time.perf_counter,
    ):
        if fit not in pre.FITS:
            raise EdgesegError(f"fit must be one of {pre.FITS}, got {fit!r}")
        shape = artifact.input.shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
            raise EdgesegError(f"{artifact.file}: input must be (N, C, H, W) with static C, H, W, got {shape}")
        if shape[1] != normalization.channels:
            raise EdgesegError(
                f"{artifact.file} takes {shape[1]} channels but the manifest normalization is "
                f"{normalization.color}"
            )
        _check_runner(runner, artifact)
        self.runner = runner
        self.artifact = artifact
        self.normalization = normalization
        self.fit = fit
        self.size = (int(shape[2]), int(shape[3]))
        self.batch = shape[0] if isinstance(shape[0], int) else None  # fixed batch of the graph, if any
        self.input_name = artifact.input.name
        self.output_name = artifact.output.name
        self.skipped = tuple(skipped)  # backends tried before this one and why they were passed over
        self.clock = clock  # seconds; what deadlines are measured with
        self.levels = runner.levels if isinstance(runner, Chain) else (artifact.variant,)
        self.step_times = StepTimes(runner.costs if isinstance(runner, Chain) else [None])

    @property
    def backend(self) -> str:
        return self.runner.name

    @classmethod
    def from_bundle(
        cls,
        path: str | Path,
        backend: str = "auto",
        variant: str | None = None,
        precision: str | None = None,
        *,
        fit: str = "resize",
        threads: int = 0,
        cache_dir: str | Path | None = None,
        public_key: str | Path | None = None,
    ) -> Segmenter:
        """Verify the bundle (its signature with `public_key`, its manifest's digest and schema, every
        file's sha256 and graph), pick the artifact (or progressive chain) and the best backend that
        starts here."""
        bundle = Path(path)
        if public_key is not None:
            from ..signing import verify

            verify(bundle, public_key)
        manifest = mf.load(bundle)
        progressive = {c.variant for c in manifest.progressive}
        if variant in progressive or (variant is None and not manifest.artifacts):
            artifact = manifest.chain(variant, precision)
        else:
            artifact = manifest.artifact(variant, precision)
        skipped = []
        for name in candidates(backend):
            try:
                runner = open_runner(name, bundle, manifest, artifact, threads=threads, cache_dir=cache_dir)
            except EdgesegError as exc:
                if backend != "auto":
                    raise
                skipped.append(f"{name}: {exc}")
                continue
            return cls(runner, artifact, manifest.normalization, fit=fit, skipped=skipped)
        why = "; ".join(skipped) or "install onnxruntime (pip install 'edgeseg[ort]')"
        raise EdgesegError(f"no backend can run this bundle here: {why}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.runner.close()

    def preprocess(self, images) -> tuple[np.ndarray, list[pre.Meta]]:
        """Images (a path/array or a sequence of them) -> (N, C, H, W) float32 batch and per-image metas."""
        items = _as_list(images)
        if not items:
            raise EdgesegInputError("no images given")
        prepared = [pre.prepare(image, self.size, self.normalization, self.fit) for image in items]
        return np.stack([p[0] for p in prepared]), [p[1] for p in prepared]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a preprocessed batch of any size through the runner in chunks it accepts."""
        return np.concatenate([self.runner.infer({self.input_name: chunk})[self.output_name][:n]
                               for chunk, n in self._chunks(batch)])

    def _chunks(self, batch: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """(chunk, images in it): chunks the runner accepts, a static batch padded with zeros."""
        step = self.batch or self.runner.max_batch or len(batch)
        chunks = []
        for start in range(0, len(batch), step):
            chunk = batch[start : start + step]
            n = len(chunk)
            if self.batch is not None and n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n, *chunk.shape[1:]), chunk.dtype)])
            chunks.append((chunk, n))
        return chunks

    def _levels(self, batch: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """(level, output) per step of a progressive chain, a step run per item; once for one graph."""
        if not isinstance(self.runner, Chain):
            yield self.artifact.variant, self.infer(batch)
            return
        chunks = self._chunks(batch)
        if len(chunks) > 1:
            raise EdgesegInputError(f"a progressive {self.backend} chain refines at most {len(chunks[0][0])} "
                                    f"image(s) per call, got {len(batch)}")
        (chunk, n), = chunks
        run = self.runner.steps({self.input_name: chunk})
        try:
            for level, prediction in zip(self.levels, run):
                yield level, prediction[:n]
        finally:
            run.close()

    def refine(self, images, probabilities: bool = False):
        """Yield (level, masks) after each step of a progressive chain (once for a single-graph bundle);
        masks as `segment` returns them. Stopping early skips the remaining steps."""
        single = _is_single(images)
        batch, metas = self.preprocess(images)
        for level, output in self._levels(batch):
            yield level, _unwrap(self.postprocess(output, metas, probabilities), single, probabilities)

    def postprocess(self, outputs, metas: Sequence[pre.Meta], probabilities: bool = False):
        """(N, C, H, W) network output (or the runner's output dict) -> masks at each image's size."""
        if isinstance(outputs, dict):
            outputs = outputs[self.output_name]
        masks, probs = [], []
        for output, meta in zip(outputs, metas, strict=True):
            p = pre.restore(pre.probabilities(output, self.artifact.output_kind), meta)
            masks.append(pre.to_mask(p, self.artifact.threshold))
            if probabilities:
                probs.append(p[0] if p.shape[0] == 1 else p)
        return (masks, probs) if probabilities else masks

    def segment(self, images, probabilities: bool = False, *, deadline_ms: float | None = None):
        """Masks (HxW uint8: 0/1, or class indices 0..C-1) for one image or a sequence; with `probabilities`, also
        the probability maps at the image's size (HxW for one channel; CxHxW, a softmax over the C classes).

        With `deadline_ms`, returns (that result, level): the deepest level whose steps are predicted to
        end within `deadline_ms` of the call (never less than the first level)."""
        start = self.clock()
        single = _is_single(images)
        if deadline_ms is not None and not (isinstance(deadline_ms, (int, float)) and deadline_ms >= 0):
            raise EdgesegError(f"deadline_ms must be a number >= 0 (math.inf for none), got {deadline_ms!r}")
        if not single and len(_as_list(images)) == 0:
            empty = ([], []) if probabilities else []
            return empty if deadline_ms is None else (empty, None)
        batch, metas = self.preprocess(images)
        if deadline_ms is None:
            return _unwrap(self.postprocess(self.infer(batch), metas, probabilities), single, probabilities)
        deadline = start + deadline_ms / 1000 if math.isfinite(deadline_ms) else math.inf
        _, (level, output) = run_until(self._levels(batch), self.step_times, deadline, self.clock)
        return _unwrap(self.postprocess(output, metas, probabilities), single, probabilities), level


def open_runner(
    name: str, bundle: Path, manifest: mf.Manifest, artifact: mf.Artifact, *, threads: int = 0, cache_dir=None
) -> Runner:
    """Start one backend's runner for `artifact`, or raise EdgesegError saying why it cannot start."""
    backend = parse_backend(name, RUNTIME)
    if isinstance(artifact, mf.Progressive):
        return open_chain(backend, bundle, manifest, artifact, threads=threads, cache_dir=cache_dir)
    if backend is Backend.TENSORRT:
        from .trt import TrtRunner
        from .trt_info import current_device, trt_version

        device = current_device()
        engine = matching_engine(manifest, artifact, device.compute_capability, trt_version())
        if engine is None:
            raise EdgesegError(
                f"no engine for {artifact.file} on compute capability {device.compute_capability} with TensorRT "
                f"{trt_version()} in the bundle; run `edgeseg build {bundle}` first"
            )
        return TrtRunner(bundle / engine.file)
    from .ort import OrtRunner

    cache = cache_dir if cache_dir is not None else bundle / "ort-trt-cache"
    return OrtRunner(bundle / artifact.file, backend.value, precision=artifact.precision, threads=threads,
                     cache_dir=cache if backend is Backend.ORT_TENSORRT else None)


def open_chain(backend: Backend, bundle: Path, manifest: mf.Manifest, chain: mf.Progressive, *, threads: int = 0,
               cache_dir=None) -> Chain:
    """Start one backend's runner for a progressive chain: TensorRT needs an engine for every step."""
    if backend is Backend.TENSORRT:
        from .trt import TrtChain
        from .trt_info import current_device, trt_version

        device = current_device()
        engines = [matching_engine(manifest, step, device.compute_capability, trt_version()) for step in chain.steps]
        missing = [step.file for step, engine in zip(chain.steps, engines) if engine is None]
        if missing:
            raise EdgesegError(
                f"no engine for {', '.join(missing)} on compute capability {device.compute_capability} with "
                f"TensorRT {trt_version()} in the bundle (`edgeseg build` does not build progressive steps yet); "
                "run the progressive variant with --backend ort-tensorrt or ort-cuda"
            )
        return TrtChain([bundle / engine.file for engine in engines], chain)
    cache = cache_dir if cache_dir is not None else bundle / "ort-trt-cache"
    return OrtChain(bundle, chain, backend.value, threads=threads,
                    cache_dir=cache if backend is Backend.ORT_TENSORRT else None)


def _unwrap(result, single: bool, probabilities: bool):
    if not single:
        return result
    return (result[0][0], result[1][0]) if probabilities else result[0]


def _check_runner(runner: Runner, artifact: mf.Artifact) -> None:
    """The backend's own view of the model must be what the manifest says (else every image would fail)."""
    for spec, tensors in ((artifact.input, runner.inputs), (artifact.output, runner.outputs)):
        info = next((t for t in tensors if t.name == spec.name), None)
        if info is None:
            raise IntegrityError(
                f"{artifact.file}: the model has no tensor {spec.name!r}; "
                f"it has {', '.join(t.name for t in tensors)}"
            )
        want = tuple(d if isinstance(d, int) else None for d in spec.shape)
        if info.dtype != np.dtype(spec.dtype) or (info.shape and info.shape != want):
            raise IntegrityError(f"{artifact.file}: tensor {spec.name!r} is {info.dtype} {info.shape} in the model, "
                                 f"{spec.dtype} {want} in the manifest")


def _is_single(images) -> bool:
    return isinstance(images, (str, Path, np.ndarray))


def _as_list(images) -> list:
    if _is_single(images):
        return [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    raise EdgesegInputError(f"images must be a path, a numpy array or a list of them, got {type(images).__name__}")
