"""Progressive runtime: refine, deadlines (on an injected clock), ORT chains with I/O binding, TensorRT chains."""

import math
import threading

import numpy as np
import pytest

from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError, EdgesegInputError
from edgeseg.runtime import Segmenter
from edgeseg.runtime.base import TensorInfo
from edgeseg.runtime.progressive import Chain, StepTimes, buffer_plan, engine_mismatch, run_until

SIZE = 32
STEP_MS = (10.0, 20.0, 30.0, 40.0)  # what each step of the fake chain takes on the fake clock


@pytest.fixture(scope="module")
def sharp(tmp_path_factory):
    """A tiny UNet# bundle: the progressive chain and the standalone L4, fp32, batch 1."""
    import torch

    from edgeseg.export import export_bundle
    from edgeseg.models import create_model

    folder = tmp_path_factory.mktemp("progressive")
    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=0.0625).eval()
    export_bundle((model, mf.Normalization()), folder, variants="L4,progressive", img_size=SIZE, parity_images=2)
    return folder, mf.load(folder)


def _image(seed=0):
    return (np.random.default_rng(seed).random((SIZE, SIZE, 3)) * 255).astype(np.uint8)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedChain(Chain):
    """A chain whose step k takes STEP_MS[k] on `clock` and predicts level k + 1 as logits k - 1.5."""

    name = "timed"

    def __init__(self, spec: mf.Progressive, clock: Clock, costs=(1.0, 2.0, 3.0, 4.0)):
        self.clock, self.levels, self.costs = clock, spec.levels, costs
        self.inputs = (TensorInfo("input", (1, 3, SIZE, SIZE), np.dtype("float32")),)
        self.outputs = (TensorInfo(spec.output.name, (1, 1, SIZE, SIZE), np.dtype("float32")),)
        self.ran = []

    def run_steps(self, feed):
        for k, ms in enumerate(STEP_MS):
            self.clock.now += ms / 1000
            self.ran.append(k)
            yield np.full((1, 1, SIZE, SIZE), k - 1.5, np.float32)


def _timed(sharp):
    _, manifest = sharp
    clock = Clock()
    chain = manifest.chain("progressive", "fp32")
    runner = TimedChain(chain, clock)
    return Segmenter(runner, chain, manifest.normalization, clock=clock), runner, clock


# --- the deadline decisions ---------------------------------------------------------------------------


def test_a_deadline_shorter_than_step_one_still_returns_level_one(sharp):
    seg, runner, _ = _timed(sharp)
    mask, level = seg.segment(_image(), deadline_ms=1)
    assert level == "L1" and runner.ran == [0] and mask.shape == (SIZE, SIZE) and not mask.any()


def test_an_infinite_deadline_returns_level_four(sharp):
    seg, runner, _ = _timed(sharp)
    mask, level = seg.segment(_image(), deadline_ms=math.inf)
    assert level == "L4" and runner.ran == [0, 1, 2, 3] and mask.all()


@pytest.mark.parametrize("deadline_ms, level", [(29.9, "L1"), (30.0, "L2"), (65.0, "L3"), (99.9, "L3"), (100, "L4")])
def test_a_deadline_in_between_returns_the_deepest_level_whose_measured_time_fits(sharp, deadline_ms, level):
    seg, runner, clock = _timed(sharp)
    seg.segment(_image(), deadline_ms=math.inf)  # measures every step once
    runner.ran.clear()
    start = clock.now
    _, got = seg.segment(_image(), deadline_ms=deadline_ms)
    assert got == level
    assert (clock.now - start) * 1000 <= max(deadline_ms, STEP_MS[0])  # no step started that could not finish
    assert len(runner.ran) == int(level[1])


def test_steps_never_measured_are_predicted_from_their_gflops(sharp):
    """First call: step 1 took 10 ms for 1 GFLOP, so step 2 (2 GFLOPs) is predicted at 20 ms, step 3 at 30 ms."""
    seg, _, _ = _timed(sharp)
    _, level = seg.segment(_image(), deadline_ms=60)
    assert level == "L3"


def test_step_times_take_the_median_and_scale_by_cost():
    times = StepTimes([1.0, 3.0, None])
    assert times.predict(0) is None and times.predict(1) is None
    for seconds in (0.010, 0.050, 0.012):
        times.record(0, seconds)
    assert times.predict(0) == 0.012
    assert times.predict(1) == pytest.approx(0.036)
    assert times.predict(2) is None  # no cost, never measured: never started on a deadline


def test_run_until_closes_the_steps_it_did_not_run():
    clock = Clock()
    closed = []

    def steps():
        try:
            for k in range(3):
                clock.now += 1
                yield k
        finally:
            closed.append(True)

    times = StepTimes([1.0, 1.0, 1.0])
    assert run_until(steps(), times, deadline=1.5, clock=clock) == (0, 0)
    assert closed == [True]


def test_a_bad_deadline_is_refused(sharp):
    seg, _, _ = _timed(sharp)
    for bad in (-1, float("nan"), "5"):
        with pytest.raises(EdgesegError, match="deadline_ms must be a number >= 0"):
            seg.segment(_image(), deadline_ms=bad)


# --- ONNX Runtime chains --------------------------------------------------------------------------------


def test_refine_yields_every_level_and_ends_with_the_standalone_mask(sharp):
    folder, _ = sharp
    with Segmenter.from_bundle(folder, backend="ort-cpu", variant="progressive") as seg, \
         Segmenter.from_bundle(folder, backend="ort-cpu", variant="L4") as standalone:
        levels = list(seg.refine(_image()))
        assert [level for level, _ in levels] == ["L1", "L2", "L3", "L4"]
        assert (levels[-1][1] == standalone.segment(_image())).all()
        assert (seg.segment(_image()) == levels[-1][1]).all()
        mask, level = seg.segment(_image(), deadline_ms=math.inf)
        assert level == "L4" and (mask == levels[-1][1]).all()
        assert seg.segment(_image(), deadline_ms=0)[1] == "L1"
        masks, probs = seg.segment([_image()], probabilities=True)
        assert masks[0].shape == probs[0].shape == (SIZE, SIZE)


