"""Accuracy metrics on hand-made cases: matching, precision/recall/F1, duplicates, geolocation, quicklook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod, Transformer

from tessera.evaluation.accuracy import (
    duplicate_pairs,
    evaluate,
    evaluate_files,
    geolocation_errors,
    haversine_m,
    match,
    quicklook,
)

GEOREFERENCE = {"crs": "EPSG:32633", "transform": [0.5, 0.0, 560000.0, 0.0, -0.5, 4820000.0]}
TO_WGS84 = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)


def box(
    minx: float, miny: float, maxx: float, maxy: float, score: float = 1.0, iri: str = "ship", **extra: Any
) -> dict:
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    props = {
        "imageGeometry": {"type": "Polygon", "coordinates": [ring]},
        "imageBBox": [minx, miny, maxx, maxy],
        "featureClasses": [{"iri": iri, "score": score}],
        **extra,
    }
    return {"type": "Feature", "geometry": None, "properties": props}


def geolocated(feature: dict, shift_deg: float = 0.0) -> dict:
    """The feature with lon/lat computed exactly (pyproj), optionally shifted north."""
    ring = np.asarray(feature["properties"]["imageGeometry"]["coordinates"][0], dtype=float)
    east, north = Affine(*GEOREFERENCE["transform"]) @ (ring[:, 0], ring[:, 1])
    lon, lat = TO_WGS84.transform(east, north)
    feature["geometry"] = {"type": "Polygon", "coordinates": [np.column_stack([lon, lat + shift_deg]).tolist()]}
    cx, cy = ring[:4].mean(axis=0)
    clon, clat = TO_WGS84.transform(*(Affine(*GEOREFERENCE["transform"]) @ (cx, cy)))
    feature["properties"]["center_longitude"], feature["properties"]["center_latitude"] = clon, clat + shift_deg
    return feature


TRUTH = [box(0, 0, 40, 10), box(100, 100, 140, 110), box(200, 0, 210, 30)]


def test_precision_recall_f1_on_a_hand_made_case() -> None:
    detections = [
        box(0, 0, 40, 10, 0.9),  # exact
        box(104, 100, 144, 110, 0.8),  # IoU 36/44 = 0.82
        box(400, 400, 420, 410, 0.7),  # false alarm
        box(200, 20, 210, 50, 0.6),  # IoU 10/50 = 0.2: no match, and the third ship is missed
    ]
    report = evaluate(detections, TRUTH)
    assert (report["true_positives"], report["false_positives"], report["false_negatives"]) == (2, 2, 1)
    assert report["precision"] == 0.5 and report["recall"] == pytest.approx(0.6667, abs=1e-4)
    assert report["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3), abs=1e-4)
    assert report["mean_iou"] == pytest.approx((1 + 36 / 44) / 2, abs=1e-4)
    assert report["duplicate_pairs"] == 0 and report["partial_duplicate_pairs"] == 0
    perfect = evaluate(TRUTH, TRUTH)
    assert perfect["f1"] == 1.0 and perfect["false_positives"] == perfect["false_negatives"] == 0
    assert evaluate([], TRUTH)["recall"] == 0.0 and evaluate([], [])["f1"] == 0.0


def test_matching_is_greedy_by_score_one_truth_each_and_per_class() -> None:
    low, high = box(1, 0, 41, 10, 0.3), box(2, 0, 42, 10, 0.9)
    assert match([low, high], TRUTH[:1]) == [(1, 0, pytest.approx(38 / 42))]
    assert match([box(0, 0, 40, 10, iri="buoy")], TRUTH[:1]) == []
    assert match([box(0, 0, 40, 10)], TRUTH[:1], iou_threshold=1.01) == []


def test_duplicates_and_partial_duplicates() -> None:
    whole, same, part, other_class = (
        box(0, 0, 100, 20),
        box(2, 0, 102, 20),
        box(60, 0, 100, 20),
        box(0, 0, 100, 20, iri="x"),
    )
    assert [(i, j) for i, j, _ in duplicate_pairs([whole, same, part, other_class], 0.75)] == [(0, 1)]
    partial = duplicate_pairs([whole, part], overlap=0.5)
    assert [(i, j) for i, j, _ in partial] == [(0, 1)] and partial[0][2] == pytest.approx(1.0)
    report = evaluate([whole, part], [box(0, 0, 100, 20)])
    assert report["duplicate_pairs"] == 0 and report["partial_duplicate_pairs"] == 1
    assert report["duplicates"][0]["overlap"] == 1.0


def test_haversine_agrees_with_the_ellipsoid_within_half_a_percent() -> None:
    geod = Geod(ellps="WGS84")
    lon1, lat1 = np.array([15.0, 15.7, -70.0]), np.array([43.5, 43.52, -33.0])
    lon2, lat2 = lon1 + np.array([0.01, 0.0, 0.3]), lat1 + np.array([0.0, 0.00001, 0.2])
    _, _, exact = geod.inv(lon1, lat1, lon2, lat2)
    assert haversine_m(lon1, lat1, lon2, lat2) == pytest.approx(exact, rel=5e-3)


def test_geolocation_error_against_the_exact_transformation() -> None:
    exact = [geolocated(box(10, 10, 50, 20)), geolocated(box(300, 200, 320, 260))]
    errors = geolocation_errors(exact, GEOREFERENCE)
    assert errors.size == 2 * 6 and errors.max() < 1e-3
    shifted = geolocation_errors([geolocated(box(10, 10, 50, 20), shift_deg=1e-5)], GEOREFERENCE)
    assert shifted == pytest.approx(1.112, abs=0.01)
    truth = [geolocated(box(10, 10, 50, 20))]
    report = evaluate([geolocated(box(10, 10, 50, 20), shift_deg=2e-6)], truth, georeference=GEOREFERENCE)
    assert report["position_error_m"]["mean"] == pytest.approx(0.222, abs=0.005)
    assert report["geolocation_error_m"]["max"] == pytest.approx(0.222, abs=0.005)


def test_evaluate_files_and_quicklook(tmp_path: Path) -> None:
    truth = {"type": "FeatureCollection", "scene": GEOREFERENCE, "features": [geolocated(f) for f in TRUTH]}
    found = {"type": "FeatureCollection", "features": [geolocated(box(0, 0, 40, 10)), geolocated(box(60, 60, 80, 70))]}
    (tmp_path / "truth.geojson").write_text(json.dumps(truth))
    (tmp_path / "found.geojson").write_text(json.dumps(found))
    report = evaluate_files(tmp_path / "found.geojson", tmp_path / "truth.geojson")
    assert (report["true_positives"], report["false_positives"], report["false_negatives"]) == (1, 1, 2)
    assert report["geolocation_error_m"]["max"] < 1e-3
    image = tmp_path / "image.tif"
    with rasterio.open(image, "w", driver="GTiff", width=300, height=200, count=1, dtype="uint16") as dst:
        dst.write(np.full((1, 200, 300), 1000, dtype=np.uint16))
    out = quicklook(image, found["features"], truth["features"], tmp_path / "ql.png", max_size=150)
    with rasterio.open(out) as png:
        assert png.driver == "PNG" and (png.width, png.height) == (150, 100) and png.count == 3
        pixels = png.read()
    colours = {tuple(int(v) for v in pixels[:, y, x]) for y, x in zip(*np.nonzero(pixels.any(axis=0)), strict=True)}
    assert {(40, 230, 60), (255, 40, 40), (255, 230, 0), (255, 0, 255)} <= colours
