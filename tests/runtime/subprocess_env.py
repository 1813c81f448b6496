"""Run a Python snippet in a fresh interpreter where `import torch` fails (a sitecustomize blocker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = '''
import sys


class _NoTorch:
    """Meta-path finder that makes torch (and anything under it) unimportable."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this interpreter (edgeseg.runtime must not need it)")
        return None


sys.meta_path.insert(0, _NoTorch())
'''


def run_without_torch(code: str, tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    site = tmp_path / "no_torch_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
