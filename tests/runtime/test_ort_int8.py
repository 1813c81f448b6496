"""The ORT CPU runner runs an int8 bundle artifact as `ort_int8.for_ort_cpu` derives it: quantized between
convolutions (ONNX Runtime's own optimized graph says so), equal to the artifact within quantization noise,
checked against the manifest's sha256, and without torch."""

import json
from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from edgeseg import manifest as mf
from edgeseg.data import open_source
from edgeseg.errors import EdgesegError, IntegrityError, MissingDependency
from edgeseg.export import export_bundle
from edgeseg.models import create_model
from edgeseg.runtime import OrtRunner, Segmenter
from edgeseg.runtime.ort_int8 import GRAPH

from .subprocess_env import run_without_torch

pytestmark = pytest.mark.slow  # exports a UNet# bundle with int8 calibration once per module

NORM = mf.Normalization(color="rgb", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
DATA = "synthetic:nuclei?n=12&size=32&seed=0"


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory):
    """UNet# L3 (dense skips: Concats of up to 4 inputs, MaxPool, bilinear Resize), fp32 and int8, 32 px."""
    folder = tmp_path_factory.mktemp("int8 bundle")
    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=0.125).eval()
    manifest = export_bundle((model, NORM), folder, variants="L3", precisions="fp32,int8", img_size=32,
                             calib_data=DATA, calib_images=4, parity_images=4)
    return folder, manifest


@pytest.fixture
def optimized(monkeypatch, tmp_path):
    """Make every ONNX Runtime session the runner creates save the graph it runs (after ORT's fusions)."""
    import onnxruntime as ort

    path = tmp_path / "optimized.onnx"
    real = ort.InferenceSession

    def saving(model, sess_options=None, **kwargs):
        sess_options.optimized_model_filepath = str(path)
        return real(model, sess_options=sess_options, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", saving)
    return lambda: onnx.load(str(path))


def _images(n=4):
    return [s.image for s in (open_source(DATA)[i] for i in range(8, 8 + n))]


def _quantized_convs(graph) -> int:
    """Convs of the artifact that read and write quantized tensors (not the one reading the image, nor the head)."""
    producer = {o: n for n in graph.node for o in n.output}
    readers = Counter()
    for n in graph.node:
        readers.update((i, n.op_type) for i in n.input)
    return sum(n.op_type == "Conv" and n.input[0] in producer and producer[n.input[0]].op_type == "DequantizeLinear"
               and readers[(n.output[0], "QuantizeLinear")] == 1 for n in graph.node)


def test_cpu_runner_keeps_the_int8_artifact_quantized_between_convolutions(int8_bundle, optimized):
    folder, manifest = int8_bundle
    artifact = manifest.artifact("L3", "int8")
    plain = onnx.load(str(folder / artifact.file)).graph
    with Segmenter.from_bundle(folder, "ort-cpu", "L3", "int8", threads=1) as seg:
        assert seg.backend == "ort-cpu" and seg.runner.details == {"graph": GRAPH}
    graph = optimized().graph
    ops = Counter(n.op_type for n in graph.node)
    assert ops["QLinearConv"] == _quantized_convs(plain) > 10, ops
    assert "Concat" not in ops and ops["QLinearConcat"] == sum(n.op_type == "Concat" for n in plain.node), ops
    assert "Relu" not in ops and "FusedConv" not in ops, ops
    inits = {i.name: i for i in graph.initializer}
    activations = {inits[n.input[2]].data_type for n in graph.node if n.op_type == "QLinearConv"}
    assert activations == {onnx.TensorProto.UINT8}, "the x86 int8 kernels are the uint8 ones"


def test_cpu_runner_output_equals_the_plain_artifact_within_quantization_noise(int8_bundle):
    """The CPU graph's output differs from the artifact's (it is another graph) but is no further from fp32."""
    folder, manifest = int8_bundle
    with Segmenter.from_bundle(folder, "ort-cpu", "L3", "int8", threads=1) as seg:
        batch, _ = seg.preprocess(_images())
        ours = seg.infer(batch)

    def plain(precision):  # the file as exported: OrtRunner rewrites only what it is told is int8
        with OrtRunner(folder / manifest.artifact("L3", precision).file, threads=1) as runner:
            assert runner.details == {}
            return np.concatenate([runner.infer({"input": x[None]})["output"] for x in batch])

    artifact, fp32 = plain("int8"), plain("fp32")
    assert np.abs(ours - artifact).max() > 0
    noise = np.abs(artifact - fp32)
    assert np.abs(ours - fp32).max() <= noise.max() and np.abs(ours - fp32).mean() <= noise.mean()


def test_cpu_rewrite_reads_the_bytes_the_manifest_lists(int8_bundle, tmp_path):
    folder, manifest = int8_bundle
    artifact = manifest.artifact("L3", "int8")
    with OrtRunner(folder / artifact.file, precision="int8", threads=1, sha256=artifact.sha256) as runner:
        assert runner.details["graph"] == GRAPH
    with OrtRunner(folder / artifact.file, precision="int8", threads=1, as_exported=True) as runner:
        assert runner.details == {}
    tampered = tmp_path / artifact.file
    data = bytearray((folder / artifact.file).read_bytes())
    data[-10] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        OrtRunner(tampered, precision="int8", sha256=artifact.sha256)
    with pytest.raises(EdgesegError, match="cannot load missing.onnx"):
        OrtRunner(tmp_path / "missing.onnx", precision="int8")


def test_without_onnx_the_runner_runs_the_artifact_as_exported_and_says_so(int8_bundle, monkeypatch):
    from edgeseg.runtime import ort

    folder, manifest = int8_bundle
    real = ort.require

    def no_onnx(module, extra):
        if module == "onnx":
            raise MissingDependency("onnx is not installed; install it with: pip install 'edgeseg[ort-cpu]'")
        return real(module, extra)

    monkeypatch.setattr(ort, "require", no_onnx)
    with Segmenter.from_bundle(folder, "ort-cpu", "L3", "int8", threads=1) as seg:
        assert seg.runner.details["graph"].startswith("int8 artifact as exported")
        assert "edgeseg[ort-cpu]" in seg.runner.details["graph"]
        assert seg.segment(_images(1)[0]).shape == (32, 32)


CODE = """
import json, sys
import numpy as np
from edgeseg.runtime import Segmenter
with Segmenter.from_bundle({bundle!r}, "ort-cpu", "L3", "int8", threads=1) as seg:
    mask = seg.segment(np.full((32, 32, 3), 128, np.uint8))
print(json.dumps({{"details": seg.runner.details, "shape": list(mask.shape),
                   "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}}))
"""


def test_cpu_rewrite_needs_no_torch(int8_bundle, tmp_path):
    folder, _ = int8_bundle
    proc = run_without_torch(CODE.format(bundle=str(folder)), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"details": {"graph": GRAPH}, "shape": [32, 32], "torch": []}


def test_export_parity_measures_int8_as_the_cpu_runner_runs_it(int8_bundle):
    from edgeseg.export import parity

    folder, manifest = int8_bundle
    with Segmenter.from_bundle(folder, "ort-cpu", "L3", "int8", threads=1) as seg:
        batch, _ = seg.preprocess(_images())
        ours = seg.infer(batch)
    measured = parity.ort_outputs(onnx.load(str(folder / manifest.artifact("L3", "int8").file)), batch)
    np.testing.assert_array_equal(measured, ours)
