"""Parsers of system tools' output.

No Jetson or NVIDIA GPU exists on the machines these tests were written on, so the samples below were
written by hand from the documented output formats (NVIDIA's Jetson Linux Developer Guide pages on
`tegrastats`, `nvpmodel` and `jetson_clocks`, and `nvidia-smi --help-query-gpu`), one per generation
where the format differs. They are not captures from real devices.
"""

import pytest

from edgeseg.bench import env, jetson, nvidia

# JetPack 6 (Orin Nano / Orin NX): rails with mW units, VDD_IN is the module input.
TEGRASTATS_ORIN = (
    "11-22-2026 03:10:00 RAM 2760/7620MB (lfb 4x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [12%@1510,5%@1510,0%@1510,3%@1510,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 45%@[624] NVENC off "
    "NVDEC off NVJPG off NVJPG1 off VIC off OFA off APE 200 cpu@46.218C soc2@45.5C soc0@45.843C "
    "gpu@45.875C tj@46.218C soc1@45.312C VDD_IN 6545mW/4545mW VDD_CPU_GPU_CV 1483mW/483mW VDD_SOC 1371mW/1371mW"
)
# JetPack 5 (Xavier NX): rails without units.
TEGRASTATS_XAVIER_NX = (
    "RAM 2116/7773MB (lfb 1066x4MB) SWAP 0/3886MB (cached 0MB) CPU [2%@1190,1%@1190,off,off,off,off] "
    "EMC_FREQ 0% GR3D_FREQ 0% AUX@36C CPU@37.5C thermal@37.05C AO@37C GPU@36.5C PMIC@50C "
    "VDD_IN 3765/3765 VDD_CPU_GPU_CV 529/529 VDD_SOC 1209/1209"
)
# Jetson Nano (JetPack 4): POM_5V_IN is the input rail, IRAM must not be read as a rail.
TEGRASTATS_NANO = (
    "RAM 1520/3964MB (lfb 1x4MB) SWAP 0/1982MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [9%@102,3%@102,"
    "1%@102,0%@102] EMC_FREQ 3%@1600 GR3D_FREQ 0%@76 APE 25 PLL@32C CPU@34.5C PMIC@100C GPU@33C AO@40C "
    "thermal@33.75C POM_5V_IN 2493/2493 POM_5V_GPU 0/0 POM_5V_CPU 411/411"
)
# AGX Xavier: no single input rail, the report sums the rails and says so.
TEGRASTATS_AGX_XAVIER = (
    "RAM 3120/31927MB (lfb 6780x4MB) CPU [1%@1190,0%@1190] EMC_FREQ 0% GR3D_FREQ 0% "
    "GPU 155/155 CPU 311/311 SOC 1243/1243 CV 0/0 VDDRQ 155/155 SYS5V 1415/1415"
)

NVPMODEL_ORIN_NANO = "NVPM WARN: fan mode is not set!\nNV Power Mode: 15W\n0\n"
NVPMODEL_AGX = "NV Power Mode: MAXN\n0\n"

JETSON_CLOCKS_LOCKED = """SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit
Online CPUs: 0-5
cpu0: Online=1 Governor=schedutil MinFreq=1510400 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=1510400 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=0 c7=0
cpu2: Online=1 Governor=schedutil MinFreq=1510400 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=0 c7=0
cpu3: Online=1 Governor=schedutil MinFreq=1510400 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=0 c7=0
cpu4: Online=0 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=0 c7=0
cpu5: Online=0 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=0 c7=0
GPU MinFreq=624750000 MaxFreq=624750000 CurrentFreq=624750000
EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=2133000000 FreqOverride=1
FAN Dynamic Speed control=active hwmon1_pwm=77
NV Power Mode: 15W
"""
JETSON_CLOCKS_DVFS = JETSON_CLOCKS_LOCKED.replace(
    "GPU MinFreq=624750000 MaxFreq=624750000 CurrentFreq=624750000",
    "GPU MinFreq=306000000 MaxFreq=624750000 CurrentFreq=306000000",
)

SMI_QUERY = (
    "NVIDIA GeForce RTX 4090, 550.54.14, 8.9, 24564, 1021, 61.32\n"
    "NVIDIA A100-SXM4-80GB, 550.54.14, 8.0, 81920, 4, [N/A]\n"
)
SMI_BANNER = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""


