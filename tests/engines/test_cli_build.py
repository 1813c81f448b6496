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


def test_build_rejects_bad_options(tmp_path):
    result = runner.invoke(app, ["build", str(tmp_path), "--target", "jetson-tx2"])
    assert result.exit_code == 2 and "jetson-orin-nano" in result.output
    result = runner.invoke(app, ["build", str(tmp_path), "--opt-level", "7"])
    assert result.exit_code == 2
