"""Apply NMS or Soft-NMS to GeoJSON features, per class, over the whole image."""

from __future__ import annotations

from typing import Any

import numpy as np

from tessera.detections import feature_box, feature_class
from tessera.distillation.nms import nms, soft_nms
from tessera.requests import DistillationAlgorithm
from tessera.requests.job import DistillationSpec


def distill_features(features: list[dict[str, Any]], spec: DistillationSpec) -> list[dict[str, Any]]:
    """The features left after distillation, highest score first.

    Soft-NMS rewrites each kept feature's class ``score`` and keeps the model's as ``rawScore`` (as OSML).
    """
    if not features:
        return []
    boxes = np.array([feature_box(f) for f in features], dtype=np.float64)
    labelled = [feature_class(f) for f in features]
    classes = np.array([label for label, _ in labelled], dtype=object)
    scores = np.array([score for _, score in labelled], dtype=np.float64)
    if spec.algorithm is DistillationAlgorithm.SOFT_NMS:
        kept, new_scores = soft_nms(boxes, scores, spec.sigma, spec.skip_box_threshold, classes)
        for index, score in zip(kept.tolist(), new_scores.tolist(), strict=True):
            for entry in features[index]["properties"].get("featureClasses") or []:
                if entry.get("iri") == classes[index]:  # only the class that was distilled, as OSML does
                    entry.setdefault("rawScore", entry.get("score"))
                    entry["score"] = score
        return [features[i] for i in kept.tolist()]
    kept = nms(boxes, scores, spec.iou_threshold, classes)
    return [features[i] for i in kept.tolist()]
