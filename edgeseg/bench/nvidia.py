"""Desktop NVIDIA GPU probes: `nvidia-smi` (always tried) and NVML via pynvml (only if importable).

Parsers are pure and unit-tested on recorded-format samples; probes never raise.
"""

from __future__ import annotations

import contextlib
import re

from .probe import run_tool

QUERY = "name,driver_version,compute_cap,memory.total,memory.used,power.draw"


def parse_gpu_query(text: str) -> list[dict]:
    """`nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits` -> one dict per GPU.

    Fields the driver cannot read come back as '[N/A]' or '[Not Supported]' and become None.
    """
    keys = QUERY.split(",")
    gpus = []
    for line in text.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(keys):
            continue
        row = {k: (None if v.startswith("[") or v in ("", "N/A") else v) for k, v in zip(keys, values)}
        gpus.append(
            {
                "name": row["name"],
                "driver": row["driver_version"],
                "compute_capability": row["compute_cap"],
                "memory_total_mb": _number(row["memory.total"]),
                "memory_used_mb": _number(row["memory.used"]),
                "power_w": _number(row["power.draw"]),
            }
        )
    return gpus


def parse_cuda_version(text: str) -> str | None:
    """The driver's CUDA version from the banner of plain `nvidia-smi` ('CUDA Version: 12.4')."""
    m = re.search(r"CUDA Version:\s*([\d.]+)", text)
    return m.group(1) if m else None


def parse_power_samples(text: str) -> list[float]:
    """Lines of `nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits` -> watts (GPU 0)."""
    out = []
    for line in text.splitlines():
        value = _number(line.split(",")[0].strip()) if line.strip() else None
        if value is not None:
            out.append(value)
    return out


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def gpus() -> dict:
    """{'gpus': [...], 'cuda_driver': '12.4', 'source': 'nvml'|'nvidia-smi'} or {'reason': why none}."""
    via_nvml = _nvml_gpus()
    if via_nvml is not None:
        return via_nvml
    result = run_tool(["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"])
    if "error" in result:
        return {"gpus": [], "reason": result["error"]}
    banner = run_tool(["nvidia-smi"])
    return {
        "gpus": parse_gpu_query(result["stdout"]),
        "cuda_driver": parse_cuda_version(banner.get("stdout", "")),
        "source": "nvidia-smi",
    }


def _nvml_gpus() -> dict | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001  (NVMLError_LibraryNotFound / DriverNotLoaded: no GPU here)
        return None
    try:
        found = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            found.append(
                {
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "driver": _decode(pynvml.nvmlSystemGetDriverVersion()),
                    "compute_capability": f"{major}.{minor}",
                    "memory_total_mb": mem.total / 2**20,
                    "memory_used_mb": mem.used / 2**20,
                    "power_w": _nvml_power(pynvml, h),
                }
            )
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return {"gpus": found, "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}", "source": "nvml"}
    except Exception:  # noqa: BLE001  (any NVML failure: fall back to nvidia-smi)
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _nvml_power(pynvml, handle) -> float | None:
    try:
        return pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
    except Exception:  # noqa: BLE001  (not supported on this board)
        return None


def _decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def memory_used_mb(index: int = 0) -> float | None:
    """Device memory in use on GPU `index` (all processes), or None where it cannot be read."""
    info = gpus()
    found = info.get("gpus") or []
    return found[index].get("memory_used_mb") if len(found) > index else None
