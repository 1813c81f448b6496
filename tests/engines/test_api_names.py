"""Every TensorRT and pycuda name edgeseg's code uses exists in every release edgeseg supports.

The name tables in api_names/ are facts read from NVIDIA's `tensorrt-cu12-bindings` wheels and pycuda's
sdist by benchmarks/trt_api_names.py (see its docstring for what a table can and cannot tell). This test
reads edgeseg's TensorRT/pycuda code as a syntax tree and checks each attribute taken from the
`tensorrt` module (always bound to the name `trt`), from `pycuda.driver` (always `cuda`) or from a
TensorRT/pycuda object (bound to the receiver names below). Those files run on every supported version
(version-specific choices live in the plan and reach TensorRT through Polygraphy), so a name must be in
every table: one that a release lacks, or that TensorRT 11 removed, fails here without a GPU.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLES = Path(__file__).parent / "api_names"
# JetPack 6, the newest 10.x, the newest 11.x (for CUDA 12 and for CUDA 13, as JetPack 7 runs it).
TENSORRT = ("tensorrt-10.3", "tensorrt-10.16", "tensorrt-11.4", "tensorrt-11.4-cu13")
PYCUDA = "pycuda-2026.1"
FILES = (
    "edgeseg/engines/build.py",
    "edgeseg/engines/loaders.py",
    "edgeseg/runtime/trt.py",
    "edgeseg/runtime/trt_info.py",
)

# Receivers (as written in the code) that hold TensorRT or pycuda objects.
TRT_OBJECTS = {
    "trt", "builder", "network", "config", "parser", "engine", "context", "inspector", "runtime", "cache",
    "self._engine", "self._context", "self._runtime",
}
PYCUDA_OBJECTS = {
    "cuda", "self._cuda", "dev", "allocation", "host.base", "self._stream", "self._cuda_context",
    "start", "copied_in", "computed", "end",
}


@cache
def table(name: str) -> frozenset[str]:
    data = json.loads((TABLES / f"{name}.json").read_text())
    return frozenset(n for key, names in data.items() if key != "source" for n in names)


def has(version: str, name: str) -> bool:
    """Present as a string of the binary, or as the tail of one (the linker merges "INT8" into "UINT8")."""
    names = table(version)
    return name in names or (version.startswith("tensorrt") and any(n.endswith(name) for n in names))


def used_names(source: str) -> list[tuple[str, str, int]]:
    """(library, attribute, line) for each attribute taken from a TensorRT or pycuda receiver."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or node.attr.startswith("__"):
            continue
        receiver = ast.unparse(node.value)
        root = receiver.split(".")[0]
        if receiver in TRT_OBJECTS or root == "trt":
            found.append(("tensorrt", node.attr, node.lineno))
        elif receiver in PYCUDA_OBJECTS or root == "cuda":
            found.append(("pycuda", node.attr, node.lineno))
    return found


def missing(source: str) -> list[str]:
    out = []
    for library, name, line in used_names(source):
        versions = TENSORRT if library == "tensorrt" else (PYCUDA,)
        out += [f"line {line}: {library} {v.split('-', 1)[1]} has no {name!r}" for v in versions if not has(v, name)]
    return out


@pytest.mark.parametrize("path", FILES)
def test_every_tensorrt_and_pycuda_name_exists_in_every_supported_release(path):
    source = (ROOT / path).read_text()
    assert used_names(source)
    problems = missing(source)
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_the_modules_are_bound_to_the_names_this_test_reads():
    for path in FILES:
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                call = ast.unparse(node.value)
                target = ast.unparse(node.targets[0])
                if call in ("tensorrt()", 'require("tensorrt", "trt")'):
                    assert target == "trt", f"{path}: bind the tensorrt module to `trt`, not {target}"
                if call == 'require("pycuda.driver", "trt")':
                    assert target == "cuda", f"{path}: bind pycuda.driver to `cuda`, not {target}"


def test_a_name_a_release_lacks_is_caught():
    assert missing("context.set_input_shape('x', s)") == []
    assert missing("context.set_binding_shape(0, s)")  # TensorRT 8's name, removed in 10
    removed_in_11 = missing("config.set_flag(trt.BuilderFlag.FP16)")  # weak typing is gone from TensorRT 11
    assert removed_in_11 == ["line 1: tensorrt 11.4 has no 'FP16'", "line 1: tensorrt 11.4-cu13 has no 'FP16'"]
    assert missing("cuda.Device(0).retain_primary_context()") == []
    assert missing("dev.make_context()") == []
    assert missing("dev.retain_primary_ctx()") == ["line 1: pycuda 2026.1 has no 'retain_primary_ctx'"]


def test_the_tables_are_what_the_script_writes():
    for name in (*TENSORRT, PYCUDA):
        data = json.loads((TABLES / f"{name}.json").read_text())
        assert data["source"].startswith(("tensorrt_cu12_bindings-", "tensorrt_cu13_bindings-", "pycuda-"))
        assert len(table(name)) > 400
    for name in ("Builder", "IBuilderConfig", "set_input_shape", "execute_async_v3", "STRONGLY_TYPED", "INT8"):
        assert all(has(version, name) for version in TENSORRT)
    assert {"Error", "retain_primary_context", "pagelocked_empty", "INTEGRATED"} <= table(PYCUDA)
