from dataclasses import replace

import pytest
from clirun import invoke
from runtime.bundles import make_bundle, onnx_graph  # tests/runtime, imported by pytest as package "runtime"

from edgeseg import manifest as mf


def test_build_without_tensorrt_is_one_line_with_install_hint(tmp_path):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is installed here")
    make_bundle(tmp_path)
    result = invoke("build", tmp_path, "--target", "jetson-orin-nx", "--max-batch", "4")
    assert result.exit_code == 2
    assert len(result.lines) == 1 and "pip install 'edgeseg[trt]'" in result.lines[0], result.output
    assert "Traceback" not in result.output
    result = invoke("build", tmp_path, "--target", "jetson-orin-nx", "--dry-run")
    assert result.exit_code == 2 and result.says("give --trt-version")


def test_build_rejects_bad_options(tmp_path):
    result = invoke("build", tmp_path, "--target", "jetson-tx2")
    assert result.exit_code == 2 and result.says("jetson-orin-nano")
    result = invoke("build", tmp_path, "--opt-level", "7")
    assert result.exit_code == 2 and result.says("--opt-level")


def test_dry_run_prints_plans_without_tensorrt(tmp_path):
    make_bundle(tmp_path)
    result = invoke("build", tmp_path, "--dry-run", "--trt-version", "10.3.0", "--target", "jetson-orin-nx")
    assert result.exit_code == 0, result.output
    assert result.says("full.fp32.onnx -> full.fp32.jetson-orin-nx.")
    for fragment in ("[to build]", "sm 8.7", "weakly typed", "batch 1/1/4", "workspace 2 GiB"):
        assert result.says(fragment), fragment
    result = invoke("build", tmp_path, "--dry-run", "--trt-version", "11.1.0", "--compute-capability", "8.9",
                    "--max-batch", "16")
    assert result.exit_code == 0, result.output
    assert result.says("strongly typed") and result.says("batch 1/1/16")
    for args, message in [
        (["--target", "jetson-orin-nx", "--dla-core", "3"], "DLA cores 0-1"),
        (["--target", "cuda"], "--compute-capability"),
        (["--target", "jetson-orin-nano", "--compute-capability", "8.6"], "build the engine on the target"),
    ]:
        result = invoke("build", tmp_path, "--dry-run", "--trt-version", "10.3.0", *args)
        assert result.exit_code == 2 and result.says(message) and "Traceback" not in result.output
    result = invoke("build", tmp_path, "--trt-version", "10.3.0")
    assert result.exit_code == 2 and result.says("only go with --dry-run")


def test_dry_run_refuses_dla_on_tensorrt_10_8_and_plans_it_on_10_3(tmp_path):
    """Issue 12's acceptance: an Orin NX with TensorRT 10.8 and --dla-core 0 is refused with the reason."""
    import torch

    from edgeseg.export.bundle import write_model
    from edgeseg.export.fp16 import to_fp16

    manifest, model = make_bundle(tmp_path)
    (tmp_path / "full.fp32.onnx").unlink()
    fp16 = replace(manifest.artifacts[0], file="full.fp16.onnx", precision="fp16")
    graph, _ = to_fp16(onnx_graph(model, torch.zeros(1, 3, 32, 32)))
    fp16 = replace(fp16, sha256=write_model(tmp_path, fp16.file, graph, mf.stamp("tiny", fp16, mf.Source())))
    mf.save(tmp_path, replace(manifest, artifacts=(fp16,)))
    args = ("build", tmp_path, "--dry-run", "--target", "jetson-orin-nx", "--dla-core", "0")
    refused = invoke(*args, "--trt-version", "10.8")
    assert refused.exit_code != 0 and refused.says("10.7 was the last TensorRT 10 with DLA")
    assert "Traceback" not in refused.output
    planned = invoke(*args, "--trt-version", "10.3")
    assert planned.exit_code == 0, planned.output
    assert planned.says("DLA core 0") and planned.says("TensorRT 10.3")
