"""The one place that writes files: every write is atomic (temp file in the same folder, fsync, rename).

Files get the mode any tool gives them (0666 less the umask). `exclusive` keeps a second writer out of a
run or bundle folder; `shown` prints a file name without letting its control characters reach the terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import EdgesegError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on error it is removed.

    For libraries that want a file name (onnx.save, safetensors, savefig): write to the yielded path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path.parent, f".{path.name}.", ".tmp")
    mode = tmp.stat().st_mode
    try:
        yield tmp
        os.chmod(tmp, mode)  # a library may have created the file anew as 0600 (safetensors does)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _new_file(folder: Path, prefix: str, suffix: str) -> Path:
    """Create an empty file of a fresh name, mode 0666 less the umask (mkstemp would make it 0600)."""
    while True:
        candidate = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line and fsync (JSONL logs: a crash loses at most the line being written)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def shown(path: str | os.PathLike) -> str:
    """A file name as printed in messages: as is when printable, else Python's escaped repr.

    A name holding an escape sequence or a newline could otherwise recolour the terminal or print a
    fake line of output.
    """
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


class Busy(EdgesegError):
    """Another live process holds the lock on a folder."""


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (a run or a bundle) while writing into it.

    The lock is `.NAME.lock` beside the folder, so it survives the folder being replaced and is not one
    of its files. It holds the owner's process id; the kernel releases the lock when that process ends,
    so the file of a dead process is simply taken over. A second writer gets `Busy` naming the owner.
    """
    import fcntl

    folder = Path(folder).absolute()
    if not folder.parent.exists():  # a parent that is a file fails below with "Not a directory"
        folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise Busy(f"{shown(folder)} is in use: process {owner} is writing {what} into it; "
                       "wait for it to finish or choose another folder") from None
        if _same_file(lock, fd):
            break
        os.close(fd)  # the owner before us removed this file while we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)
