import numpy as np
import torch
import torch.nn.functional as F

from edgeseg.data import Augment, prepare, resize_image, resize_mask
from edgeseg.data.transforms import box_blur, warp_affine
from edgeseg.manifest import Normalization


def test_bilinear_resize_matches_torch():
    x = np.random.default_rng(0).random((7, 9, 2)).astype(np.float32)
    for size in [(14, 18), (5, 4), (7, 9)]:
        ref = F.interpolate(torch.from_numpy(x).permute(2, 0, 1)[None], size=size, mode="bilinear", align_corners=False)
        got = resize_image(x, size)
        np.testing.assert_allclose(got, ref[0].permute(1, 2, 0).numpy(), atol=1e-5)


def test_nearest_mask_resize_keeps_classes():
    mask = np.array([[0, 1], [2, 3]], np.uint8)
    assert resize_mask(mask, 4).tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert resize_mask(resize_mask(mask, 4), 2).tolist() == mask.tolist()


def test_box_blur_matches_brute_force():
    x = np.random.default_rng(1).random((6, 5)).astype(np.float32)
    padded = np.pad(x, 1, mode="edge")
    ref = np.array([[padded[i:i + 3, j:j + 3].mean() for j in range(5)] for i in range(6)])
    np.testing.assert_allclose(box_blur(x, 1), ref, atol=1e-6)


def test_prepare_scales_converts_and_normalises():
    gray16 = np.full((4, 4), 65535, np.uint16)
    out = prepare(gray16, Normalization("rgb", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), size=8)
    assert out.shape == (3, 8, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out, 2.0)
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 255
    out = prepare(rgb, Normalization("gray", (0.0,), (1.0,)))
    np.testing.assert_allclose(out, 0.587, atol=1e-6)


def test_identity_warp():
    x = np.random.default_rng(2).random((5, 6, 3)).astype(np.float32)
    eye = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    np.testing.assert_allclose(warp_affine(x, eye), x, atol=1e-6)


def test_augment_moves_image_and_mask_together():
    rng = np.random.default_rng(3)
    mask = np.zeros((32, 32), np.uint8)
    mask[4:14, 6:25] = 1
    image = mask[..., None].astype(np.float32).repeat(3, -1)
    aug = Augment(affine_prob=1.0, brightness=0, contrast=0)
    changed = 0
    for _ in range(10):
        img, m = aug(image, mask, rng)
        assert img.shape == (32, 32, 3) and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
        assert ((img[..., 0] > 0.5) == m.astype(bool)).mean() > 0.97
        changed += not np.array_equal(m, mask)
    assert changed >= 8
    img, m = Augment(flip=False, rot90=False, affine_prob=0, brightness=0.2, contrast=0.2)(image, mask, rng)
    assert np.array_equal(m, mask) and not np.allclose(img, image) and img.min() >= 0 and img.max() <= 1
