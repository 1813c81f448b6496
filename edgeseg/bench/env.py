"""Environment capture for reports and `edgeseg env`: versions, CPU, OS, GPUs, Jetson state, and which
backends can run here (each with the reason when one cannot).

Torch-free and fail-soft: every probe is optional, and a failing probe leaves a reason, never an
exception. Package versions come from installed metadata, so capturing them imports nothing heavy.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..runtime.backends import Backend
from . import jetson, nvidia
from .probe import run_tool

# (distribution names to try, module name): onnxruntime ships as onnxruntime or onnxruntime-gpu;
# JetPack's apt-installed tensorrt has no pip metadata, so the module's __version__ is the fallback.
PACKAGES = {
    "numpy": (("numpy",), "numpy"),
    "torch": (("torch",), "torch"),
    "onnx": (("onnx",), "onnx"),
    "onnxruntime": (("onnxruntime-gpu", "onnxruntime"), "onnxruntime"),
    "tensorrt": (("tensorrt", "tensorrt-cu12", "tensorrt-cu13"), "tensorrt"),
    "pycuda": (("pycuda",), "pycuda"),
}
IMPORT_FALLBACK = ("tensorrt", "pycuda")  # only these are imported when metadata is missing

# A one-node ONNX model (Relu on a float[1]), made with onnx.helper (opset 13, IR 8); used to check
# that an ONNX Runtime execution provider really starts here rather than silently falling back to CPU.
PROBE_ONNX = bytes.fromhex(
    "08081207656467657365673a370a0c0a0178120179220452656c75120570726f62655a0f0a0178120a0a08080112040a"
    "020801620f0a0179120a0a08080112040a02080142040a00100d"
)


@dataclass(frozen=True)
class BackendStatus:
    backend: Backend
    available: bool
    reason: str = ""  # why it cannot run here (empty when it can)
    detail: str = ""  # what it would run on (device, providers)

    @property
    def name(self) -> str:
        return self.backend.short

    def as_dict(self) -> dict:
        return {"name": self.name, "available": self.available, "reason": self.reason, "detail": self.detail}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    from .. import __version__

    out["edgeseg"] = __version__
    for key, (dists, module) in PACKAGES.items():
        out[key] = _dist_version(dists) or (_module_version(module) if key in IMPORT_FALLBACK else None)
    return out


def _dist_version(dists) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _module_version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001  (a broken install is "not available", not a crash)
        return None
    return getattr(mod, "__version__", None) or getattr(mod, "VERSION_TEXT", None)


def cpu() -> dict:
    try:
        threads_allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        threads_allowed = None
    return {
        "model": cpu_model(),
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": threads_allowed,
        "physical_cores": physical_cores(),
    }


def parse_cpuinfo_model(text: str) -> str | None:
    """x86 '/proc/cpuinfo' has 'model name'; ARM kernels may give 'Model' or 'Hardware' instead."""
    for key in ("model name", "Model", "Hardware", "Processor"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return None


def parse_lscpu_model(text: str) -> str | None:
    m = re.search(r"^Model name:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


def cpu_model() -> str:
    try:
        model = parse_cpuinfo_model(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:
        model = None
    if not model:
        model = parse_lscpu_model(run_tool(["lscpu"]).get("stdout", ""))
    return model or platform.processor() or platform.machine() or "unknown"


def physical_cores() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    pairs = set(re.findall(r"physical id\s*:\s*(\d+)\s*\n(?:.*\n)*?core id\s*:\s*(\d+)", text))
    return len(pairs) or None


def system() -> dict:
    return {"os": platform.platform(), "kernel": platform.release(), "python": sys.version.split()[0]}


def ort_providers() -> list[str] | None:
    try:
        import onnxruntime as ort
    except Exception:  # noqa: BLE001
        return None
    return list(ort.get_available_providers())


def backends() -> list[BackendStatus]:
    """Every `Backend`, in its order, with whether it can run here."""
    gpu = nvidia_gpu_present()
    return [_torch(), _ort_cpu(), _ort_gpu(Backend.ORT_CUDA, "CUDAExecutionProvider", "cuda", gpu),
            _ort_gpu(Backend.ORT_TENSORRT, "TensorrtExecutionProvider", "tensorrt", gpu), _trt(gpu)]


def status(backend: Backend) -> BackendStatus:
    """Whether one backend can run here, and why not."""
    return next(s for s in backends() if s.backend is backend)


def nvidia_gpu_present() -> str | None:
    """None when an NVIDIA GPU is visible, else why not."""
    if Path("/dev/nvidia0").exists() or jetson.is_jetson():
        return None
    if "stdout" in run_tool(["nvidia-smi", "-L"]):
        return None
    return "no NVIDIA GPU found (no /dev/nvidia0, nvidia-smi missing or sees none, not a Jetson)"


def _torch() -> BackendStatus:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return BackendStatus(Backend.TORCH, False, f"torch not importable ({exc}); pip install 'edgeseg[torch]'")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return BackendStatus(Backend.TORCH, True, detail=f"eager PyTorch on {device}, {torch.get_num_threads()} threads")


def _ort_cpu() -> BackendStatus:
    providers = ort_providers()
    if providers is None:
        return BackendStatus(Backend.ORT_CPU, False, "onnxruntime not installed; pip install 'edgeseg[ort]'")
    if "CPUExecutionProvider" not in providers:
        return BackendStatus(Backend.ORT_CPU, False, f"onnxruntime lists no CPUExecutionProvider ({providers})")
    return BackendStatus(Backend.ORT_CPU, True, detail="ONNX Runtime CPUExecutionProvider")


def _ort_gpu(name: Backend, provider: str, lib: str, gpu_missing: str | None) -> BackendStatus:
    providers = ort_providers()
    if providers is None:
        return BackendStatus(name, False, "onnxruntime not installed; pip install 'edgeseg[ort]'")
    if provider not in providers:
        return BackendStatus(name, False, f"this onnxruntime build has no {provider} (install onnxruntime-gpu)")
    missing = _provider_library_error(lib)
    if gpu_missing:
        libs = f"; its libraries do not load either ({missing})" if missing else ""
        return BackendStatus(name, False, f"{provider} is listed by onnxruntime-gpu but {gpu_missing}{libs}")
    if missing:
        return BackendStatus(name, False, f"{provider} cannot load: {missing}")
    started = _provider_starts(provider)
    if started is not True:
        return BackendStatus(name, False, f"{provider} did not start a session: {started}")
    return BackendStatus(name, True, detail=f"ONNX Runtime {provider}")


def _provider_library_error(lib: str) -> str | None:
    """Load onnxruntime's provider library to see whether CUDA/cuDNN/TensorRT libraries resolve."""
    try:
        import onnxruntime as ort
    except Exception as exc:  # noqa: BLE001
        return str(exc)
    capi = Path(ort.__file__).parent / "capi"
    try:
        ctypes.CDLL(str(capi / "libonnxruntime_providers_shared.so"), mode=ctypes.RTLD_GLOBAL)
        ctypes.CDLL(str(capi / f"libonnxruntime_providers_{lib}.so"))
    except OSError as exc:
        return str(exc).replace(str(capi) + "/", "")
    return None


