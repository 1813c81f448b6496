"""Signed bundles: `edgeseg sign` / `export --sign-key` write bundle.sig; a public key makes loading refuse
a bundle whose signature is missing, made with another key, or no longer matches its files."""

import json
import shutil

import pytest
from clirun import invoke

from edgeseg import manifest as mf
from edgeseg import signing
from edgeseg.errors import IntegrityError
from edgeseg.runtime import Segmenter

pytest.importorskip("model_signing")


def _keys(folder, name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture()
def signed(bundle, tmp_path):
    folder = tmp_path / "signed bundle"
    shutil.copytree(bundle[0], folder)
    private, public = _keys(tmp_path, "device")
    r = invoke("sign", folder, "--key", private, "--public-key", public)
    assert r.exit_code == 0, r.output
    assert (folder / signing.SIGNATURE).is_file()
    return folder, private, public


def test_a_signed_bundle_loads_with_its_public_key_and_ignores_later_files(signed):
    folder, _, public = signed
    (folder / "masks").mkdir()
    (folder / "masks" / "a.png").write_bytes(b"written after signing")
    with Segmenter.from_bundle(folder, threads=1, public_key=public) as seg:
        assert seg.artifact.file == "full.fp32.onnx"


def test_a_missing_signature_is_refused(bundle, tmp_path):
    _, public = _keys(tmp_path, "device")
    with pytest.raises(IntegrityError, match="has no signature"):
        Segmenter.from_bundle(bundle[0], threads=1, public_key=public)


def test_another_key_is_refused(signed, tmp_path):
    folder, _, _ = signed
    _, stranger = _keys(tmp_path, "stranger")
    with pytest.raises(IntegrityError, match="signature does not verify with stranger.pub.pem"):
        Segmenter.from_bundle(folder, threads=1, public_key=stranger)


def test_a_rewritten_manifest_with_a_recomputed_digest_is_refused(signed):
    """What the self-digest cannot catch: an attacker who rewrites the manifest and its digest."""
    folder, _, public = signed
    d = json.loads((folder / mf.MANIFEST).read_text())
    d["artifacts"][0]["threshold"] = 0.01
    d["digest"] = mf.digest_of(d)
    (folder / mf.MANIFEST).write_text(json.dumps(d))
    mf.load(folder)  # consistent in itself: only the signature can tell
    with pytest.raises(IntegrityError, match="signature does not verify"):
        Segmenter.from_bundle(folder, threads=1, public_key=public)


def test_predict_refuses_an_unsigned_bundle_with_one_line(bundle, tmp_path):
    import numpy as np

    from edgeseg.data.images import write_png

    _, public = _keys(tmp_path, "device")
    write_png(tmp_path / "images" / "a.png", np.zeros((8, 8), np.uint8))
    r = invoke("predict", bundle[0], tmp_path / "images", "--out", tmp_path / "masks", "--public-key", public)
    assert r.exit_code == 2 and r.says("has no signature") and "Traceback" not in r.output
    assert not (tmp_path / "masks").exists()


def test_a_bad_key_file_is_one_line(bundle, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(bundle[0], folder)
    (tmp_path / "key.pem").write_text("not a key")
    r = invoke("sign", folder, "--key", tmp_path / "key.pem")
    assert r.exit_code == 2 and r.says("is not a usable EC private key") and "Traceback" not in r.output


def test_export_signs_before_the_swap_and_an_unsigned_reexport_drops_the_old_signature(tmp_path):
    import tinygraphs

    private, public = _keys(tmp_path, "device")
    out = tmp_path / "b"
    tinygraphs.export(out, 0, sign_key=private)
    signing.verify(out, public)
    tinygraphs.export(out, 1)
    assert not (out / signing.SIGNATURE).exists()  # a signature of the old files would only mislead
    with pytest.raises(IntegrityError, match="has no signature"):
        signing.verify(out, public)


def test_the_libraries_own_cli_verifies_the_signature(signed):
    import subprocess
    import sys

    folder, _, public = signed
    cli = [sys.executable, "-m", "model_signing", "verify", "key", str(folder),
           "--signature", str(folder / signing.SIGNATURE), "--public_key", str(public), "--ignore_unsigned_files"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
