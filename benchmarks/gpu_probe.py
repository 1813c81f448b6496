"""The small GPU checks of benchmarks/gpu_check.sh that no edgeseg command does; one JSON line per check.

    python benchmarks/gpu_probe.py torch OUT     # torch CUDA fp32 vs AMP (autocast fp16) on a deploy variant
    python benchmarks/gpu_probe.py pycuda OUT    # pycuda: page-locked + device buffers, async copies, events
    python benchmarks/gpu_probe.py ort OUT       # ONNX Runtime CUDA EP against the CPU EP on a bundle's ONNX
    python benchmarks/gpu_probe.py inspect OUT   # engine-inspector JSON of every engine in OUT/bundle

Each writes OUT/<check>.json and exits 0 when the check ran and passed, 3 when what it needs is missing
(the reason is printed), 1 when it ran and failed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

MISSING = 3


def torch_amp(out: Path) -> dict:
    import torch

    from edgeseg.models import create_model

    if not torch.cuda.is_available():
        return {"missing": "torch has no CUDA device"}
    model = create_model("unet_sharp", width_mult=0.25).deploy("L4").cuda().eval()
    x = torch.randn(8, 3, 256, 256, device="cuda")
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    with torch.inference_mode():
        for name, amp in (("fp32", False), ("amp_fp16", True)):
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                for _ in range(5):
                    y = model(x)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(20):
                    y = model(x)
                torch.cuda.synchronize()
            result[f"{name}_ms_per_batch8"] = (time.perf_counter() - t0) / 20 * 1000
            result[name] = y.float()
    diff = (result.pop("fp32") - result.pop("amp_fp16")).abs().max().item()
    result["max_abs_diff_fp32_vs_amp"] = diff
    result["ok"] = diff < 0.1
    return result


def pycuda_buffers(out: Path) -> dict:
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        return {"missing": f"pycuda: {exc}"}
    from edgeseg.runtime.trt import PrimaryContext

    cuda.init()
    dev = cuda.Device(0)
    ctx = PrimaryContext(dev)
    with ctx.current():
        host = cuda.pagelocked_empty(1 << 20, np.float32)
        host[:] = np.arange(host.size, dtype=np.float32)
        device = cuda.mem_alloc(host.nbytes)
        back = cuda.pagelocked_empty(host.size, np.float32)
        stream, start, end = cuda.Stream(), cuda.Event(), cuda.Event()
        start.record(stream)
        cuda.memcpy_htod_async(device, host, stream)
        cuda.memcpy_dtoh_async(back, device, stream)
        end.record(stream)
        stream.synchronize()
        ms = end.time_since(start)
        device.free()
    ctx.release()
    return {"device": dev.name(), "round_trip_4MiB_ms": ms, "ok": bool(np.array_equal(host, back)),
            "context_left_current": cuda.Context.get_current() is not None}


def ort_cuda(out: Path) -> dict:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return {"missing": f"onnxruntime {ort.__version__} has no CUDAExecutionProvider"}
    from edgeseg.runtime import BackendUnavailable, OrtRunner

    onnx = sorted((out / "bundle").glob("*.fp32.onnx"))
    if not onnx:
        return {"missing": "no fp32 ONNX in OUT/bundle (the export step failed)"}
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    try:
        gpu = OrtRunner(onnx[0], "ort-cuda")
    except BackendUnavailable as exc:  # the GPU wheel without a usable GPU or CUDA libraries
        return {"missing": str(exc)}
    with gpu, OrtRunner(onnx[0], "ort-cpu") as cpu:
        name = gpu.inputs[0].name
        on_gpu, on_cpu = gpu.infer({name: x})[gpu.outputs[0].name], cpu.infer({name: x})[cpu.outputs[0].name]
        diff = float(np.abs(on_gpu - on_cpu).max())
    return {"onnx": onnx[0].name, "max_abs_diff_cuda_vs_cpu": diff, "ok": diff < 1e-3}


def inspect(out: Path) -> dict:
    try:
        import tensorrt as trt
    except ImportError as exc:
        return {"missing": f"tensorrt: {exc}"}
    folder = out / "inspector"
    folder.mkdir(exist_ok=True)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    written = []
    for path in sorted((out / "bundle").glob("*.engine")):
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        inspector = engine.create_engine_inspector()
        (folder / f"{path.stem}.json").write_text(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
        written.append(path.stem)
    return {"tensorrt": trt.__version__, "engines": written, "ok": bool(written)}


CHECKS = {"torch": torch_amp, "pycuda": pycuda_buffers, "ort": ort_cuda, "inspect": inspect}


def main() -> int:
    check, out = sys.argv[1], Path(sys.argv[2])
    result = CHECKS[check](out)
    (out / f"{check}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    if "missing" in result:
        return MISSING
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
