"""Signed bundles with the OpenSSF `model-signing` library (extra `sign`), offline, with an EC key pair.

    edgeseg export CKPT --out B --sign-key key.pem      # or: edgeseg sign B --key key.pem
    Segmenter.from_bundle(B, public_key="pub.pem")      # or: edgeseg predict B ... --public-key pub.pem

The signature (`bundle.sig`, a Sigstore bundle with no transparency log) covers manifest.json and every
file it lists, and nothing else: masks or caches written into the folder later do not break it. Verifying
re-hashes exactly those files and requires the signed set to be exactly them, so a file added to the
manifest, or a manifest that lost one, is refused as well as a changed byte. The manifest's own digest
and the files' sha256 are checked on every load with or without this extra; the signature is what an
attacker who can rewrite those cannot forge. `edgeseg build` adds engines to the manifest: sign again
after it. The same files verify with the library's own CLI: `model_signing verify key B --signature
B/bundle.sig --public_key pub.pem --ignore_unsigned_files`.
"""

from __future__ import annotations

from pathlib import Path

from . import manifest as mf
from .errors import EdgesegError, IntegrityError, require

SIGNATURE = "bundle.sig"


def _signed_set(bundle: Path) -> tuple[list[str], list[str]]:
    """(files the signature covers, every other top-level entry of the folder)."""
    listed = [mf.MANIFEST, *mf.load(bundle, verify=False).files()]
    others = sorted(p.name for p in bundle.iterdir() if p.name not in listed)
    return listed, others


def _hashing(ignored: list[str]):
    hashing = require("model_signing.hashing", "sign")
    config = hashing.Config().use_file_serialization(hashing_algorithm="sha256", allow_symlinks=False)
    return config.set_ignored_paths(paths=ignored, ignore_git_paths=False)  # names relative to the bundle


def sign(bundle: str | Path, key: str | Path, password: str | None = None) -> Path:
    """Sign `bundle` with the EC private key in PEM file `key`; writes and returns `bundle/bundle.sig`."""
    bundle, key = Path(bundle), Path(key)
    if not key.is_file():
        raise EdgesegError(f"signing key {key} not found")
    mf.load(bundle, verify=True)  # sign only what a device would accept
    signing = require("model_signing.signing", "sign")
    _, others = _signed_set(bundle)
    try:
        config = signing.Config().use_elliptic_key_signer(private_key=key, password=password)
    except Exception as exc:  # noqa: BLE001  (the library raises ValueError/TypeError from cryptography)
        raise EdgesegError(
            f"signing key {key.name} is not a usable EC "
            f"private key in PEM form: {_first_line(exc)}"
        ) from None
    config.set_hashing_config(_hashing(others)).sign(bundle, bundle / SIGNATURE)
    return bundle / SIGNATURE


def verify(bundle: str | Path, public_key: str | Path) -> None:
    """Refuse `bundle` unless `bundle.sig` verifies with `public_key` over the manifest and its files."""
    bundle, public_key = Path(bundle), Path(public_key)
    if not public_key.is_file():
        raise EdgesegError(f"public key {public_key} not found")
    if not (bundle / SIGNATURE).is_file():
        raise IntegrityError(
            f"{bundle.name} has no signature ({SIGNATURE}); "
            f"sign it with `edgeseg sign {bundle} --key KEY`"
        )
    verifying = require("model_signing.verifying", "sign")
    _, others = _signed_set(bundle)
    try:
        config = verifying.Config().use_elliptic_key_verifier(public_key=public_key)
    except Exception as exc:  # noqa: BLE001
        raise EdgesegError(
            f"public key {public_key.name} is not a usable "
            f"EC public key in PEM form: {_first_line(exc)}"
        ) from None
    try:
        config.set_hashing_config(_hashing(others)).verify(bundle, bundle / SIGNATURE)
    except Exception as exc:  # noqa: BLE001  (a bad signature surfaces as ValueError, cryptography or protobuf errors)
        raise IntegrityError(
            f"{bundle.name}: the signature does not verify "
            f"with {public_key.name}: {_first_line(exc)}"
        ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
