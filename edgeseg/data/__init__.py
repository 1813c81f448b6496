"""Data: image files, folder and synthetic datasets (numpy only, torch-free), transforms.

`open_source("path/to/DIR")` or `open_source("synthetic:nuclei?n=256&size=64&seed=0")` -> a dataset of
raw `Sample(image, mask, name)` with a default `normalization`; `split` makes a seeded train/val
split; `prepare` turns a raw image into the network's normalised CxHxW float32 input.
"""

from .images import read_image, write_png
from .sample import Sample
from .sources import DSBDataset, FolderDataset, Subset, mask_to_classes, open_source, split
from .synthetic import SyntheticDataset
from .transforms import Augment, normalize, prepare, resize_image, resize_mask, to_color, to_unit

__all__ = [
    "Augment",
    "DSBDataset",
    "FolderDataset",
    "Sample",
    "Subset",
    "SyntheticDataset",
    "mask_to_classes",
    "normalize",
    "open_source",
    "prepare",
    "read_image",
    "resize_image",
    "resize_mask",
    "split",
    "to_color",
    "to_unit",
    "write_png",
]
