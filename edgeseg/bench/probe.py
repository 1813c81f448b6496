"""Run a system tool for a probe: never raises, returns its stdout or a one-line reason."""

from __future__ import annotations

import shutil
import subprocess


def run_tool(cmd: list[str], timeout: float = 10.0) -> dict:
    """{'stdout': text} on exit 0, else {'error': why} (not installed, failed, timed out)."""
    if shutil.which(cmd[0]) is None:
        return {"error": f"{cmd[0]} not found on PATH"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": f"{' '.join(cmd)} failed: {exc}"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {"error": f"{' '.join(cmd)} exited {proc.returncode}: {tail[-1] if tail else 'no output'}"}
    return {"stdout": proc.stdout}
