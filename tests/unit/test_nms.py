"""NMS and Soft-NMS (tessera.distillation.nms) against straightforward O(n²) references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera.distillation import nms, overlapping_pairs, soft_nms


def pad(boxes: np.ndarray) -> np.ndarray:
    """OSML's padding: a zero-width or zero-height box gets 0.1 px of extent."""
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    for lo, hi in ((0, 2), (1, 3)):
        flat = boxes[:, hi] - boxes[:, lo] <= 0
        boxes[flat, hi] = boxes[flat, lo] + 0.1
    return boxes


def iou_one(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def iou_row(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, classes: np.ndarray | None) -> list[int]:
    """Classic greedy NMS: best box first, it suppresses same-class boxes with IoU above the threshold."""
    boxes = pad(boxes)
    labels = np.zeros(len(boxes)) if classes is None else np.asarray(classes)
    order = sorted(range(len(boxes)), key=lambda k: (-scores[k], k))
    suppressed = np.zeros(len(boxes), dtype=bool)
    kept = []
    for k in order:
        if suppressed[k]:
            continue
        kept.append(k)
        suppressed |= (iou_row(boxes[k], boxes) > threshold) & (labels == labels[k])
    return kept


def soft_nms_reference(
    boxes: np.ndarray, scores: np.ndarray, sigma: float, skip: float, classes: np.ndarray | None
) -> tuple[list[int], list[float]]:
    """Brute-force Gaussian Soft-NMS: repeatedly take the best untaken box and decay its same-class neighbours."""
    boxes = pad(boxes)
    labels = np.zeros(len(boxes)) if classes is None else np.asarray(classes)
    current = np.array(scores, dtype=np.float64)
    taken = np.zeros(len(boxes), dtype=bool)
    kept: list[int] = []
    kept_scores: list[float] = []
    while not taken.all():
        k = int(np.argmax(np.where(taken, -np.inf, current)))
        taken[k] = True
        if current[k] < skip:
            continue
        kept.append(k)
        kept_scores.append(float(current[k]))
        for m in range(len(boxes)):
            if taken[m] or labels[m] != labels[k]:
                continue
            iou = iou_one(boxes[k], boxes[m])
            if iou > 0:
                current[m] *= math.exp(-(iou**2) / sigma)
    return kept, kept_scores


def random_boxes(rng: np.random.Generator, n: int, extent: float, max_size: float) -> np.ndarray:
    """``n`` boxes: 70 % placed at random, 30 % jittered copies of those (as the same object seen by two tiles)."""
    n_random = n - n * 3 // 10
    xy = rng.uniform(0, extent, size=(n_random, 2))
    wh = rng.uniform(2, max_size, size=(n_random, 2))
    boxes = np.column_stack([xy, xy + wh])
    copies = boxes[rng.integers(0, n_random, size=n - n_random)]
    copies = copies + rng.normal(0, max_size / 40, size=copies.shape)
    copies[:, 2:] = np.maximum(copies[:, 2:], copies[:, :2] + 1)
    return rng.permutation(np.concatenate([boxes, copies]))


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3, 0.5, 0.75, 0.95])
@pytest.mark.parametrize("n_classes", [1, 3])
def test_nms_matches_greedy_reference_on_random_boxes(threshold: float, n_classes: int) -> None:
    rng = np.random.default_rng(int(threshold * 100) + 1000 * n_classes)
    boxes = random_boxes(rng, 2000, 2000.0, 120.0)
    scores = rng.random(2000)
    classes = rng.choice(np.array(["car", "ship", "plane"])[:n_classes], size=2000)

    kept = nms(boxes, scores, threshold, classes)

    expected = greedy_nms(boxes, scores, threshold, classes)
    assert kept.tolist() == expected
    assert 0 < len(expected) < 2000  # the data actually exercises suppression


def test_nms_without_classes_suppresses_across_labels() -> None:
    rng = np.random.default_rng(7)
    boxes = random_boxes(rng, 800, 600.0, 80.0)
    scores = rng.random(800)
    assert nms(boxes, scores, 0.4).tolist() == greedy_nms(boxes, scores, 0.4, None)


def test_nms_with_duplicate_scores_keeps_lower_index_first() -> None:
    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, 500, 500.0, 60.0)
    scores = rng.choice([0.25, 0.5, 0.75], size=500)
    kept = nms(boxes, scores, 0.3)
    assert kept.tolist() == greedy_nms(boxes, scores, 0.3, None)


def test_nms_is_per_class() -> None:
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]]
    scores = [0.9, 0.8, 0.7, 0.6]
    assert nms(boxes, scores, 0.5, ["a", "a", "b", "a"]).tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert nms(boxes, scores, 0.5, [1, 2, 3, 4]).tolist() == [0, 1, 2, 3]


def test_nms_threshold_is_strict() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 5]]  # IoU exactly 0.5
    assert nms(boxes, [0.9, 0.8], 0.5).tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8], 0.49).tolist() == [0]


def test_touching_boxes_do_not_suppress_each_other_even_at_threshold_zero() -> None:
    boxes = [[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20]]
    assert nms(boxes, [0.9, 0.8, 0.7], 0.0).tolist() == [0, 1, 2]


