import pytest

from edgeseg.engines.targets import TARGETS, get_target, parse_cc
from edgeseg.errors import EdgesegError

NAMES = ("cuda", "jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "jetson-thor", "jetson-xavier-nx")


def test_the_targets_exist():
    assert tuple(TARGETS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_profiles_are_consistent(name):
    t = get_target(name)
    assert t.name == name and t.is_jetson == name.startswith("jetson-")
    assert set(t.precisions) <= {"fp32", "fp16", "int8"} and "fp32" in t.precisions
    assert t.default_workspace_gib > 0 and t.default_max_batch >= 1
    if t.memory_gib is not None:
        assert t.default_workspace_gib < t.memory_gib
    if t.is_jetson:
        assert t.compute_capability is not None and t.jetpack and t.max_trt
    if t.dla_cores:
        assert set(t.dla_precisions) == {"fp16", "int8"}


def test_documented_hardware_facts():
    assert {n: TARGETS[n].compute_capability for n in NAMES[1:]} == {
        "jetson-orin-nano": "8.7", "jetson-orin-nx": "8.7", "jetson-agx-orin": "8.7", "jetson-thor": "11.0",
        "jetson-xavier-nx": "7.2",
    }
    assert {n: TARGETS[n].dla_cores for n in NAMES} == {
        "cuda": 0, "jetson-orin-nano": 0, "jetson-orin-nx": 2, "jetson-agx-orin": 2, "jetson-thor": 0,
        "jetson-xavier-nx": 2,
    }


def test_tensorrt_11_and_its_dla_per_device():
    """TensorRT 11.4.1 docs: JetPack 7.2.2+ on AGX Orin (DLA) and Thor (no DLA); JetPack 6 has no TensorRT 11."""
    assert {n: (TARGETS[n].trt11_from, TARGETS[n].dla_trt11) for n in NAMES} == {
        "cuda": ("11.0", False), "jetson-orin-nano": (None, False), "jetson-orin-nx": (None, False),
        "jetson-agx-orin": ("11.4.1", True), "jetson-thor": ("11.4.1", False), "jetson-xavier-nx": (None, False),
    }
    assert TARGETS["jetson-agx-orin"].jetpack == TARGETS["jetson-thor"].jetpack == "7.2.2"
    assert all("tegrastats" in TARGETS[n].power for n in NAMES[1:]) and "nvidia-smi" in TARGETS["cuda"].power


def test_unknown_target_lists_choices():
    with pytest.raises(EdgesegError, match="jetson-orin-nano"):
        get_target("orin")


def test_parse_cc():
    assert parse_cc("8.7") == (8, 7)
    with pytest.raises(EdgesegError, match="8.7"):
        parse_cc("sm87")