def test_a_single_graph_bundle_refines_once_to_its_own_variant(sharp):
    folder, _ = sharp
    with Segmenter.from_bundle(folder, backend="ort-cpu", variant="L4") as seg:
        assert [level for level, _ in seg.refine(_image())] == ["L4"]
        assert seg.segment(_image(), deadline_ms=0)[1] == "L4"


def test_more_images_than_the_chain_batch_is_one_line(sharp):
    folder, _ = sharp
    with Segmenter.from_bundle(folder, backend="ort-cpu", variant="progressive") as seg:
        with pytest.raises(EdgesegInputError, match="refines at most 1 image"):
            seg.segment([_image(), _image(1)], deadline_ms=10)
        assert len(seg.segment([_image(), _image(1)])) == 2  # without a deadline every image runs the whole chain


def test_threads_share_one_progressive_segmenter(sharp):
    folder, _ = sharp
    with Segmenter.from_bundle(folder, backend="ort-cpu", variant="progressive") as seg:
        expected = {seed: [m for _, m in seg.refine(_image(seed))] for seed in range(4)}
        failures = []

        def work(seed):
            for _ in range(3):
                got = [m for _, m in seg.refine(_image(seed))]
                if not all((a == b).all() for a, b in zip(got, expected[seed])):
                    failures.append(seed)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures


# --- TensorRT chains: decisions in Python, the real thing on a GPU ------------------------------------------


def test_every_tensor_gets_one_device_buffer_and_only_image_and_predictions_go_to_the_host(sharp):
    _, manifest = sharp
    chain = manifest.chain("progressive", "fp32")
    plan = {b.name: b for b in buffer_plan(chain, batch=4)}
    assert len(plan) == 1 + 4 + 3 + 3 + 4
    assert {name for name, b in plan.items() if b.host} == {"input", "output_L1", "output_L2", "output_L3", "output_L4"}
    assert plan["x00"].shape[0] == 4 and plan["x00"].nbytes == 4 * np.prod(plan["x00"].shape[1:]) * 4
    for step in chain.steps:
        assert {spec.name for spec in (*step.inputs, *step.outputs)} <= set(plan)


def test_an_engine_whose_tensors_differ_from_its_step_is_named(sharp):
    _, manifest = sharp
    step = manifest.chain("progressive", "fp32").steps[1]
    tensors = {s.name: (True, s.dtype) for s in step.inputs} | {s.name: (False, s.dtype) for s in step.outputs}
    assert engine_mismatch(step, tensors) is None
    assert "tensor 'x00' is a float16 input in the engine and a float32 input" in engine_mismatch(
        step, {**tensors, "x00": (True, "float16")})
    assert "tensor 'x02' is absent in the engine" in engine_mismatch(
        step, {k: v for k, v in tensors.items() if k != "x02"})


@pytest.mark.gpu
def test_tensorrt_chain_matches_onnx_runtime(sharp, tmp_path):
    """Builds one engine per step with TensorRT's own builder, then runs the chain with shared buffers."""
    import tensorrt as trt

    from edgeseg.runtime.trt import TrtChain

    folder, manifest = sharp
    chain = manifest.chain("progressive", "fp32")
    logger = trt.Logger(trt.Logger.WARNING)
    engines = []
    for step in chain.steps:
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        assert parser.parse((folder / step.file).read_bytes())
        config = builder.create_builder_config()
        data = builder.build_serialized_network(network, config)
        assert data is not None
        path = tmp_path / f"{step.level}.engine"
        path.write_bytes(bytes(data))
        engines.append(path)
    with TrtChain(engines, chain) as gpu, Segmenter(gpu, chain, manifest.normalization) as seg, \
         Segmenter.from_bundle(folder, backend="ort-cpu", variant="progressive") as cpu:
        for (level, mask), (cpu_level, cpu_mask) in zip(seg.refine(_image()), cpu.refine(_image()), strict=True):
            assert level == cpu_level and (mask != cpu_mask).mean() < 0.01
        assert seg.segment(_image(), deadline_ms=math.inf)[1] == "L4"


# --- edgeseg predict --deadline-ms --------------------------------------------------------------------------


def test_predict_with_a_deadline_writes_the_level_of_every_image(sharp, tmp_path):
    from clirun import invoke

    from edgeseg.data.images import write_png

    folder, _ = sharp
    images = tmp_path / "in put"
    images.mkdir()
    for seed in range(2):
        write_png(images / f"scan,{seed}.png", _image(seed))
    r = invoke("predict", folder, images, "--out", tmp_path / "out", "--variant", "progressive",
               "--backend", "ort-cpu", "--deadline-ms", "1e9")
    assert r.exit_code == 0, r.output
    assert r.says("levels within 1e+09 ms: L4 x 2")
    lines = (tmp_path / "out" / "levels.csv").read_text().splitlines()
    assert lines == ["image,level", '"scan,0.png",L4', '"scan,1.png",L4']
    r = invoke("predict", folder, images, "--out", tmp_path / "out0", "--variant", "progressive",
               "--backend", "ort-cpu", "--deadline-ms", "0")
    assert r.exit_code == 0 and r.says("L1 x 2")
    r = invoke("predict", folder, images, "--out", tmp_path / "out1", "--deadline-ms", "-1")
    assert r.exit_code != 0 and "Traceback" not in r.output
