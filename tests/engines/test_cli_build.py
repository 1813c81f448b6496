import pytest
from typer.testing import CliRunner

from edgeseg.cli import app

runner = CliRunner()


def test_build_without_tensorrt_is_one_line_with_install_hint(tmp_path):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is installed here")
    from runtime.bundles import make_bundle  # tests/runtime, imported by pytest as package "runtime"

    make_bundle(tmp_path)
    result = runner.invoke(app, ["build", str(tmp_path), "--target", "jetson-orin-nx", "--max-batch", "4"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'edgeseg[trt]'" in lines[0] and "Traceback" not in result.output
    result = runner.invoke(app, ["build", str(tmp_path), "--target", "jetson-orin-nx", "--dry-run"])
    assert result.exit_code == 2 and "give --trt-version" in result.output


def test_build_rejects_bad_options(tmp_path):
    result = runner.invoke(app, ["build", str(tmp_path), "--target", "jetson-tx2"])
    assert result.exit_code == 2 and "jetson-orin-nano" in result.output
    result = runner.invoke(app, ["build", str(tmp_path), "--opt-level", "7"])
    assert result.exit_code == 2


def test_dry_run_prints_plans_without_tensorrt(tmp_path):
    from runtime.bundles import make_bundle  # tests/runtime, imported by pytest as package "runtime"

    make_bundle(tmp_path)
    result = runner.invoke(app, ["build", str(tmp_path), "--dry-run", "--trt-version", "10.3.0", "--target", "jetson-orin-nx"])
    assert result.exit_code == 0, result.output
    assert "full.fp32.onnx -> full.fp32.jetson-orin-nx." in result.output
    assert "[to build]" in result.output and "sm 8.7" in result.output and "weakly typed" in result.output
    assert "batch 1/1/4" in result.output and "workspace 2 GiB" in result.output
    result = runner.invoke(app, ["build", str(tmp_path), "--dry-run", "--trt-version", "11.1.0", "--compute-capability", "8.9", "--max-batch", "16"])
    assert result.exit_code == 0, result.output
    assert "strongly typed" in result.output and "batch 1/1/16" in result.output
    for args, message in [
        (["--target", "jetson-orin-nx", "--dla-core", "3"], "DLA cores 0-1"),
        (["--target", "cuda"], "--compute-capability"),
        (["--target", "jetson-orin-nano", "--compute-capability", "8.6"], "build the engine on the target"),
    ]:
        result = runner.invoke(app, ["build", str(tmp_path), "--dry-run", "--trt-version", "10.3.0", *args])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["build", str(tmp_path), "--trt-version", "10.3.0"])
    assert result.exit_code == 2 and "only go with --dry-run" in result.output
