"""Distillation of GeoJSON features across tile seams (tessera.distillation.features)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from tessera.detections import refine_tile_features
from tessera.distillation.features import distill_features
from tessera.requests import DistillationAlgorithm
from tessera.requests.job import DistillationSpec
from tessera.tiling import ImageRegion

TILE = 512
LEFT = ImageRegion(row=0, col=0, width=TILE, height=TILE)
RIGHT = ImageRegion(row=0, col=412, width=TILE, height=TILE)  # 100 px overlap with LEFT


def model_feature(bbox: list[float], iri: str, score: float, **extra: Any) -> dict[str, Any]:
    minx, miny, maxx, maxy = bbox
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return {
        "type": "Feature",
        "geometry": None,
        "properties": {
            "imageGeometry": {"type": "Polygon", "coordinates": [ring]},
            "imageBBox": bbox,
            "featureClasses": [{"iri": iri, "score": score}],
            **extra,
        },
    }


def seam_features() -> list[dict[str, Any]]:
    """A vehicle at image x 450..480 seen by both tiles, plus one object that only the left tile sees."""
    left = refine_tile_features(
        [
            model_feature([450, 100, 480, 130], "vehicle", 0.8, seen_by="left"),
            model_feature([10, 10, 40, 40], "vehicle", 0.6, seen_by="left"),
        ],
        LEFT,
    )
    right = refine_tile_features([model_feature([38, 100, 68, 130], "vehicle", 0.9, seen_by="right")], RIGHT)
    return left + right


def test_refined_duplicates_share_one_image_box() -> None:
    features = seam_features()
    assert features[0]["properties"]["imageBBox"] == features[2]["properties"]["imageBBox"] == [450, 100, 480, 130]


def test_nms_collapses_a_duplicate_from_two_overlapping_tiles() -> None:
    result = distill_features(seam_features(), DistillationSpec())

    assert [f["properties"]["seen_by"] for f in result] == ["right", "left"]  # highest score first
    assert [f["properties"]["imageBBox"] for f in result] == [[450, 100, 480, 130], [10, 10, 40, 40]]
    assert result[0]["properties"]["featureClasses"] == [{"iri": "vehicle", "score": 0.9}]  # NMS keeps scores


def test_soft_nms_collapses_the_duplicate_and_keeps_the_raw_score() -> None:
    spec = DistillationSpec(algorithm=DistillationAlgorithm.SOFT_NMS)
    result = distill_features(seam_features(), spec)

    assert [f["properties"]["seen_by"] for f in result] == ["right", "left"]
    # the duplicate decays to 0.8 * exp(-1 / 0.1) < 0.0001 and is dropped
    for feature in result:
        (entry,) = feature["properties"]["featureClasses"]
        assert entry["rawScore"] == entry["score"]


def test_soft_nms_rewrites_the_score_of_a_partly_overlapping_feature() -> None:
    features = refine_tile_features(
        [model_feature([0, 0, 10, 10], "a", 0.9), model_feature([5, 0, 15, 10], "a", 0.8)], LEFT
    )
    spec = DistillationSpec(algorithm=DistillationAlgorithm.SOFT_NMS, sigma=0.5, skip_box_threshold=0.0)
    result = distill_features(features, spec)

    second = result[1]["properties"]["featureClasses"][0]
    iou = 50 / 150
    assert second["rawScore"] == 0.8
    assert second["score"] == pytest.approx(0.8 * math.exp(-(iou**2) / 0.5), rel=1e-12)


def test_features_of_different_classes_are_not_merged() -> None:
    features = refine_tile_features(
        [model_feature([0, 0, 10, 10], "car", 0.9), model_feature([0, 0, 10, 10], "truck", 0.5)], LEFT
    )
    assert len(distill_features(features, DistillationSpec())) == 2


def test_class_is_the_best_scoring_feature_class() -> None:
    first = model_feature([0, 0, 10, 10], "car", 0.9)
    second = model_feature([0, 0, 10, 10], "truck", 0.2)
    second["properties"]["featureClasses"].append({"iri": "car", "score": 0.7})
    result = distill_features(refine_tile_features([first, second], LEFT), DistillationSpec())
    assert len(result) == 1 and result[0]["properties"]["featureClasses"][0]["iri"] == "car"


def test_iou_threshold_of_the_spec_is_used() -> None:
    features = refine_tile_features(
        [model_feature([0, 0, 10, 10], "a", 0.9), model_feature([0, 0, 10, 6], "a", 0.8)], LEFT
    )  # IoU 0.6
    assert len(distill_features(copy.deepcopy(features), DistillationSpec(iou_threshold=0.75))) == 2
    assert len(distill_features(copy.deepcopy(features), DistillationSpec(iou_threshold=0.5))) == 1


def test_no_features() -> None:
    assert distill_features([], DistillationSpec()) == []
    assert distill_features([], DistillationSpec(algorithm=DistillationAlgorithm.SOFT_NMS)) == []


def test_soft_nms_rescores_only_the_distilled_class() -> None:
    def feature(box: list[float], classes: list[dict[str, float | str]]) -> dict[str, object]:
        return {"type": "Feature", "properties": {"imageBBox": box, "featureClasses": classes}}

    features = [
        feature([0, 0, 10, 10], [{"iri": "ship", "score": 0.9}, {"iri": "truck", "score": 0.3}]),
        feature([1, 1, 11, 11], [{"iri": "ship", "score": 0.8}]),
    ]
    kept = distill_features(features, DistillationSpec(algorithm=DistillationAlgorithm.SOFT_NMS, sigma=0.5))
    second = next(f for f in kept if f is features[1])
    assert second["properties"]["featureClasses"][0]["rawScore"] == 0.8
    assert second["properties"]["featureClasses"][0]["score"] < 0.8
    first = features[0]["properties"]["featureClasses"]
    assert first[1] == {"iri": "truck", "score": 0.3}, "the other class keeps its own score"
