"""Jetson probes: board model, L4T release, `nvpmodel -q`, `jetson_clocks --show`, `tegrastats` power.

The parsers are pure functions on the tools' text output (unit-tested on samples written from
NVIDIA's documented formats); the probes run the tools and never raise: a missing tool or a
permission error becomes a `reason` string in the result.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from .probe import run_tool

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
TEGRA_RELEASE = Path("/etc/nv_tegra_release")

# The rail that measures the whole module's input power, per Jetson generation (first found wins):
# Orin Nano/NX and Xavier NX report VDD_IN, AGX Orin VIN_SYS_5V0, Nano/TX2 POM_5V_IN, AGX Xavier none
# (there the rails are summed, and the result says so).
TOTAL_RAILS = ("VDD_IN", "VIN_SYS_5V0", "POM_5V_IN")

_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
_NOT_RAILS = {"RAM", "SWAP", "IRAM", "LFB"}


def board_model(path: Path = DEVICE_TREE_MODEL) -> str | None:
    """'NVIDIA Jetson Orin Nano Developer Kit' on a Jetson; None elsewhere."""
    try:
        text = path.read_bytes().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None
    return text or None


def is_jetson() -> bool:
    model = board_model() or ""
    return "jetson" in model.lower() or TEGRA_RELEASE.exists()


def parse_tegra_release(text: str) -> str | None:
    """'# R36 (release), REVISION: 3.0, GCID: ...' -> 'R36.3.0' (the L4T version JetPack ships)."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else None


def parse_nvpmodel(text: str) -> dict:
    """`nvpmodel -q` prints 'NV Power Mode: 15W' and then the mode id on its own line.

    Warnings ('NVPM WARN: ...') may come before; they are ignored.
    """
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        m = re.match(r"NV Power Mode:\s*(.+)$", line)
        if m:
            mode_id = next((int(x) for x in lines[i + 1 :] if x.isdigit()), None)
            return {"name": m.group(1).strip(), "id": mode_id}
    return {}


def parse_jetson_clocks(text: str) -> dict:
    """`jetson_clocks --show`: per-CPU governor and frequencies, GPU and EMC frequencies.

    `locked` is True when every online CPU, the GPU and EMC run at their maximum with min == max,
    which is what `sudo jetson_clocks` sets; benchmarks on unlocked clocks vary with DVFS.
    """
    out: dict = {"cpus": {}, "gpu": None, "emc": None, "power_mode": None, "machine": None}
    for line in text.splitlines():
        line = line.strip()
        if m := re.search(r"Machine:\s*(.+)$", line):
            out["machine"] = m.group(1).strip()
        elif m := re.match(r"cpu(\d+):\s*(.*)$", line):
            out["cpus"][int(m.group(1))] = _freq_fields(m.group(2))
        elif m := re.match(r"(GPU|EMC)\s+(MinFreq=.*)$", line):
            out[m.group(1).lower()] = _freq_fields(m.group(2))
        elif m := re.match(r"NV Power Mode:\s*(.+)$", line):
            out["power_mode"] = m.group(1).strip()
    units = [c for c in out["cpus"].values() if c.get("online", 1)] + [u for u in (out["gpu"], out["emc"]) if u]
    if units:
        out["locked"] = all(_pinned(u) for u in units)
    return out


def _freq_fields(text: str) -> dict:
    fields = dict(re.findall(r"(\w+)=(\S+)", text))
    out: dict = {}
    for key, name in (("MinFreq", "min"), ("MaxFreq", "max"), ("CurrentFreq", "cur")):
        if fields.get(key, "").isdigit():
            out[name] = int(fields[key])
    if "Governor" in fields:
        out["governor"] = fields["Governor"]
    if fields.get("Online", "").isdigit():
        out["online"] = int(fields["Online"])
    return out


def _pinned(unit: dict) -> bool:
    return {"min", "max", "cur"} <= unit.keys() and unit["min"] == unit["max"] == unit["cur"]


def parse_tegrastats_power(line: str) -> dict | None:
    """One `tegrastats` line -> {'watts': total input power now, 'rails': {name: mW now}, 'rail': name}.

    Rails appear as 'VDD_IN 4545mW/4545mW' (JetPack 5.1+/6) or 'POM_5V_IN 2493/2493' (older), as
    current/average milliwatts. The total is the module's input rail when one exists, else the sum of
    all rails (`rail` is then 'sum'). None when the line carries no power rails.
    """
    rails = {name: int(now) for name, now, _avg in _RAIL.findall(line) if name not in _NOT_RAILS}
    if not rails:
        return None
    total = next((r for r in TOTAL_RAILS if r in rails), None)
    milliwatts = rails[total] if total else sum(rails.values())
    return {"watts": milliwatts / 1000.0, "rails": rails, "rail": total or "sum"}


def nvpmodel() -> dict:
    result = run_tool(["nvpmodel", "-q"])
    if "error" in result:
        return {"reason": result["error"]}
    parsed = parse_nvpmodel(result["stdout"])
    return parsed or {"reason": "nvpmodel -q printed no 'NV Power Mode' line"}


def clocks() -> dict:
    result = run_tool(["jetson_clocks", "--show"])
    if "error" in result:
        return {"reason": result["error"] + " (jetson_clocks --show usually needs sudo)"}
    parsed = parse_jetson_clocks(result["stdout"])
    return parsed if parsed.get("cpus") or parsed.get("gpu") else {"reason": "jetson_clocks --show printed no clocks"}


def capture() -> dict | None:
    """Jetson facts for the report, or None on a machine that is not a Jetson."""
    if not is_jetson():
        return None
    release = None
    with contextlib.suppress(OSError):
        release = parse_tegra_release(TEGRA_RELEASE.read_text(errors="replace"))
    return {"model": board_model(), "l4t": release, "nvpmodel": nvpmodel(), "clocks": clocks()}