def _provider_starts(provider: str) -> bool | str:
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(PROBE_ONNX, options, providers=[provider, "CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    active = session.get_providers()
    return True if active and active[0] == provider else f"fell back to {active}"


def _trt(gpu_missing: str | None) -> BackendStatus:
    try:
        import tensorrt
    except Exception as exc:  # noqa: BLE001
        return BackendStatus(Backend.TENSORRT, False, f"TensorRT not importable ({exc}); "
                             "pip install 'edgeseg[trt]' on a machine with an NVIDIA GPU")
    try:
        import pycuda.driver as cuda
    except Exception as exc:  # noqa: BLE001
        return BackendStatus(Backend.TENSORRT, False, f"pycuda not importable ({exc}); pip install 'edgeseg[trt]'")
    if gpu_missing:
        return BackendStatus(Backend.TENSORRT, False, gpu_missing)
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # noqa: BLE001
        return BackendStatus(Backend.TENSORRT, False, f"pycuda cannot reach a GPU: {exc}")
    if count == 0:
        return BackendStatus(Backend.TENSORRT, False, "CUDA sees no device")
    detail = f"TensorRT {tensorrt.__version__} on {cuda.Device(0).name()}"
    if importlib.util.find_spec("polygraphy") is None:  # running engines needs no Polygraphy; building does
        detail += "; building engines needs polygraphy (pip install polygraphy)"
    return BackendStatus(Backend.TENSORRT, True, detail=detail)


def capture(threads: int | None = None, with_backends: bool = True) -> dict:
    """Everything a report states about the machine it ran on."""
    env = {
        "system": system(),
        "cpu": {**cpu(), "threads": threads},
        "versions": versions(),
        "onnxruntime_providers": ort_providers(),
        "gpu": nvidia.gpus(),
        "jetson": jetson.capture(),
    }
    if with_backends:
        env["backends"] = [b.as_dict() for b in backends()]
    return env
