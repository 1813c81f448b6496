"""The one export module that touches the disk: ONNX files and manifest.json, each written atomically."""

from __future__ import annotations

from pathlib import Path

from .. import manifest as mf
from ..files import sha256, write_bytes


def artifact_file(variant: str, precision: str) -> str:
    return f"{variant}.{precision}.onnx"


def write_model(bundle: Path, name: str, model) -> str:
    """Serialise `model` to `bundle/name` atomically; returns its sha256."""
    path = write_bytes(Path(bundle) / name, model.SerializeToString())
    return sha256(path)


def write_manifest(bundle: Path, manifest: mf.Manifest) -> mf.Manifest:
    """Save the manifest, then load it back with every checksum verified (what a device will do)."""
    mf.save(bundle, manifest)
    return mf.load(bundle, verify=True)