@pytest.mark.parametrize(
    "line, watts, rail",
    [
        (TEGRASTATS_ORIN, 6.545, "VDD_IN"),
        (TEGRASTATS_XAVIER_NX, 3.765, "VDD_IN"),
        (TEGRASTATS_NANO, 2.493, "POM_5V_IN"),
        (TEGRASTATS_AGX_XAVIER, (155 + 311 + 1243 + 0 + 155 + 1415) / 1000, "sum"),
    ],
)
def test_tegrastats_total_power(line, watts, rail):
    parsed = jetson.parse_tegrastats_power(line)
    assert parsed["rail"] == rail
    assert parsed["watts"] == pytest.approx(watts)
    assert not {"RAM", "SWAP", "IRAM"} & parsed["rails"].keys()


def test_tegrastats_reads_current_not_average():
    parsed = jetson.parse_tegrastats_power(TEGRASTATS_ORIN)
    assert parsed["rails"] == {"VDD_IN": 6545, "VDD_CPU_GPU_CV": 1483, "VDD_SOC": 1371}


def test_tegrastats_line_without_rails():
    assert jetson.parse_tegrastats_power("RAM 2116/7773MB (lfb 1066x4MB) SWAP 0/3886MB (cached 0MB)") is None


def test_nvpmodel():
    assert jetson.parse_nvpmodel(NVPMODEL_ORIN_NANO) == {"name": "15W", "id": 0}
    assert jetson.parse_nvpmodel(NVPMODEL_AGX) == {"name": "MAXN", "id": 0}
    assert jetson.parse_nvpmodel("nvpmodel: command failed") == {}


def test_jetson_clocks_locked_and_dvfs():
    locked = jetson.parse_jetson_clocks(JETSON_CLOCKS_LOCKED)
    assert locked["machine"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert locked["gpu"] == {"min": 624750000, "max": 624750000, "cur": 624750000}
    assert locked["cpus"][0]["governor"] == "schedutil" and len(locked["cpus"]) == 6
    assert locked["power_mode"] == "15W"
    assert locked["locked"] is False  # EMC min != max here although cpus and GPU are pinned
    pinned_emc = JETSON_CLOCKS_LOCKED.replace("EMC MinFreq=204000000", "EMC MinFreq=2133000000")
    assert jetson.parse_jetson_clocks(pinned_emc)["locked"] is True  # offline cpus 4-5 are ignored
    unpinned = JETSON_CLOCKS_DVFS.replace("EMC MinFreq=204000000", "EMC MinFreq=2133000000")
    assert jetson.parse_jetson_clocks(unpinned)["locked"] is False


def test_tegra_release():
    text = (
        "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, "
        "DATE: Fri Jul 19 23:24:25 UTC 2024\n"
    )
    assert jetson.parse_tegra_release(text) == "R36.3.0"
    assert jetson.parse_tegra_release("") is None


def test_board_model_strips_device_tree_nul(tmp_path):
    path = tmp_path / "model"
    path.write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    assert jetson.board_model(path) == "NVIDIA Jetson AGX Orin Developer Kit"
    assert jetson.board_model(tmp_path / "missing") is None


def test_nvidia_smi_query():
    gpus = nvidia.parse_gpu_query(SMI_QUERY)
    assert [g["name"] for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA A100-SXM4-80GB"]
    assert gpus[0]["compute_capability"] == "8.9" and gpus[0]["driver"] == "550.54.14"
    assert gpus[0]["memory_total_mb"] == 24564 and gpus[0]["power_w"] == pytest.approx(61.32)
    assert gpus[1]["power_w"] is None


def test_nvidia_smi_banner_and_power_samples():
    assert nvidia.parse_cuda_version(SMI_BANNER) == "12.4"
    assert nvidia.parse_cuda_version("no banner") is None
    assert nvidia.parse_power_samples("61.32\n[N/A]\n70.5\n") == [61.32, 70.5]


def test_cpu_model_parsers():
    assert env.parse_cpuinfo_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert env.parse_cpuinfo_model("processor\t: 0\nBogoMIPS\t: 62.50\nCPU part\t: 0xd42\n") is None
    lscpu = "Architecture:            aarch64\nVendor ID:               ARM\nModel name:              Cortex-A78AE\n"
    assert env.parse_lscpu_model(lscpu) == "Cortex-A78AE"
