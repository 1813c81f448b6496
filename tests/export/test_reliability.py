"""Export refuses what would otherwise pass silently: a NaN in parity, a second export into the same bundle."""

import os

import numpy as np
import pytest
import torch
from clirun import invoke

from edgeseg import checkpoint
from edgeseg.errors import EdgesegError
from edgeseg.export import parity
from edgeseg.files import exclusive
from edgeseg.models import create_model


@pytest.mark.parametrize("where", ["output", "reference"])
def test_parity_with_a_nan_is_a_failure(where):
    good = np.zeros((2, 1, 4, 4), np.float32)
    bad = good.copy()
    bad[1, 0, 0, 0] = np.nan
    pair = (good, bad) if where == "output" else (bad, good)
    with pytest.raises(EdgesegError, match="holds NaN for 1 of 2 image"):
        parity.compare(*pair)


def test_require_fp32_fails_on_nan_errors():
    with pytest.raises(EdgesegError, match="differs from PyTorch"):
        parity.require_fp32({"max_abs_prob_err": float("nan"), "mask_flip_share": 0.0}, "L1.fp32")


def test_a_second_export_into_the_same_bundle_is_refused(tmp_path):
    model = create_model("unet", width_mult=0.0625)
    ckpt = checkpoint.save(tmp_path / "best", model, checkpoint.CheckpointInfo(
        model="unet", config=model.config, normalization={"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3},
        recipe={"img_size": 32}))
    out = tmp_path / "bundle"
    with exclusive(out, "a bundle"):
        result = invoke("export", ckpt, "--out", out)
    assert result.exit_code == 2, result.output
    assert result.says(f"process {os.getpid()} is writing a bundle into it") and result.output.count("\n") == 1
    assert not out.exists()


def test_an_export_of_diverged_weights_is_refused(tmp_path):
    model = create_model("unet", width_mult=0.0625)
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    ckpt = checkpoint.save(tmp_path / "best", model, checkpoint.CheckpointInfo(
        model="unet", config=model.config, normalization={"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3},
        recipe={"img_size": 32}))
    result = invoke("export", ckpt, "--out", tmp_path / "bundle")
    assert result.exit_code == 2 and result.says("holds NaN or inf"), result.output
