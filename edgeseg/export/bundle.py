"""The one export module that touches the disk: a new bundle is written beside `--out`, then swapped in.

    with bundle.staging(out) as stage:          # .OUT.edgeseg-export.PID, next to OUT
        digest = bundle.write_model(stage.folder, artifact, graph, stamp)
        ...
        manifest = stage.commit(manifest)       # verified, then exchanged with OUT in one rename

`commit` loads the staged bundle back with every check a device makes, then exchanges the two folders
(`renameat2(RENAME_EXCHANGE)`: OUT is the old complete bundle until that call and the new one after
it), moves the files that were not part of the old bundle (masks, caches) back into OUT, and removes
the old bundle. A kill at any moment leaves OUT loadable as either bundle; the next export recognises
the leftover folder by its name and marker and finishes or removes it (`recover`). Where the exchange
is not available (not Linux, or a file system without it) two renames are used, and a kill between them
leaves the new bundle beside OUT, which `recover` puts in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .. import manifest as mf
from .. import signing
from ..errors import EdgesegError, IntegrityError
from ..files import sha256, write_bytes

MARKER = ".edgeseg-staging"  # present while a staged bundle is incomplete


def artifact_file(variant: str, precision: str) -> str:
    return f"{variant}.{precision}.onnx"


def write_model(folder: Path, name: str, model, stamp: str) -> str:
    """Serialise `model` with `stamp` in its metadata to `folder/name` atomically; returns its sha256."""
    del model.metadata_props[:]  # a converted graph may carry its source's stamp
    entry = model.metadata_props.add()
    entry.key, entry.value = mf.STAMP, stamp
    path = write_bytes(Path(folder) / name, model.SerializeToString())
    return sha256(path)


def check_target(out: Path) -> None:
    """Refuse an --out that is a file, or a non-empty folder that is not an edgeseg bundle (item: never
    overwrite someone else's manifest.json); finish or clean an interrupted export of ours first."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EdgesegError(f"--out {out} exists and is not a folder")
    recover(out)
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / mf.MANIFEST).is_file():
        raise EdgesegError(
            f"--out {out} holds other files and no {mf.MANIFEST}: "
            "export into a new or empty folder, or over a bundle"
        )
    try:
        mf.load(out, verify=False)
    except IntegrityError as exc:
        raise EdgesegError(f"--out {out} holds a {mf.MANIFEST} that is not a valid edgeseg bundle manifest ({exc}); "
                           "export into a new or empty folder") from None


class Stage:
    def __init__(self, out: Path, folder: Path):
        self.out, self.folder = out, folder

    def commit(self, manifest: mf.Manifest, sign_key: str | Path | None = None) -> mf.Manifest:
        """Write the manifest (and signature), verify the staged bundle, swap it in; returns the manifest as loaded."""
        old = _previous(self.out)
        if old is not None:
            manifest = replace(manifest, engines=self._keep_engines(old, manifest))
        mf.save(self.folder, manifest)
        loaded = mf.load(self.folder, verify=True)
        if sign_key is not None:
            signing.sign(self.folder, sign_key)
        _fsync_dir(self.folder)
        (self.folder / MARKER).unlink()
        swap(self.folder, self.out)
        finish(self.folder, self.out)
        return loaded

    def _keep_engines(self, old: mf.Manifest, new: mf.Manifest) -> tuple[mf.Engine, ...]:
        """Engines of the old bundle whose ONNX file came out byte-identical, linked into the stage."""
        was = {a.file: a.sha256 for a in old.artifacts}
        now = {a.file: a.sha256 for a in new.artifacts}
        kept = []
        for engine in old.engines:
            if was.get(engine.artifact) != now.get(engine.artifact) or not (self.out / engine.file).is_file():
                continue
            try:
                os.link(self.out / engine.file, self.folder / engine.file)
            except OSError:
                shutil.copy2(self.out / engine.file, self.folder / engine.file)
            kept.append(engine)
        return tuple(kept)


@contextlib.contextmanager
def staging(out: str | Path) -> Iterator[Stage]:
    """A fresh folder beside `out` for the new bundle; removed if the export fails before `commit`."""
    out = Path(os.path.abspath(out))
    check_target(out)
    folder = _leftover_name(out, "export", os.getpid())
    out.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir()
    (folder / MARKER).write_bytes(b"")
    try:
        yield Stage(out, folder)
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def swap(new: Path, out: Path) -> None:
    """Make `new` the folder at `out`; afterwards `new` holds the old folder (or nothing)."""
    if not out.exists():
        os.rename(new, out)
    elif not _exchange(new, out):
        retired = _leftover_name(out, "retired", os.getpid())
        os.rename(out, retired)
        os.rename(new, out)
        os.rename(retired, new)
    _fsync_dir(out.parent)


def finish(old: Path, out: Path) -> None:
    """Move what was in the old folder but not part of its bundle back into `out`, then remove the rest."""
    if not old.exists():
        return
    previous = _previous(old)
    bundle_files = set(previous.files()) if previous is not None else set()
    bundle_files |= {mf.MANIFEST, signing.SIGNATURE, MARKER}
    for entry in sorted(old.iterdir()):
        if entry.name in bundle_files or _is_temporary(entry.name) or (out / entry.name).exists():
            continue
        os.rename(entry, out / entry.name)
    shutil.rmtree(old)
    _fsync_dir(out.parent)


def recover(out: Path) -> list[str]:
    """Finish or remove what an interrupted export of `out` left beside it; returns what was done.

    Refuses while another live export process is writing the same bundle."""
    out = Path(out)
    done = []
    for folder, role, pid in _leftovers(out):
        if pid != os.getpid() and _alive(pid):
            raise EdgesegError(f"another edgeseg export (process {pid}) is writing {out}; wait for it to finish")
        if (folder / MARKER).exists():
            shutil.rmtree(folder)
            done.append(f"removed {folder.name}, an export interrupted before its bundle was complete")
        elif role == "export" and not out.exists() and mf.is_bundle(folder):
            os.rename(folder, out)
            done.append(f"put the complete bundle {folder.name} in place at {out.name}")
        else:
            finish(folder, out)
            done.append(f"finished replacing the bundle: removed the previous one ({folder.name})")
    if out.is_dir():
        for entry in out.iterdir():
            if _is_temporary(entry.name) and entry.is_file():
                entry.unlink()
                done.append(f"removed {entry.name}, a temporary file of an interrupted write")
    return done


def _leftover_name(out: Path, role: str, pid: int) -> Path:
    return out.parent / f".{out.name}.edgeseg-{role}.{pid}"


def _leftovers(out: Path) -> list[tuple[Path, str, int]]:
    if not out.parent.is_dir():
        return []
    pattern = re.compile(re.escape(f".{out.name}.edgeseg-") + r"(export|retired)\.(\d{1,10})")
    found = []
    for entry in out.parent.iterdir():
        m = pattern.fullmatch(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found.append((entry, m.group(1), int(m.group(2))))
    return sorted(found, key=lambda f: f[1] == "retired")  # a complete new bundle first, then old ones


def _is_temporary(name: str) -> bool:
    """A temporary file of `edgeseg.files.atomic_path` (`.NAME.RANDOM.tmp`)."""
    return name.startswith(".") and name.endswith(".tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _previous(folder: Path) -> mf.Manifest | None:
    """The manifest a bundle in `folder` holds, or None (none there, or not a valid edgeseg manifest)."""
    try:
        return mf.load(folder, verify=False)
    except IntegrityError:
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):  # no libc symbol (macOS), or no CDLL(None) (Windows)
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
