"""Power sampled in the background while a benchmark runs: `tegrastats` on Jetson (module input rail),
NVML (pynvml, if importable) or `nvidia-smi --loop-ms` on desktop GPUs (board power of GPU 0).

One `PowerSampler` runs for the whole benchmark; each row asks for the samples that fall inside its
own timed window, which gives the average watts, millijoules per image and images/s per watt
(`fps_per_w`, the same figure as images per joule). Nothing here raises: where no source exists,
`reason` says why and rows carry no power figures.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

from . import jetson
from .nvidia import parse_power_samples

INTERVAL_MS = 100


class PowerSampler:
    def __init__(self, interval_ms: int = INTERVAL_MS):
        self.interval_ms = interval_ms
        self.source: str | None = None
        self.scope: str | None = None
        self.reason: str | None = None
        self._samples: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PowerSampler:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if jetson.is_jetson() and shutil.which("tegrastats"):
            cmd = ["tegrastats", "--interval", str(self.interval_ms)]
            self._start_process(cmd, _tegrastats_watts, "tegrastats", "module input power")
        elif self._start_nvml():
            pass
        elif shutil.which("nvidia-smi") and _has_gpu():
            query = ["--query-gpu=power.draw", "--format=csv,noheader,nounits"]
            cmd = ["nvidia-smi", *query, f"--loop-ms={self.interval_ms}"]
            self._start_process(cmd, _smi_watts, "nvidia-smi", "GPU 0 board power")
        else:
            self.reason = "no power source: not a Jetson (tegrastats) and no NVIDIA GPU (NVML / nvidia-smi)"

    def _start_process(self, cmd, parse, source, scope) -> None:
        try:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        except OSError as exc:
            self.reason = f"{cmd[0]} could not start: {exc}"
            return
        self.source, self.scope = source, scope
        self._thread = threading.Thread(target=self._read_lines, args=(parse,), daemon=True)
        self._thread.start()

    def _read_lines(self, parse) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            watts = parse(line)
            if watts is not None:
                self._add(watts)

    def _start_nvml(self) -> bool:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            pynvml.nvmlDeviceGetPowerUsage(handle)
        except Exception:  # noqa: BLE001  (pynvml missing, no driver, or power not readable)
            return False

        def poll() -> None:
            while not self._stop.wait(self.interval_ms / 1000):
                try:
                    self._add(pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
                except Exception:  # noqa: BLE001
                    return

        self.source, self.scope = "nvml", "GPU 0 board power"
        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return True

    def _add(self, watts: float) -> None:
        with self._lock:
            self._samples.append((time.perf_counter(), watts))

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def window(self, t0: float, t1: float, images: int) -> dict:
        """Average power between perf_counter times t0 and t1, and energy per image over that window."""
        if self.source is None:
            return {"reason": self.reason}
        with self._lock:
            watts = [w for t, w in self._samples if t0 <= t <= t1]
        if len(watts) < 2:
            why = f"fewer than 2 samples in {t1 - t0:.2f} s (sampling every {self.interval_ms} ms); use --duration"
            return {"source": self.source, "reason": why}
        avg = sum(watts) / len(watts)
        return {
            "source": self.source,
            "scope": self.scope,
            "avg_w": avg,
            "samples": len(watts),
            "mj_per_image": avg * (t1 - t0) * 1000.0 / images if images else None,
            "fps_per_w": images / (avg * (t1 - t0)) if avg > 0 and t1 > t0 else None,  # images per joule
        }


def _tegrastats_watts(line: str) -> float | None:
    parsed = jetson.parse_tegrastats_power(line)
    return parsed["watts"] if parsed else None


def _smi_watts(line: str) -> float | None:
    values = parse_power_samples(line)
    return values[0] if values else None


def _has_gpu() -> bool:
    from .probe import run_tool

    return "stdout" in run_tool(["nvidia-smi", "-L"])
