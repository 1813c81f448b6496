"""The one export module that touches the disk: ONNX files and manifest.json, each written atomically."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .. import manifest as mf
from ..errors import IntegrityError
from ..files import sha256, write_bytes


def artifact_file(variant: str, precision: str) -> str:
    return f"{variant}.{precision}.onnx"


def write_model(bundle: Path, name: str, model) -> str:
    """Serialise `model` to `bundle/name` atomically; returns its sha256."""
    path = write_bytes(Path(bundle) / name, model.SerializeToString())
    return sha256(path)


def write_manifest(bundle: Path, manifest: mf.Manifest) -> mf.Manifest:
    """Save the manifest, then load it back with every checksum verified (what a device will do).

    Over a previous export, its engines stay listed where their ONNX file came out byte-identical
    (a re-export does not cost a rebuild), and the files it listed that the new manifest does not are
    removed, so no stale ONNX file or engine is left beside the bundle."""
    old = _previous(bundle)
    if old is not None:
        was = {a.file: a.sha256 for a in old.artifacts}
        now = {a.file: a.sha256 for a in manifest.artifacts}
        kept = tuple(e for e in old.engines if was.get(e.artifact) is not None and was.get(e.artifact) == now.get(e.artifact))
        manifest = replace(manifest, engines=kept)
    mf.save(bundle, manifest)
    if old is not None:
        listed = {entry.file for entry in (*manifest.artifacts, *manifest.engines)}
        for entry in (*old.artifacts, *old.engines):
            if entry.file not in listed and Path(entry.file).name == entry.file and entry.file not in ("", ".", ".."):
                (Path(bundle) / entry.file).unlink(missing_ok=True)
    return mf.load(bundle, verify=True)


def _previous(bundle: Path) -> mf.Manifest | None:
    """The manifest an earlier export left in `bundle`, or None (none there, or unreadable)."""
    try:
        return mf.load(bundle, verify=False)
    except IntegrityError:
        return None