def test_suppressed_box_does_not_suppress_others() -> None:
    # b overlaps a and c; a suppresses b, so c (which only overlaps b) survives.
    boxes = [[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]]
    assert nms(boxes, [0.9, 0.8, 0.7], 0.3).tolist() == [0, 2]


def test_zero_area_boxes_are_padded_and_deduplicated() -> None:
    boxes = [[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 9], [5, 5, 5, 9], [100, 3, 120, 3], [300, 300, 300, 300]]
    scores = [0.5, 0.9, 0.4, 0.3, 0.2, 0.1]
    kept = nms(boxes, scores, 0.5)
    assert kept.tolist() == [1, 2, 4, 5]
    assert kept.tolist() == greedy_nms(np.array(boxes, float), np.array(scores), 0.5, None)
    i, j, iou = overlapping_pairs(np.array(boxes, dtype=float))
    assert np.all(np.isfinite(iou))
    assert {(int(a), int(b)) for a, b, v in zip(i, j, iou, strict=True) if v == pytest.approx(1.0)} >= {(0, 1), (2, 3)}


def test_inverted_boxes_are_not_nan() -> None:
    _, _, iou = overlapping_pairs(np.array([[10.0, 10.0, 0.0, 0.0], [10.0, 10.0, 0.0, 0.0]]))
    assert np.all(np.isfinite(iou))


@pytest.mark.parametrize("boxes", [[], np.empty((0, 4))])
def test_empty_input(boxes: object) -> None:
    kept = nms(boxes, [], 0.5)
    assert kept.dtype.kind == "i" and kept.tolist() == []
    kept, scores = soft_nms(boxes, [])
    assert kept.tolist() == [] and scores.tolist() == []
    i, j, iou = overlapping_pairs(np.empty((0, 4)))
    assert len(i) == len(j) == len(iou) == 0


def test_single_box() -> None:
    assert nms([[0, 0, 1, 1]], [0.3], 0.5).tolist() == [0]
    kept, scores = soft_nms([[0, 0, 1, 1]], [0.3])
    assert kept.tolist() == [0] and scores.tolist() == [0.3]


def test_overlapping_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(11)
    boxes = random_boxes(rng, 300, 400.0, 60.0)
    classes = rng.choice(["a", "b"], size=300)
    i, j, iou = overlapping_pairs(boxes, classes)
    found = {(int(a), int(b)): float(v) for a, b, v in zip(i, j, iou, strict=True)}
    assert all(a < b for a, b in found)
    expected = {
        (a, b): iou_one(boxes[a], boxes[b])
        for a in range(300)
        for b in range(a + 1, 300)
        if classes[a] == classes[b] and iou_one(boxes[a], boxes[b]) > 0
    }
    assert {k for k, v in found.items() if v > 0} == set(expected)
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("sigma", "skip", "n_classes", "seed"),
    [(0.1, 0.0001, 1, 1), (0.1, 0.0001, 3, 2), (0.5, 0.05, 2, 3), (0.05, 0.2, 1, 4), (1.0, 0.0, 2, 5)],
)
def test_soft_nms_matches_brute_force_reference(sigma: float, skip: float, n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 300, 300.0, 60.0)
    scores = rng.random(300)
    classes = rng.integers(0, n_classes, size=300)

    kept, new_scores = soft_nms(boxes, scores, sigma, skip, classes)

    expected_kept, expected_scores = soft_nms_reference(boxes, scores, sigma, skip, classes)
    assert kept.tolist() == expected_kept
    np.testing.assert_allclose(new_scores, expected_scores, rtol=0, atol=1e-9)
    assert np.all(np.diff(new_scores) <= 0)  # taken in descending current score
    if skip > 0:
        assert np.all(new_scores >= skip)
    assert np.all(new_scores <= scores[kept])


def test_soft_nms_decays_instead_of_removing() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [100, 100, 110, 110]]
    kept, scores = soft_nms(boxes, [0.9, 0.8, 0.5], sigma=0.5, skip_box_threshold=0.0)
    assert kept.tolist() == [0, 2, 1]
    np.testing.assert_allclose(scores, [0.9, 0.5, 0.8 * math.exp(-1 / 0.5)], atol=1e-12)


def test_soft_nms_drops_boxes_below_the_skip_threshold() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]]
    kept, scores = soft_nms(boxes, [0.9, 0.8, 0.00001], sigma=0.1, skip_box_threshold=0.0001)
    # the duplicate decays to 0.8 * e^-10 (< 0.0001); the isolated box was below the threshold already
    assert kept.tolist() == [0]
    assert scores.tolist() == [0.9]


def test_soft_nms_is_per_class() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10]]
    kept, scores = soft_nms(boxes, [0.9, 0.8], sigma=0.1, skip_box_threshold=0.0001, classes=["a", "b"])
    assert kept.tolist() == [0, 1]
    assert scores.tolist() == [0.9, 0.8]


def test_soft_nms_does_not_modify_the_input_scores() -> None:
    scores = np.array([0.9, 0.8])
    soft_nms([[0, 0, 10, 10], [0, 0, 10, 10]], scores)
    assert scores.tolist() == [0.9, 0.8]
