import pytest

from edgeseg.engines.targets import TARGETS, get_target, parse_cc
from edgeseg.errors import EdgesegError

NAMES = ("cuda", "jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "jetson-xavier-nx")


def test_the_five_targets_exist():
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
        "jetson-orin-nano": "8.7", "jetson-orin-nx": "8.7", "jetson-agx-orin": "8.7", "jetson-xavier-nx": "7.2",
    }
    assert {n: TARGETS[n].dla_cores for n in NAMES} == {
        "cuda": 0, "jetson-orin-nano": 0, "jetson-orin-nx": 2, "jetson-agx-orin": 2, "jetson-xavier-nx": 2,
    }


def test_unknown_target_lists_choices():
    with pytest.raises(EdgesegError, match="jetson-orin-nano"):
        get_target("orin")


def test_parse_cc():
    assert parse_cc("8.7") == (8, 7)
    with pytest.raises(EdgesegError, match="8.7"):
        parse_cc("sm87")
