"""Multi-class masks: class-index, palette and colour-coded files, ?classes= and ?small=, synthetic:cells."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from edgeseg.data import open_source, write_png
from edgeseg.data.components import label, split_small
from edgeseg.errors import EdgesegError

INDEX = np.array([[0, 1, 1, 0], [2, 2, 3, 0], [0, 0, 3, 1], [1, 0, 0, 0]], np.uint8)
COLOURS = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 255, 0), 3: (0, 0, 255)}
MAPPING = "000000:0,ff0000:1,00ff00:2,%230000ff:3"


def _dataset(tmp_path, mask_file: str, write) -> str:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    write_png(tmp_path / "images" / "a.png", np.full((4, 4, 3), 90, np.uint8))
    write(tmp_path / "masks" / mask_file)
    return str(tmp_path)


def _palette_png(path, index):
    image = Image.fromarray(index, mode="P")
    image.putpalette([c for i in range(256) for c in COLOURS.get(i, (9, 9, 9))])
    image.save(path)


def _rgb_png(path, index, colours=COLOURS):
    write_png(path, np.array([[colours[int(v)] for v in row] for row in index], np.uint8))


@pytest.mark.parametrize("name, write", [
    ("a.png", lambda p: write_png(p, INDEX)),
    ("a.tif", lambda p: tifffile.imwrite(p, INDEX)),
    ("a.png", lambda p: _palette_png(p, INDEX)),
])
def test_index_tiff_and_palette_masks_give_their_class_indices(tmp_path, name, write):
    sample = open_source(_dataset(tmp_path, name, write))[0]
    assert sample.mask.tolist() == INDEX.tolist() and sample.mask.dtype == np.uint8
    assert sample.mask_file == f"masks/{name}"


def test_rgb_masks_map_colours_to_classes(tmp_path):
    root = _dataset(tmp_path, "a.png", lambda p: _rgb_png(p, INDEX))
    assert open_source(f"{root}?classes={MAPPING}")[0].mask.tolist() == INDEX.tolist()
    swapped = "000000:0,ff0000:3,00ff00:2,0000ff:1"
    assert open_source(f"{root}?classes={swapped}")[0].mask.tolist() == np.choose(INDEX, [0, 3, 2, 1]).tolist()


def test_gray_values_map_to_classes(tmp_path):
    root = _dataset(tmp_path, "a.png", lambda p: write_png(p, (INDEX * 60).astype(np.uint8)))
    assert open_source(f"{root}?classes=0:0,60:1,120:2,180:3")[0].mask.tolist() == INDEX.tolist()


@pytest.mark.parametrize("query, write, message", [
    ("classes=000000:0,ff0000:1,00ff00:2", lambda p: _rgb_png(p, INDEX),
     "masks/a.png: mask colour #0000ff has no class in ?classes= (mapped: #000000, #00ff00, #ff0000)"),
    ("classes=0:0,60:1", lambda p: write_png(p, (INDEX * 60).astype(np.uint8)),
     "masks/a.png: mask value 120 has no class in ?classes= (mapped: 0, 60)"),
    ("classes=0:0,255:1", lambda p: _rgb_png(p, INDEX), "masks/a.png: an RGB mask, but ?classes= maps gray values"),
    ("classes=000000:0,ffffff:1", lambda p: write_png(p, INDEX), "masks/a.png: a gray mask, but ?classes= maps RGB"),
])
def test_unmapped_mask_values_name_the_file_and_the_value(tmp_path, query, write, message):
    root = _dataset(tmp_path, "a.png", write)
    with pytest.raises(EdgesegError) as err:
        open_source(f"{root}?{query}")[0]
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("query, message", [
    ("classes=red:1", "classes item 'red:1' must be VALUE:CLASS"),
    ("classes=0:300", "must map to a class 0..255"),
    ("classes=0:0,0:1", "classes maps a value twice"),
    ("classes=000000:0,255:1", "mixes RGB colours and gray values"),
    ("small=2:3", "small must be CLASS:NEW:AREA"),
    ("small=2:2:10", "CLASS and NEW must differ"),
    ("small=2:3:0", "AREA be at least 1 pixel"),
])
def test_bad_class_queries_are_one_line_errors(tmp_path, query, message):
    root = _dataset(tmp_path, "a.png", lambda p: write_png(p, INDEX))
    with pytest.raises(EdgesegError) as err:
        open_source(f"{root}?{query}")
    assert message in str(err.value) and "\n" not in str(err.value)


def _flood(mask):
    """Reference 8-connected labelling by flood fill: the partition of the foreground pixels."""
    labels, n = np.zeros(mask.shape, int), 0
    for y, x in zip(*np.nonzero(mask)):
        if labels[y, x]:
            continue
        n += 1
        stack, labels[y, x] = [(y, x)], n
        while stack:
            a, b = stack.pop()
            for c in range(max(a - 1, 0), min(a + 2, mask.shape[0])):
                for d in range(max(b - 1, 0), min(b + 2, mask.shape[1])):
                    if mask[c, d] and not labels[c, d]:
                        labels[c, d] = n
                        stack.append((c, d))
    return labels, n


def test_label_finds_8_connected_components_like_a_flood_fill():
    diagonal = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 0, 1]], bool)
    labels, n = label(diagonal)
    assert n == 4 and labels[0, 0] == labels[1, 1] and labels[0, 3] == labels[1, 3] != labels[3, 3]
    rng = np.random.default_rng(0)
    for _ in range(100):
        mask = rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 12)))) < rng.uniform(0.1, 0.7)
        got, n = label(mask)
        ref, n_ref = _flood(mask)
        assert n == n_ref and len(set(zip(got[mask], ref[mask]))) == n  # the same partition
        assert (got[~mask] == 0).all()


def test_small_components_become_the_small_class(tmp_path):
    mask = np.zeros((12, 12), np.uint8)
    mask[:, :6] = 1
    mask[1:6, 1:6] = 2  # 25 pixels: large
    mask[8:10, 8:10] = 2  # 4 pixels: small
    mask[10, 10] = 2  # touches the 2x2 at a corner: the same 5-pixel component
    split = split_small(mask, 2, 3, area=6)
    assert (split[1:6, 1:6] == 2).all() and (split[8:10, 8:10] == 3).all() and split[10, 10] == 3
    assert (split[mask != 2] == mask[mask != 2]).all()
    root = _dataset(tmp_path, "a.png", lambda p: write_png(p, mask))
    write_png(tmp_path / "images" / "a.png", np.zeros((12, 12, 3), np.uint8))
    assert open_source(f"{root}?small=2:3:6")[0].mask.tolist() == split.tolist()


def test_synthetic_cells_has_four_classes_and_is_deterministic():
    a = open_source("synthetic:cells?n=6&size=64&seed=3")
    b = open_source("synthetic:cells?seed=3&n=6&size=64")
    c = open_source("synthetic:cells?n=6&size=64&seed=4")
    assert a.normalization.channels == 3
    for i in range(6):
        assert np.array_equal(a[i].image, b[i].image) and np.array_equal(a[i].mask, b[i].mask)
    assert not np.array_equal(a[0].mask, c[0].mask)
    masks = np.stack([a[i].mask for i in range(6)])
    assert set(np.unique(masks)) == {0, 1, 2, 3} and a[0].image.shape == (64, 64, 3)
    for i in range(6):  # every nucleus lies in a cell and the two nucleus classes differ in size
        labels, n = label(a[i].mask >= 2)
        sizes = np.bincount(labels.ravel())[1:]
        kinds = [int(a[i].mask[labels == k + 1].max()) for k in range(n)]
        assert all(s > 18 for s, k in zip(sizes, kinds) if k == 2)
        assert all(s < 18 for s, k in zip(sizes, kinds) if k == 3)
    images = np.stack([a[i].image for i in range(6)]).astype(float)
    assert images[masks >= 2].mean() < images[masks == 1].mean() < images[masks == 0].mean()  # nuclei darkest
