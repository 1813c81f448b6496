from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edgeseg.runtime import Segmenter

THREADS, FRAMES = 8, 200


def test_eight_threads_give_the_sequential_masks(bundle):
    """8 threads x 200 frames through one Segmenter == the same frames run one after another."""
    folder, _, _ = bundle
    rng = np.random.default_rng(3)
    def frame():
        height, width = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        return (rng.random((height, width, 3)) * 255).astype(np.uint8)

    frames = [[frame() for _ in range(FRAMES)] for _ in range(THREADS)]
    with Segmenter.from_bundle(folder, threads=1) as seg:
        sequential = [[seg.segment(f) for f in thread_frames] for thread_frames in frames]
        with ThreadPoolExecutor(THREADS) as pool:
            threaded = list(pool.map(lambda fs: [seg.segment(f) for f in fs], frames))
    foreground = sum(m.sum() for ms in sequential for m in ms) / sum(m.size for ms in sequential for m in ms)
    assert 0.01 < foreground < 0.99  # masks with both classes, so equal masks are not trivially equal
    for seq, par in zip(sequential, threaded):
        assert len(par) == FRAMES
        for a, b in zip(seq, par):
            np.testing.assert_array_equal(a, b)
