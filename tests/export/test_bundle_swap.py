"""Re-export switches atomically from the old complete bundle to the new one, whatever moment it is killed at.

The exporter in a subprocess (`tinygraphs.py`, the real staging + commit path, no torch) is SIGKILLed at
its Nth file-system call (mkdir, rename, link, unlink, fsync, rmtree and the folder exchange), for every
N up to the last one (about 30 moments; with the two-rename fallback, the last 13, around the swap).
After each kill the bundle at --out loads as the old or the new bundle, and the next export finishes or
removes the leftovers, keeps the user's files, and leaves no temporary file.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tinygraphs

from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError
from edgeseg.export import bundle

TESTS = Path(tinygraphs.__file__).parent
REPO = TESTS.parent

KILLER = """
import os, shutil, signal, sys
sys.path[:0] = [{repo!r}, {tests!r}]
import tinygraphs
from edgeseg.export import bundle
kill_at, calls = int(sys.argv[2]), [0]

def counted(fn):
    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return call

for module, name in [(os, "rename"), (os, "replace"), (os, "link"), (os, "unlink"), (os, "mkdir"), (os, "rmdir"),
                     (os, "fsync"), (shutil, "rmtree")]:
    setattr(module, name, counted(getattr(module, name)))
bundle._exchange = counted(bundle._exchange)
{fallback}
tinygraphs.export(sys.argv[1], 100, ("L1", "L3"))
print(calls[0])
"""


def _digest(out: Path) -> str:
    return json.loads((out / mf.MANIFEST).read_text())["digest"]


def _old_bundle(tmp_path) -> tuple[Path, str]:
    out = tmp_path / "my bundle"
    old = tinygraphs.export(out, 0, ("L1", "L2"))
    assert [a.key for a in old.artifacts] == ["L1.fp32", "L2.fp32"]
    (out / "notes.txt").write_text("mine")
    (out / "masks").mkdir()
    (out / "masks" / "a.png").write_bytes(b"png")
    return out, _digest(out)


def _export_killed_at(out: Path, n: int, fallback: bool = False) -> subprocess.CompletedProcess:
    code = KILLER.format(repo=str(REPO), tests=str(TESTS),
                         fallback="bundle._exchange = lambda a, b: False" if fallback else "")
    return subprocess.run([sys.executable, "-c", code, str(out), str(n)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def _leftovers(out: Path) -> list[str]:
    beside = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.edgeseg-")]
    inside = [p.name for p in out.iterdir() if p.name.endswith(".tmp")] if out.is_dir() else []
    return beside + inside


@pytest.mark.slow
@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_a_reexport_killed_at_any_moment_leaves_the_old_or_the_new_bundle(tmp_path, fallback):
    out, old = _old_bundle(tmp_path / "probe")
    done = _export_killed_at(out, 0, fallback)  # never killed: count the calls
    assert done.returncode == 0, done.stderr[-2000:]
    total, new = int(done.stdout.split()[-1]), _digest(out)
    assert total > 10 and new != old
    seen = set()
    moments = range(1, total + 1) if not fallback else range(total - 12, total + 1)  # the fallback: around the swap
    for n in moments:
        out, _ = _old_bundle(tmp_path / f"kill{n}")
        killed = _export_killed_at(out, n, fallback)
        assert killed.returncode == -9, (n, killed.stderr[-2000:])
        if out.is_dir():
            mf.load(out)  # loads, every check passed
            seen.add({old: "old", new: "new"}[_digest(out)])
        else:
            assert fallback, f"kill at call {n}: {out.name} is missing"  # only between the fallback's two renames
        bundle.recover(out)
        assert _leftovers(out) == [], n
        state = {old: "old", new: "new"}[_digest(out)]
        mf.load(out)
        assert (out / "notes.txt").read_text() == "mine" and (out / "masks" / "a.png").read_bytes() == b"png", n
        assert state == "old" or sorted(p.name for p in out.glob("*.onnx")) == ["L1.fp32.onnx", "L3.fp32.onnx"], n
    assert seen == {"old", "new"}  # kills landed both before and after the switch


def test_a_successful_reexport_leaves_no_temporary_file_and_keeps_the_users_files(tmp_path):
    out, _ = _old_bundle(tmp_path)
    (out / ".L1.int8.onnx.abc123.tmp").write_bytes(b"half")  # left by an older, interrupted write
    tinygraphs.export(out, 100, ("L1", "L3"))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["L1.fp32.onnx", "L3.fp32.onnx", "manifest.json", "masks", "notes.txt"]
    assert _leftovers(out) == []


def test_a_failed_export_leaves_the_old_bundle_and_no_staging_folder(tmp_path, monkeypatch):
    out, old = _old_bundle(tmp_path)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle.mf, "save", broken)
    with pytest.raises(OSError):
        tinygraphs.export(out, 100, ("L1", "L3"))
    monkeypatch.undo()
    assert _digest(out) == old and _leftovers(out) == []
    mf.load(out)


def test_an_interrupted_fresh_export_is_recognised_and_cleaned(tmp_path):
    out = tmp_path / "fresh"
    killed = _export_killed_at(out, 6)  # inside the staging folder's writes
    assert killed.returncode == -9
    assert not out.exists() and len(_leftovers(out)) == 1
    assert any("interrupted" in line for line in bundle.recover(out))
    assert _leftovers(out) == []
    tinygraphs.export(out, 100, ("L1",))
    mf.load(out)


def test_a_folder_with_a_foreign_manifest_json_is_not_overwritten(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"name": "My PWA"}))
    with pytest.raises(EdgesegError, match="not a valid edgeseg bundle manifest"):
        tinygraphs.export(out, 0)
    assert json.loads((out / "manifest.json").read_text()) == {"name": "My PWA"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_an_export_in_progress_is_not_disturbed(tmp_path):
    out = tmp_path / "b"
    busy = tmp_path / f".b.edgeseg-export.{os.getppid()}"  # a live process other than this one
    busy.mkdir()
    with pytest.raises(EdgesegError, match=f"another edgeseg export \\(process {os.getppid()}\\)"):
        tinygraphs.export(out, 0)
    assert busy.is_dir()


def test_edgeseg_export_says_it_cleaned_an_interrupted_export_and_a_foreign_manifest_is_one_line(tmp_path):
    import torch
    from clirun import invoke

    from edgeseg import checkpoint
    from edgeseg.models import create_model

    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=0.0625).eval()
    info = checkpoint.CheckpointInfo(model="unet_sharp", config=model.config, recipe={"img_size": 32},
                                     normalization={"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3})
    ckpt = checkpoint.save(tmp_path / "best", model, info)
    out = tmp_path / "bundle"
    assert _export_killed_at(out, 6).returncode == -9  # a fresh export killed while writing
    r = invoke("export", ckpt, "--out", out, "--variants", "L1", "--parity-images", "2")
    assert r.exit_code == 0, r.output
    assert r.says("an export interrupted before its bundle was complete") and _leftovers(out) == []
    mf.load(out)
    site = tmp_path / "site"
    site.mkdir()
    (site / "manifest.json").write_text('{"name": "My PWA"}')
    r = invoke("export", ckpt, "--out", site, "--variants", "L1")
    assert r.exit_code == 2 and r.says("not a valid edgeseg bundle manifest") and "Traceback" not in r.output
    assert (site / "manifest.json").read_text() == '{"name": "My PWA"}'
