"""Non-maximum suppression over a whole image, per class, with a spatial index.

Only boxes that intersect can suppress each other, so the candidate pairs come from a shapely STRtree
bulk query (O(n log n)) and their IoU is computed vectorized; the greedy pass then walks boxes by
descending score over those pairs only. This replaces OSML's grouping by tile-stride cells and the
quadratic ensemble-boxes kernels, and gives the same kept set as classic greedy NMS.
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


def overlapping_pairs(boxes: FloatArray, classes: npt.ArrayLike | None = None) -> tuple[IntArray, IntArray, FloatArray]:
    """Index pairs ``(i, j)`` with ``i < j`` of intersecting boxes of the same class, and their IoU."""
    boxes = _pad_degenerate(boxes)
    if len(boxes) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float64)
    tree = shapely.STRtree(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))
    left, right = tree.query(tree.geometries, predicate="intersects")
    keep = left < right
    if classes is not None:
        labels = np.asarray(classes)
        keep &= labels[left] == labels[right]
    i, j = left[keep].astype(np.int64), right[keep].astype(np.int64)
    a, b = boxes[i], boxes[j]
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / (area_a + area_b - inter)
    return i, j, iou


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
    kept: list[int] = []
    has_neighbours = indptr[1:] > indptr[:-1]
    for index in order.tolist():
        if suppressed[index]:
            continue
        kept.append(index)
        if has_neighbours[index]:
            suppressed[indices[indptr[index] : indptr[index + 1]]] = True
    return np.asarray(kept, dtype=np.int64)


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
