import subprocess
import sys

import numpy as np
import pytest
import tifffile

from edgeseg.data import open_source, split, write_png
from edgeseg.data.sources import mask_to_classes
from edgeseg.errors import EdgesegError


def test_synthetic_is_deterministic_and_sized():
    for name in ("nuclei", "polyp"):
        a = open_source(f"synthetic:{name}?n=3&size=32&seed=5")
        b = open_source(f"synthetic:{name}?seed=5&size=32&n=3")
        c = open_source(f"synthetic:{name}?n=3&size=32&seed=6")
        assert len(a) == 3
        s = a[2]
        assert s.image.dtype == np.uint8 and s.mask.dtype == np.uint8 and s.mask.shape == (32, 32)
        assert s.image.shape[:2] == (32, 32) and s.image.ndim == (2 if name == "nuclei" else 3)
        assert np.array_equal(s.image, b[2].image) and np.array_equal(s.mask, b[2].mask)
        assert not np.array_equal(s.image, c[2].image)
        assert set(np.unique(s.mask)) <= {0, 1}
        fg = np.mean([a[i].mask.mean() for i in range(3)])
        assert 0.03 < fg < 0.6
        assert a.normalization.channels == (1 if name == "nuclei" else 3)


def test_synthetic_foreground_is_brighter_but_not_separable_by_threshold():
    ds = open_source("synthetic:nuclei?n=8&size=64")
    images = np.stack([ds[i].image for i in range(8)]).astype(float)
    masks = np.stack([ds[i].mask for i in range(8)]).astype(bool)
    assert images[masks].mean() > images[~masks].mean() + 40
    best = max(((images > t) == masks).mean() for t in range(0, 256, 4))
    assert best < 0.99  # texture, halos and specks: no global threshold gets every pixel


@pytest.mark.parametrize(
    "src, message",
    [
        ("synthetic:tissue", "unknown synthetic dataset 'tissue'; valid: cells, nuclei, polyp"),
        ("synthetic:nuclei?n=x", "n must be a positive integer, got 'x'"),
        ("synthetic:nuclei?count=3", "unknown parameter 'count'"),
        ("synthetic:nuclei?size=8", "size must be 16..4096, got 8"),
        ("synthetic:nuclei?n=0", "n must be a positive integer, got 0"),
        ("synthetic:nuclei?seed=-1", "seed must be a non-negative integer, got -1"),
        ("/nonexistent/folder", "not found"),
    ],
)
def test_bad_sources_give_one_line_errors(src, message):
    with pytest.raises(EdgesegError, match=message.replace("?", r"\?").replace("(", r"\(")) as err:
        open_source(src)
    assert "\n" not in str(err.value)


def _folder(tmp_path, suffix="", mask_ext=".png"):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(tmp_path / "images" / f"img{i}.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        mask = np.zeros((16, 16), np.uint8)
        mask[2:8, 3 + i:9] = 255
        write_png(tmp_path / "masks" / f"img{i}{suffix}{mask_ext}", mask)
    return tmp_path


def test_folder_dataset(tmp_path):
    ds = open_source(str(_folder(tmp_path)))
    assert len(ds) == 3 and ds.normalization.color == "rgb"
    s = ds[1]
    assert s.name == "img1" and s.image.shape == (16, 16, 3)
    assert s.mask.dtype == np.uint8 and s.mask.sum() == 6 * 5 and s.mask.max() == 1


def test_isic_mask_suffix(tmp_path):
    root = _folder(tmp_path, suffix="_segmentation")
    assert open_source(root)[0].mask.sum() == 36
    assert len(open_source(f"{root}?mask_suffix=_segmentation")) == 3
    with pytest.raises(EdgesegError, match="img0.png has no mask"):
        open_source(root, mask_suffix="_other")


def test_folder_errors(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(EdgesegError, match="no images"):
        open_source(tmp_path)
    write_png(tmp_path / "images" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(EdgesegError, match="masks not found"):
        open_source(tmp_path)
    (tmp_path / "masks").mkdir()
    with pytest.raises(EdgesegError, match="a.png has no mask"):
        open_source(tmp_path)
    with pytest.raises(EdgesegError, match="no images/ folder"):
        open_source(tmp_path / "masks")


def test_dsb2018_layout_merges_masks_and_keeps_16_bit(tmp_path):
    for k in range(2):
        d = tmp_path / f"id{k}"
        (d / "images").mkdir(parents=True)
        (d / "masks").mkdir()
        tifffile.imwrite(d / "images" / f"id{k}.tif", np.full((8, 8), 40000, np.uint16))
        for j in range(3):
            m = np.zeros((8, 8), np.uint8)
            m[j, :] = 255
            write_png(d / "masks" / f"m{j}.png", m)
    ds = open_source(tmp_path)
    s = ds[1]
    assert len(ds) == 2 and s.name == "id1" and s.image.dtype == np.uint16
    assert s.mask.sum() == 24 and ds.normalization.color == "gray"


def test_mask_rule():
    assert mask_to_classes(np.array([[0, 1], [2, 3]], np.uint8)).tolist() == [[0, 1], [2, 3]]
    noisy_jpeg = np.array([[0, 3], [250, 131]], np.uint8)
    noisy_jpeg = np.concatenate([noisy_jpeg, np.arange(20, dtype=np.uint8).reshape(2, 10)[:, :2] * 5], 1)
    assert mask_to_classes(noisy_jpeg)[:, :2].tolist() == [[0, 0], [1, 1]]
    assert mask_to_classes(np.array([[0, 65535]], np.uint16)).tolist() == [[0, 1]]
    assert mask_to_classes(np.array([[0, 100, 100]], np.uint8)).tolist() == [[0, 1, 1]]  # 0/100: not all background
    assert mask_to_classes(np.array([[0, 40, 200]], np.uint8)).tolist() == [[0, 0, 1]]


def test_split_is_seeded_disjoint_and_complete():
    ds = open_source("synthetic:nuclei?n=10&size=16")
    train, val = split(ds, 0.3, seed=1)
    assert len(train) == 7 and len(val) == 3
    assert sorted(train.indices + val.indices) == list(range(10))
    assert split(ds, 0.3, seed=1)[1].indices == val.indices
    assert split(ds, 0.3, seed=2)[1].indices != val.indices
    assert len(split(ds, 0.01)[1]) == 1
    assert len(split(ds, 0.0)[1]) == 0


def test_data_package_is_torch_free():
    code = ("import sys, edgeseg.data; edgeseg.data.open_source('synthetic:polyp?n=1&size=16')[0]; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
