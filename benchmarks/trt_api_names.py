"""Write the API name tables that tests/engines/test_api_names.py checks edgeseg's TensorRT and pycuda code against.

    python benchmarks/trt_api_names.py            # downloads with pip, writes tests/engines/api_names/*.json
    python benchmarks/trt_api_names.py --from DIR # uses wheels / sdists already in DIR (offline)

Facts only, read from NVIDIA's and pycuda's own files (nothing is imported or run):
- TensorRT: the `tensorrt-cu12-bindings` (and `-cu13-`) wheel of each supported release. Its `tensorrt.so` is a pybind11
  module; every class, method, property and enum member it registers is a NUL-terminated string in the
  binary. The table keeps every such string that is a Python identifier (minus the .so's own dynamic
  symbols and mangled C++ names), split by shape into classes (CamelCase), enum members (UPPER_CASE) and
  lower-case names (methods and properties: the binary does not say which, nor which class owns a name).
  The linker merges a string into the tail of a longer one ("INT8" lives only inside "UINT8"), so a name
  counts as present when a table entry equals it or ends with it. The wheel's `__init__.py` adds a few
  Python functions (`nptype`, `volume`): those come from its source.
- pycuda: the sdist's C++ wrapper (`src/wrapper/wrap_cudadrv.cpp`: every quoted identifier and every
  DEF_SIMPLE_METHOD/FUNCTION and DECLARE_EXC name) and the names `pycuda/driver.py` defines.

Add a release to VERSIONS (and to SUPPORTED in tests/engines/test_api_names.py) and
rerun when edgeseg starts supporting it.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# The releases edgeseg supports: JetPack 6's TensorRT, the newest 10.x and the newest 11.x on PyPI, the
# last also built for CUDA 13 (what JetPack 7 runs). Table name -> (bindings package, version).
VERSIONS = {
    "tensorrt-10.3": ("tensorrt-cu12-bindings", "10.3.0"),
    "tensorrt-10.16": ("tensorrt-cu12-bindings", "10.16.1.11"),
    "tensorrt-11.4": ("tensorrt-cu12-bindings", "11.4.0.106"),
    "tensorrt-11.4-cu13": ("tensorrt-cu13-bindings", "11.4.0.106"),
}
PYCUDA = "2026.1"
OUT = Path(__file__).resolve().parents[1] / "tests" / "engines" / "api_names"

_IDENT = re.compile(rb"[A-Za-z][A-Za-z0-9_]{2,}")
_MANGLED = ("nvinfer", "pybind", "nvonnxparser", "St6", "v_1_0")
_SHAPES = {
    "classes": re.compile(r"I?[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)*"),
    "enum_members": re.compile(r"[A-Z][A-Z0-9_]*"),
    "lower": re.compile(r"[a-z][a-z0-9]*(?:_[A-Za-z0-9]+)*"),
}


def pip_download(spec: str, dest: Path, binary: bool) -> Path:
    """One file from PyPI with pip (a wheel for CPython 3.11 x86_64, or an sdist), without dependencies."""
    before = set(dest.iterdir())
    kind = ["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
            "--platform", "manylinux_2_17_x86_64"] if binary else ["--no-binary=:all:", "--no-build-isolation"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), *kind, spec]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    new = set(dest.iterdir()) - before
    name = spec.split("==")[0].replace("-", "_")
    found = [p for p in (new or dest.iterdir()) if p.name.lower().startswith(name) and spec.split("==")[1] in p.name]
    if not found:
        raise SystemExit(f"pip could not download {spec}")
    return found[0]


def _dynamic_symbols(so: bytes) -> set[str]:
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(so)
        f.flush()
        out = subprocess.run(["nm", "-D", f.name], capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def _mangled(s: str) -> bool:
    """Pieces of C++ mangled names ("N8nvinfer...", "FvRN...E", "PFiiE") that are not Python API names."""
    if any(m in s for m in _MANGLED) or re.match(r"N\d|St\d", s):
        return True
    return bool(re.fullmatch(r"P*F\w*E", s) and re.search(r"[a-z]", s))


def tensorrt_names(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        so = z.read(next(n for n in z.namelist() if n.endswith("tensorrt.so")))
        init = z.read(next(n for n in z.namelist() if n.endswith("tensorrt_bindings/__init__.py"))).decode()
    strings = {s.decode() for s in so.split(b"\0") if _IDENT.fullmatch(s)}
    strings -= _dynamic_symbols(so)
    strings = {s for s in strings if not _mangled(s)}
    table = {kind: sorted(s for s in strings if shape.fullmatch(s)) for kind, shape in _SHAPES.items()}
    shaped = set().union(*map(set, table.values()))
    table["other"] = sorted(s for s in strings - shaped if 5 <= len(s) < 40)  # 3-4 characters: random bytes
    table["python"] = sorted(_python_defs(init))
    return table


def _python_defs(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return {n for n in names if not n.startswith("_")}


def pycuda_names(sdist: Path) -> dict:
    with tarfile.open(sdist) as tar:
        def read(suffix: str) -> str:
            member = next(m for m in tar.getmembers() if m.name.endswith(suffix))
            return io.TextIOWrapper(tar.extractfile(member), encoding="utf-8").read()

        cpp, driver = read("src/wrapper/wrap_cudadrv.cpp"), read("pycuda/driver.py")
    wrapped = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', cpp))
    macros = r"(?:DEF_SIMPLE_METHOD|DEF_SIMPLE_FUNCTION|DECLARE_EXC)\(\s*([A-Za-z_][A-Za-z0-9_]*)"
    wrapped |= set(re.findall(macros, cpp))
    python = _python_defs(driver)
    python |= set(re.findall(r"^\s+[A-Z][A-Za-z]*\.([a-z_][A-Za-z0-9_]*) = ", driver, re.M))
    return {"wrapped": sorted(wrapped - {"NAME"}), "python": sorted(python)}


def write(name: str, source: str, table: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    data = {"source": source, **table}
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=0, sort_keys=False) + "\n")
    print(f"{name}: {sum(len(v) for k, v in table.items())} names from {source}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="folder", type=Path, help="folder that already holds the wheels and the sdist")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        for name, (package, version) in VERSIONS.items():
            if args.folder is None:
                wheel = pip_download(f"{package}=={version}", folder, binary=True)
            else:
                wheel = next(folder.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
            write(name, wheel.name, tensorrt_names(wheel))
        spec = f"pycuda=={PYCUDA}"
        if args.folder is None:
            sdist = pip_download(spec, folder, binary=False)
        else:
            sdist = next(folder.glob(f"pycuda-{PYCUDA}.tar.gz"))
        write(f"pycuda-{PYCUDA}", sdist.name, pycuda_names(sdist))


if __name__ == "__main__":
    main()
