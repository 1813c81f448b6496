import torch

from edgeseg.data import Augment, open_source
from edgeseg.train.dataset import EpochSampler, SegmentationSet


def test_sampler_depends_on_seed_and_epoch_and_shards_evenly():
    s = EpochSampler(7, seed=1)
    first = list(s)
    s.epoch = 1
    assert sorted(first) == list(range(7)) and list(s) != first
    s.epoch = 0
    assert list(s) == first
    shards = [EpochSampler(7, seed=1, rank=r, world=2) for r in range(2)]
    a, b = (list(x) for x in shards)
    assert len(a) == len(b) == len(shards[0]) == 4 and set(a) | set(b) == set(range(7))


def test_samples_are_normalised_and_augmentation_is_reproducible():
    ds = open_source("synthetic:polyp?n=3&size=32")
    data = SegmentationSet(ds, ds.normalization, 48, Augment(), seed=5)
    x, y = data[1]
    assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and y.shape == (1, 48, 48)
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    again = SegmentationSet(ds, ds.normalization, 48, Augment(), seed=5)
    assert torch.equal(again[1][0], x)
    data.epoch = 1
    assert not torch.equal(data[1][0], x)
    plain = SegmentationSet(ds, ds.normalization, 32)[1][0]
    assert abs(plain.mean().item()) < 1.0 and 0.3 < plain.std().item() < 3  # roughly standardised
