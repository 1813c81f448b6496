import importlib.util
import json
import subprocess
import sys

from clirun import invoke

from edgeseg.bench import env
from edgeseg.runtime.backends import Backend


def test_backends_all_listed_with_reasons():
    statuses = {b.name: b for b in env.backends()}
    assert tuple(statuses) == ("torch", "ort-cpu", "ort-cuda", "ort-trt", "trt")  # every Backend, by its short name
    assert [b.backend for b in env.backends()] == list(Backend)
    assert env.status(Backend.ORT_CPU) == statuses["ort-cpu"]
    for b in statuses.values():
        assert b.available or b.reason, f"{b.name} unavailable without a reason"
    if importlib.util.find_spec("onnxruntime"):
        assert statuses["ort-cpu"].available
    if importlib.util.find_spec("tensorrt") is None:
        assert not statuses["trt"].available and "TensorRT not importable" in statuses["trt"].reason
    if env.nvidia_gpu_present() is not None:  # no GPU: the GPU providers must not claim to work
        assert not statuses["ort-cuda"].available and "no NVIDIA GPU" in statuses["ort-cuda"].reason
        assert not statuses["ort-trt"].available


def test_probe_model_is_a_valid_onnx_relu():
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(env.PROBE_ONNX, providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": np.array([-2.0], np.float32)})[0]
    assert out.tolist() == [0.0]


def test_capture_does_not_import_torch():
    code = (
        "import sys, json; sys.modules['torch'] = None\n"
        "from edgeseg.bench import env\n"
        "info = env.capture()\n"
        "assert 'torch' not in [k for k, v in sys.modules.items() if v is not None]\n"
        "print(json.dumps(info))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    torch_row = next(b for b in info["backends"] if b["name"] == "torch")
    assert not torch_row["available"] and "pip install" in torch_row["reason"]
    assert info["cpu"]["logical_cores"] >= 1 and info["versions"]["python"]


def test_env_command_lists_backends():
    as_json = invoke("env", "--json")
    assert as_json.exit_code == 0, as_json.output
    info = json.loads(as_json.output)
    assert [b["name"] for b in info["backends"]] == [backend.short for backend in Backend]
    result = invoke("env")
    assert result.exit_code == 0, result.output
    for b in info["backends"]:  # the table row: name, yes/no, then the detail or the reason
        assert result.says(f"{b['name']} {'yes' if b['available'] else 'no'}"), b["name"]
        assert result.says(b["detail"] if b["available"] else b["reason"]), b["name"]
    for package in ("torch", "onnx", "onnxruntime", "tensorrt", "pycuda"):
        assert result.says(f", {package} {info['versions'][package] or 'not installed'}"), package
