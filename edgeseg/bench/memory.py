"""Peak resident memory of this process, per benchmark row where the kernel allows it.

On Linux, writing "5" to /proc/self/clear_refs resets the peak (VmHWM), so each row reports its own
peak; elsewhere the process-lifetime peak from getrusage is reported and marked as such.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak() -> bool:
    """Start a new peak-RSS window; False when only the lifetime peak can be read."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    try:
        m = re.search(r"^VmHWM:\s*(\d+)\s*kB", STATUS.read_text(), re.MULTILINE)
        if m:
            return int(m.group(1)) / 1024
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere
    except (ImportError, OSError):
        return None
