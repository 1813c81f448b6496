import os

import pytest

# Two cores on the dev/CI machines: keep torch from oversubscribing them when tests run.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _gpu_reason() -> str | None:
    """Why the GPU tests cannot run here, or None when TensorRT, pycuda and a CUDA device exist."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT is not installed (pip install 'edgeseg[trt]' on a machine with an NVIDIA GPU)"
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() == 0:
            return "no CUDA device found"
    except Exception as exc:  # noqa: BLE001  (pycuda raises its own error types when no driver exists)
        return f"pycuda cannot reach a GPU: {exc}"
    return None


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    reason = _gpu_reason()
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))
