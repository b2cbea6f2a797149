"""Apply NMS or Soft-NMS to GeoJSON features, per class, over the whole image."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.detections import feature_box, feature_class
from tessera.distillation.nms import nms, soft_nms
from tessera.requests import DistillationAlgorithm
from tessera.requests.job import DistillationSpec


def distill_boxes(
    boxes: npt.NDArray[np.float64], classes: npt.NDArray[Any], scores: npt.NDArray[np.float64], spec: DistillationSpec
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64] | None]:
    """Indices of the boxes distillation keeps, highest score first, and their new scores (Soft-NMS only)."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64), None
    if spec.algorithm is DistillationAlgorithm.SOFT_NMS:
        return soft_nms(boxes, scores, spec.sigma, spec.skip_box_threshold, classes)
    return nms(boxes, scores, spec.iou_threshold, classes), None


def rescore(feature: dict[str, Any], iri: str, score: float) -> None:
    """Give the distilled class its Soft-NMS score and keep the model's as ``rawScore`` (as OSML)."""
    for entry in feature["properties"].get("featureClasses") or []:
        if entry.get("iri") == iri:
            entry.setdefault("rawScore", entry.get("score"))
            entry["score"] = score


def distill_features(features: list[dict[str, Any]], spec: DistillationSpec) -> list[dict[str, Any]]:
    """The features left after distillation, highest score first.

    Soft-NMS rewrites the distilled class's ``score`` and keeps the model's as ``rawScore`` (as OSML).
    """
    if not features:
        return []
    boxes = np.array([feature_box(f) for f in features], dtype=np.float64)
    labelled = [feature_class(f) for f in features]
    classes = np.array([label for label, _ in labelled], dtype=object)
    scores = np.array([score for _, score in labelled], dtype=np.float64)
    kept, new_scores = distill_boxes(boxes, classes, scores, spec)
    if new_scores is not None:
        for index, score in zip(kept.tolist(), new_scores.tolist(), strict=True):
            rescore(features[index], str(classes[index]), score)
    return [features[i] for i in kept.tolist()]
