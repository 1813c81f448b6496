"""Connected components of a binary mask (numpy only: scipy is not a dependency) and the small/large split.

`label(mask)` finds 8-connected components from the runs of each row: a run is a maximal stretch of
foreground pixels in one row; runs of adjacent rows that touch (overlap, or meet at a corner) are
joined with a union-find over the runs, then every pixel takes its run's root. The work in Python is
one step per run, not per pixel, so a 256x256 mask with a few hundred objects takes milliseconds.

`split_small(mask, cls, small, area)` is the Herlev recipe's nucleus split: components of class
`cls` with fewer than `area` pixels become class `small`.
"""

from __future__ import annotations

import numpy as np


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, first column, one past the last column) of every run of True, row by row, left to right."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)
    return rows, starts, stops


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a 2-D boolean mask: (int32 labels, 0 = background and 1..n, n)."""
    mask = np.asarray(mask, bool)
    rows, starts, stops = _runs(mask)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for r in range(1, mask.shape[0]):
        above = range(row_first[r - 1], row_first[r])
        j = above.start
        for i in range(row_first[r], row_first[r + 1]):
            while j < above.stop and stops[j] < starts[i]:  # ends before this run's left corner neighbour
                j += 1
            k = j
            while k < above.stop and starts[k] <= stops[i]:  # starts at or before the right corner neighbour
                a, b = root(i), root(k)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                k += 1
    roots = np.array([root(i) for i in range(len(rows))], np.int64)
    unique_roots, numbered = np.unique(roots, return_inverse=True)
    labels = np.zeros(mask.shape, np.int32)
    for row, start, stop, number in zip(rows, starts, stops, numbered + 1):
        labels[row, start:stop] = number
    return labels, len(unique_roots)


def split_small(mask: np.ndarray, cls: int, small: int, area: int) -> np.ndarray:
    """`mask` with every 8-connected component of class `cls` smaller than `area` pixels set to `small`."""
    labels, count = label(mask == cls)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    tiny = sizes < area
    tiny[0] = False
    out = mask.copy()
    out[tiny[labels]] = small
    return out
