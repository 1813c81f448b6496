"""Deployment targets: what each GPU/Jetson can build and run (plain tables, no TensorRT needed).

Numbers are the NVIDIA module specs for the largest memory variant sold under each name (an 8 GB
Orin NX has 1 DLA core, the 16 GB one 2). A TensorRT engine only runs on the compute capability and
TensorRT version it was built with, which is why a Jetson engine is built on the Jetson itself.

Which TensorRT runs where, and where DLA works (TensorRT 11.4.1 docs: "Working with DLA",
"Migrating TensorRT from 10.x to 11.x on Jetson/JetPack", release notes 11.4.1): TensorRT 11.4.1 supports
JetPack 7.2.2+ on Jetson AGX Orin and Jetson Thor only; Jetson Orin on JetPack 6 stays on TensorRT 10
(JetPack 6 ships 10.3). DLA: TensorRT 10.7 was the last 10.x with it; 11.0-11.3 have none, 11.4.0 only
on Windows on ARM; 11.4.1+ on Jetson AGX Orin with JetPack 7.2.2+, strongly typed. Thor has no DLA.
Compute capabilities: NVIDIA's "CUDA GPU Compute Capability" table (Orin 8.7, Jetson T5000/T4000 11.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import EdgesegError


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    compute_capability: str | None  # None: any desktop GPU at or above `min_compute_capability`
    dla_cores: int
    memory_gib: float | None  # shared CPU/GPU memory on Jetson; None: depends on the desktop card
    default_workspace_gib: float
    precisions: tuple[str, ...]
    dla_precisions: tuple[str, ...] = ("fp16", "int8")  # DLA has no fp32 path
    default_max_batch: int = 8
    jetpack: str | None = None  # newest JetPack for the module
    max_trt: str | None = None  # newest TensorRT that JetPack ships; None: whatever pip/NVIDIA offers
    min_compute_capability: str = "7.5"  # TensorRT 10 supports Turing and newer on desktop GPUs
    trt11_from: str | None = "11.0"  # first TensorRT 11 release for this device; None: no TensorRT 11 there
    dla_trt11: bool = False  # TensorRT 11 (11.4.1+) runs DLA here
    power: str = "NVML or nvidia-smi: board power of GPU 0"  # what `edgeseg bench` reads watts from

    @property
    def is_jetson(self) -> bool:
        return self.name.startswith("jetson-")


JETSON_POWER = "tegrastats: module input rail (VDD_IN, VIN_SYS_5V0 or POM_5V_IN)"

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="cuda",
            description="desktop or server NVIDIA GPU (x86_64), TensorRT 10 or 11",
            compute_capability=None,
            dla_cores=0,
            memory_gib=None,
            default_workspace_gib=4.0,
            precisions=("fp32", "fp16", "int8"),
        ),
        Target(
            name="jetson-orin-nano",
            description="Jetson Orin Nano 8 GB (Ampere, 1024 CUDA cores), JetPack 6 (TensorRT 10.3)",
            compute_capability="8.7",
            dla_cores=0,
            memory_gib=8.0,
            default_workspace_gib=1.0,
            precisions=("fp32", "fp16", "int8"),
            default_max_batch=4,
            jetpack="6",
            max_trt="10.3",
            trt11_from=None,
            power=JETSON_POWER,
        ),
        Target(
            name="jetson-orin-nx",
            description="Jetson Orin NX 16 GB (Ampere, 1024 CUDA cores, 2 DLA), JetPack 6 (TensorRT 10.3)",
            compute_capability="8.7",
            dla_cores=2,
            memory_gib=16.0,
            default_workspace_gib=2.0,
            precisions=("fp32", "fp16", "int8"),
            default_max_batch=4,
            jetpack="6",
            max_trt="10.3",
            trt11_from=None,
            power=JETSON_POWER,
        ),
        Target(
            name="jetson-agx-orin",
            description="Jetson AGX Orin 64 GB (Ampere, 2048 CUDA cores, 2 DLA), JetPack 6 (TensorRT 10.3) "
            "or JetPack 7.2.2+ (TensorRT 11.4.1+, DLA strongly typed)",
            compute_capability="8.7",
            dla_cores=2,
            memory_gib=64.0,
            default_workspace_gib=4.0,
            precisions=("fp32", "fp16", "int8"),
            jetpack="7.2.2",
            max_trt="11.4.1",
            trt11_from="11.4.1",
            dla_trt11=True,
            power=JETSON_POWER,
        ),
        Target(  # T5000 module: 2560 CUDA cores, 128 GB LPDDR5x, no DLA (RidgeRun's T5000 SoM overview)
            name="jetson-thor",
            description="Jetson AGX Thor T5000 128 GB (Blackwell, 2560 CUDA cores, no DLA), JetPack 7 "
            "(TensorRT 11.4.1+ from JetPack 7.2.2)",
            compute_capability="11.0",
            dla_cores=0,
            memory_gib=128.0,
            default_workspace_gib=8.0,
            precisions=("fp32", "fp16", "int8"),
            jetpack="7.2.2",
            max_trt="11.4.1",
            trt11_from="11.4.1",
            power=JETSON_POWER + " (Thor's rail names are unverified here: without a known input rail, the sum)",
        ),
        Target(
            name="jetson-xavier-nx",
            description="Jetson Xavier NX 16 GB (Volta, 384 CUDA cores, 2 DLA), last JetPack 5.1",
            compute_capability="7.2",
            dla_cores=2,
            memory_gib=16.0,
            default_workspace_gib=1.0,
            precisions=("fp32", "fp16", "int8"),
            default_max_batch=4,
            jetpack="5.1",
            max_trt="8.5",
            trt11_from=None,
            power=JETSON_POWER,
        ),
    )
}


# The target names as a str Enum, for the CLI's choices (`edgeseg export/build --target`).
TargetName = Enum("TargetName", {name.replace("-", "_"): name for name in TARGETS}, type=str)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise EdgesegError(f"unknown target {name!r}; choose one of: {', '.join(TARGETS)}") from None


def parse_cc(cc: str) -> tuple[int, int]:
    """'8.7' -> (8, 7); the one format used for compute capabilities everywhere in edgeseg."""
    try:
        major, minor = cc.split(".")
        return int(major), int(minor)
    except (AttributeError, ValueError):
        raise EdgesegError(f"compute capability must look like '8.7', got {cc!r}") from None
