"""The power sampler's plumbing (reader thread, time windows, energy per image). No Jetson or GPU
here: a small Python process prints lines in tegrastats' documented format in place of the tool."""

import sys
import time

import pytest

from edgeseg.bench.power import PowerSampler, _tegrastats_watts


def test_window_average_and_energy_per_image():
    sampler = PowerSampler()
    sampler.source, sampler.scope = "test", "test rail"
    for t, w in [(1.0, 4.0), (1.5, 6.0), (2.0, 8.0), (5.0, 100.0)]:
        sampler._samples.append((t, w))
    reading = sampler.window(1.0, 2.0, images=10)
    assert reading["avg_w"] == pytest.approx(6.0) and reading["samples"] == 3
    assert reading["mj_per_image"] == pytest.approx(6.0 * 1.0 * 1000 / 10)
    assert reading["fps_per_w"] == pytest.approx(10 / 1.0 / 6.0)  # images/s per watt
    assert "fewer than 2 samples" in sampler.window(4.0, 6.0, images=1)["reason"]


def test_no_source_gives_a_reason():
    sampler = PowerSampler()
    sampler.reason = "no power source"
    assert sampler.window(0, 1, images=1) == {"reason": "no power source"}


def test_reader_thread_parses_a_tegrastats_like_stream():
    script = (
        "import time\n"
        "for i in range(400):\n"
        "    print(f'RAM 2760/7620MB (lfb 4x4MB) CPU [1%@1510] VDD_IN {5000 + i}mW/5000mW '\n"
        "          'VDD_SOC 1371mW/1371mW', flush=True)\n"
        "    time.sleep(0.01)\n"
    )
    sampler = PowerSampler()
    t0 = time.perf_counter()
    sampler._start_process([sys.executable, "-c", script], _tegrastats_watts, "tegrastats", "module input power")
    time.sleep(0.5)
    t1 = time.perf_counter()
    sampler.stop()
    reading = sampler.window(t0, t1, images=5)
    assert reading["source"] == "tegrastats" and reading["samples"] >= 2
    assert 5.0 <= reading["avg_w"] <= 5.4
    assert sampler._proc is None  # the process was ended


def test_nvidia_smi_is_asked_for_its_documented_loop_option(monkeypatch):
    """`nvidia-smi --help` documents `-lms, --loop-ms=`; the `-lms=100` form is not documented."""
    from edgeseg.bench import power

    started = []

    class Recorder:
        def __init__(self, cmd, **kwargs):
            started.append(cmd)
            self.stdout = iter(())

    monkeypatch.setattr(power.jetson, "is_jetson", lambda: False)
    monkeypatch.setattr(power.PowerSampler, "_start_nvml", lambda self: False)
    monkeypatch.setattr(power.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(power, "_has_gpu", lambda: True)
    monkeypatch.setattr(power.subprocess, "Popen", Recorder)
    sampler = PowerSampler(interval_ms=100)
    sampler.start()
    (cmd,) = started
    assert cmd[0] == "nvidia-smi" and "--loop-ms=100" in cmd and not any(a.startswith("-lms") for a in cmd)
    assert sampler.source == "nvidia-smi"
