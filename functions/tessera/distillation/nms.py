"""Non-maximum suppression over a whole image, per class, with a spatial index.

Only boxes that intersect can suppress each other. Candidate pairs come from a uniform grid: with cells
at least as large as a box, two intersecting boxes have their lower corners in the same or adjacent
cells, so sorting boxes by (class, cell) and pairing neighbouring cells finds every intersecting pair in
O(n log n). The few boxes larger than a cell are paired through a shapely STRtree instead. IoU is then
computed vectorized and the greedy pass walks boxes by descending score over those pairs only. This
replaces OSML's grouping by tile-stride cells and the quadratic ensemble-boxes kernels, and keeps
exactly the boxes classic greedy NMS keeps.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _pad_degenerate(boxes: FloatArray) -> FloatArray:
    """Give zero-width or zero-height boxes 0.1 px of extent (as OSML does) so IoU is defined."""
    boxes = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    for lo, hi in ((0, 2), (1, 3)):
        flat = boxes[:, hi] - boxes[:, lo] <= 0
        boxes[flat, hi] = boxes[flat, lo] + 0.1
    return boxes


def _pairs_between(
    start_a: IntArray, count_a: IntArray, start_b: IntArray, count_b: IntArray
) -> tuple[IntArray, IntArray]:
    """Every (a, b) with a in run ``[start_a, start_a + count_a)`` and b in the matching run, for all runs."""
    sizes = count_a * count_b
    total = int(sizes.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    run = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return start_a[run] + offset // count_b[run], start_b[run] + offset % count_b[run]


def _grid_pairs(boxes: FloatArray, labels: IntArray, cell: float) -> tuple[IntArray, IntArray]:
    """Candidate pairs among boxes no larger than ``cell``: same or adjacent cells of the same class."""
    cx = np.floor((boxes[:, 0] - boxes[:, 0].min()) / cell).astype(np.int64)
    cy = np.floor((boxes[:, 1] - boxes[:, 1].min()) / cell).astype(np.int64)
    height = int(cy.max()) + 3
    width = int(cx.max()) + 3
    keys = (labels * width + cx + 1) * height + cy + 1
    order = np.argsort(keys, kind="stable")
    cells, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
    left, right = [], []
    for dx, dy in ((0, 0), (0, 1), (1, -1), (1, 0), (1, 1)):
        target = cells + dx * height + dy
        found = np.searchsorted(cells, target)
        hit = found < len(cells)
        hit[hit] = cells[found[hit]] == target[hit]
        a, b = _pairs_between(starts[hit], counts[hit], starts[found[hit]], counts[found[hit]])
        if dx == 0 and dy == 0:
            a, b = a[a < b], b[a < b]
        left.append(order[a])
        right.append(order[b])
    return np.concatenate(left), np.concatenate(right)


def _candidate_pairs(boxes: FloatArray, labels: IntArray) -> tuple[IntArray, IntArray]:
    """Pairs ``(i, j)``, ``i < j``, of same-class boxes whose extents may intersect (a superset)."""
    extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    typical, largest = float(np.quantile(extent, 0.99)), float(extent.max())
    # One cell size for all unless a few boxes are far larger than the rest (they would crowd the cells).
    cell = max(largest if largest <= 4 * typical else typical, 1e-6)
    large = extent > cell
    small = np.flatnonzero(~large)
    i, j = _grid_pairs(boxes[small], labels[small], cell) if len(small) else (small, small)
    i, j = small[i], small[j]
    if large.any():
        tree = shapely.STRtree(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))
        big = np.flatnonzero(large)
        hits, others = tree.query(shapely.box(*boxes[big].T))
        a, b = big[hits], others
        keep = (a != b) & (labels[a] == labels[b]) & ~(large[b] & (b < a))  # each large-large pair once
        i, j = np.concatenate([i, a[keep]]), np.concatenate([j, b[keep]])
    return np.minimum(i, j), np.maximum(i, j)


def overlapping_pairs(boxes: FloatArray, classes: npt.ArrayLike | None = None) -> tuple[IntArray, IntArray, FloatArray]:
    """Index pairs ``(i, j)`` with ``i < j`` of intersecting boxes of the same class, and their IoU."""
    boxes = _pad_degenerate(boxes)
    if len(boxes) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float64)
    labels = np.zeros(len(boxes), dtype=np.int64)
    if classes is not None:
        labels = np.unique(np.asarray(classes), return_inverse=True)[1].astype(np.int64).ravel()
    i, j = _candidate_pairs(boxes, labels)
    a, b = boxes[i], boxes[j]
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / (area_a + area_b - inter)
    touching = inter > 0
    return i[touching], j[touching], iou[touching]


def _neighbours(n: int, i: IntArray, j: IntArray) -> tuple[IntArray, IntArray]:
    """CSR adjacency (both directions) of the pair list: ``indptr``, ``indices``."""
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    return np.cumsum(indptr), dst[order]


def nms(
    boxes: npt.ArrayLike, scores: npt.ArrayLike, iou_threshold: float, classes: npt.ArrayLike | None = None
) -> IntArray:
    """Indices of the boxes greedy NMS keeps, in descending score order.

    A box is suppressed by a kept box of the same class whose IoU with it is above ``iou_threshold``.
    Ties in score keep the lower index first (stable order).

    Example:
        >>> nms([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.5).tolist()
        [0, 2]
    """
    box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    score_array = np.asarray(scores, dtype=np.float64)
    n = len(box_array)
    i, j, iou = overlapping_pairs(box_array, classes)
    over = iou > iou_threshold
    indptr, indices = _neighbours(n, i[over], j[over])
    order = np.argsort(-score_array, kind="stable")
    suppressed = np.zeros(n, dtype=bool)
    # Only boxes with an over-threshold neighbour can suppress or be suppressed: walk just those.
    contested = order[(indptr[1:] > indptr[:-1])[order]]
    for index in contested.tolist():
        if not suppressed[index]:
            suppressed[indices[indptr[index] : indptr[index + 1]]] = True
    return order[~suppressed[order]].astype(np.int64)


def soft_nms(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    sigma: float = 0.1,
    skip_box_threshold: float = 0.0001,
    classes: npt.ArrayLike | None = None,
) -> tuple[IntArray, FloatArray]:
    """Gaussian Soft-NMS: decay overlapping boxes' scores instead of removing them.

    Boxes are taken in descending current score; each one taken multiplies the score of every
    overlapping, not yet taken box of its class by ``exp(-iou² / sigma)``. Boxes whose score falls below
    ``skip_box_threshold`` are dropped. Returns the kept indices and their new scores.
    """
    box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    current = np.asarray(scores, dtype=np.float64).copy()
    n = len(box_array)
    i, j, iou = overlapping_pairs(box_array, classes)
    indptr, indices = _neighbours(n, i, j)
    weights = np.concatenate([iou, iou])[np.argsort(np.concatenate([i, j]), kind="stable")]
    decay = np.exp(-(weights**2) / sigma)
    taken = np.zeros(n, dtype=bool)
    import heapq

    heap = [(-s, k) for k, s in enumerate(current.tolist())]
    heapq.heapify(heap)
    kept: list[int] = []
    while heap:
        neg, k = heapq.heappop(heap)
        if taken[k] or -neg != current[k]:
            continue
        taken[k] = True
        if current[k] < skip_box_threshold:
            continue
        kept.append(k)
        lo, hi = indptr[k], indptr[k + 1]
        for m, factor in zip(indices[lo:hi].tolist(), decay[lo:hi].tolist(), strict=True):
            if not taken[m]:
                current[m] *= factor
                heapq.heappush(heap, (-current[m], m))
    kept_array = np.asarray(kept, dtype=np.int64)
    return kept_array, current[kept_array]
