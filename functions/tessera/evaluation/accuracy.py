"""How good the detections are: matching to ground truth, precision/recall/F1, geolocation, duplicates.

* **Matching** is greedy by descending score: each detection takes the unmatched truth object of its
  class with the highest polygon IoU (``imageGeometry``, pixel space, shapely), if that IoU is at least
  ``iou_threshold`` (0.5). Matched detections are true positives, the others false positives, unmatched
  truth objects false negatives.
* **Position error** (m): for each match, the haversine distance between the detection's
  ``center_longitude``/``center_latitude`` (what the pipeline wrote) and the truth's centre.
  It includes the detector's own localisation error (a pixel is 0.5 m on the demo scene).
* **Geolocation error** (m): the pipeline's lon/lat of every detection vertex and centre, against the
  exact transformation of the same pixel coordinates through the truth's georeference (``scene.crs``
  and ``scene.transform`` in the truth file, PROJ through rasterio). This is the sensor model's error
  alone (an RPC fitted to the ground, a GeoTIFF transform, ...), independent of the detector.
* **Duplicates**: pairs of output features of the same class whose IoU exceeds ``duplicate_iou`` (the
  distillation threshold, 0.75). After NMS on boxes this can only find polygon/box disagreements, so
  **partial duplicates** are counted too: pairs whose intersection covers more than half of the smaller
  one, which is what a part of an object cut at a tile seam looks like next to the whole object.

:func:`quicklook` draws the truth (green) and the detections (red when matched, yellow when not; missed
truth in magenta) over a reduced image and writes a PNG with rasterio.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import transform as warp_transform
from shapely.geometry import shape

EARTH_RADIUS_M = 6_371_008.8
Feature = dict[str, Any]
Pair = tuple[int, int, float]

GREEN = (40, 230, 60)
RED = (255, 40, 40)
YELLOW = (255, 230, 0)
MAGENTA = (255, 0, 255)


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres (haversine on the mean Earth radius; 0.5 % at worst against WGS84).

    Example:
        >>> round(float(haversine_m(0.0, 0.0, 0.0, 1.0)), 1)
        111195.1
    """
    x1, y1, x2, y2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1))), dtype=np.float64)


def load_features(path: Path | str) -> tuple[list[Feature], dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection file, and the collection itself."""
    collection = json.loads(Path(path).read_text())
    if collection.get("type") != "FeatureCollection":
        raise ValueError(f"{path} is not a GeoJSON FeatureCollection")
    return list(collection.get("features") or []), collection


def pixel_polygon(feature: Feature) -> shapely.Geometry:
    """The feature's ``imageGeometry`` (or its ``imageBBox`` as a box) in image pixels."""
    props = feature.get("properties") or {}
    geometry = props.get("imageGeometry")
    if geometry and geometry.get("type") in ("Polygon", "MultiPolygon"):
        polygon = shape(geometry)
        return polygon if polygon.is_valid else polygon.buffer(0)
    minx, miny, maxx, maxy = props["imageBBox"]
    return shapely.box(minx, miny, maxx, maxy)


def best_class(feature: Feature) -> tuple[str, float]:
    """The feature's best class and score (``("", 0.0)`` without classes)."""
    classes = (feature.get("properties") or {}).get("featureClasses") or []
    if not classes:
        return "", 0.0
    best = max(classes, key=lambda c: float(c.get("score", 0.0)))
    return str(best.get("iri", "")), float(best.get("score", 0.0))


def _iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union > 0 else 0.0


def match(detections: Sequence[Feature], truths: Sequence[Feature], iou_threshold: float = 0.5) -> list[Pair]:
    """Greedy matches ``(detection, truth, iou)`` by descending detection score, one truth per detection.

    Example:
        >>> box = lambda x: {"properties": {"imageBBox": [x, 0, x + 10, 4], "featureClasses": [{"iri": "ship"}]}}
        >>> match([box(1), box(50)], [box(0), box(20)])
        [(0, 0, 0.8181818181818182)]
    """
    truth_polygons = [pixel_polygon(t) for t in truths]
    truth_classes = [best_class(t)[0] for t in truths]
    tree = shapely.STRtree(truth_polygons)
    order = sorted(range(len(detections)), key=lambda i: -best_class(detections[i])[1])
    taken: set[int] = set()
    pairs: list[Pair] = []
    for index in order:
        polygon = pixel_polygon(detections[index])
        label = best_class(detections[index])[0]
        candidates = [int(j) for j in tree.query(polygon) if int(j) not in taken and truth_classes[int(j)] == label]
        scored = [(_iou(polygon, truth_polygons[j]), j) for j in candidates]
        if not scored:
            continue
        iou, best = max(scored)
        if iou >= iou_threshold:
            taken.add(best)
            pairs.append((index, best, iou))
    return pairs


def duplicate_pairs(
    features: Sequence[Feature], iou_threshold: float = 0.75, overlap: float | None = None
) -> list[Pair]:
    """Pairs ``(i, j, value)`` of same-class features overlapping too much.

    With ``overlap=None`` the value is the polygon IoU and a pair counts when it exceeds
    ``iou_threshold``; otherwise the value is intersection over the smaller area, compared with ``overlap``.
    """
    if len(features) < 2:
        return []
    polygons = [pixel_polygon(f) for f in features]
    classes = [best_class(f)[0] for f in features]
    tree = shapely.STRtree(polygons)
    left, right = tree.query(np.array(polygons, dtype=object), predicate="intersects")
    pairs: list[Pair] = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j or classes[i] != classes[j]:
            continue
        a, b = polygons[i], polygons[j]
        if overlap is None:
            value = _iou(a, b)
            if value > iou_threshold:
                pairs.append((i, j, value))
        else:
            smaller = min(a.area, b.area)
            value = float(a.intersection(b).area / smaller) if smaller > 0 else 0.0
            if value > overlap:
                pairs.append((i, j, value))
    return pairs


def _centre_lonlat(feature: Feature) -> tuple[float, float] | None:
    props = feature.get("properties") or {}
    if "center_longitude" in props and "center_latitude" in props:
        return float(props["center_longitude"]), float(props["center_latitude"])
    return None


def geolocation_errors(features: Sequence[Feature], georeference: dict[str, Any]) -> npt.NDArray[np.float64]:
    """Distances (m) between the features' lon/lat (vertices and centres) and the exact transformation.

    ``georeference`` holds ``crs`` (anything rasterio's CRS accepts) and ``transform`` (6 affine terms)
    of the image the pixel coordinates refer to.
    """
    transform = Affine(*georeference["transform"][:6])
    crs = CRS.from_user_input(georeference["crs"])
    pixel_xy: list[tuple[float, float]] = []
    lonlat: list[tuple[float, float]] = []
    for feature in features:
        geometry = feature.get("geometry")
        image_geometry = (feature.get("properties") or {}).get("imageGeometry")
        if geometry and image_geometry and geometry.get("type") == image_geometry.get("type"):
            world = shapely.get_coordinates(shape(geometry))
            pixels = shapely.get_coordinates(shape(image_geometry))
            if len(world) == len(pixels):
                pixel_xy.extend(map(tuple, pixels))
                lonlat.extend(map(tuple, world))
        centre = _centre_lonlat(feature)
        if centre is not None and image_geometry:
            point = shapely.centroid(shape(image_geometry))
            pixel_xy.append((point.x, point.y))
            lonlat.append(centre)
    if not pixel_xy:
        return np.empty(0)
    xy, got = np.array(pixel_xy, dtype=np.float64), np.array(lonlat, dtype=np.float64)
    east, north = transform @ (xy[:, 0], xy[:, 1])
    lon, lat = warp_transform(crs, "EPSG:4326", np.ravel(east), np.ravel(north))
    return haversine_m(got[:, 0], got[:, 1], lon, lat)


def _stats(values: npt.NDArray[np.float64]) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "max": None}
    return {"mean": round(float(values.mean()), 4), "max": round(float(values.max()), 4)}


def evaluate(
    detections: Sequence[Feature],
    truths: Sequence[Feature],
    *,
    iou_threshold: float = 0.5,
    duplicate_iou: float = 0.75,
    partial_overlap: float = 0.5,
    georeference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The accuracy report: counts, precision, recall, F1, position and geolocation errors, duplicates."""
    pairs = match(detections, truths, iou_threshold)
    tp = len(pairs)
    fp, fn = len(detections) - tp, len(truths) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    distances = []
    for d, t, _ in pairs:
        got, want = _centre_lonlat(detections[d]), _centre_lonlat(truths[t])
        if got is not None and want is not None:
            distances.append(float(haversine_m(got[0], got[1], want[0], want[1])))
    duplicates = duplicate_pairs(detections, duplicate_iou)
    partial = duplicate_pairs(detections, overlap=partial_overlap)
    geolocation = geolocation_errors(detections, georeference) if georeference else np.empty(0)
    matched = {d for d, _, _ in pairs}
    found = {t for _, t, _ in pairs}
    return {
        "detections": len(detections),
        "truth": len(truths),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "iou_threshold": iou_threshold,
        "mean_iou": round(float(np.mean([iou for _, _, iou in pairs])), 4) if pairs else None,
        "position_error_m": _stats(np.array(distances)),
        "geolocation_error_m": _stats(geolocation),
        "geolocation_points": int(geolocation.size),
        "duplicate_iou": duplicate_iou,
        "duplicate_pairs": len(duplicates),
        "partial_duplicate_pairs": len(partial),
        "duplicates": [_pair_ids(detections, p) for p in duplicates + partial][:50],
        "false_positive_ids": [_feature_id(detections[i], i) for i in range(len(detections)) if i not in matched][:100],
        "missed_ids": [_feature_id(truths[i], i) for i in range(len(truths)) if i not in found][:100],
    }


def _feature_id(feature: Feature, index: int) -> str:
    return str(feature.get("id", index))


def _pair_ids(features: Sequence[Feature], pair: Pair) -> dict[str, Any]:
    i, j, value = pair
    return {"a": _feature_id(features[i], i), "b": _feature_id(features[j], j), "overlap": round(value, 4)}


def evaluate_files(
    features_path: Path | str, truth_path: Path | str, *, iou_threshold: float = 0.5, duplicate_iou: float = 0.75
) -> dict[str, Any]:
    """:func:`evaluate` on a features GeoJSON and a truth GeoJSON (its ``scene`` gives the georeference)."""
    detections, _ = load_features(features_path)
    truths, truth_collection = load_features(truth_path)
    scene = truth_collection.get("scene") or {}
    georeference = scene if "crs" in scene and "transform" in scene else None
    report = evaluate(
        detections, truths, iou_threshold=iou_threshold, duplicate_iou=duplicate_iou, georeference=georeference
    )
    report["features_file"], report["truth_file"] = str(features_path), str(truth_path)
    return report


# ---------------------------------------------------------------------------------------------- quicklook


def _to_byte(data: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Three 8-bit bands for display: 8-bit data as is, anything else stretched per band (2-98 %)."""
    bands = data if data.shape[0] >= 3 else np.repeat(data[:1], 3, axis=0)
    bands = bands[:3]
    if bands.dtype == np.uint8:
        return np.ascontiguousarray(bands)
    out = np.empty(bands.shape, dtype=np.uint8)
    for index, band in enumerate(bands.astype(np.float64)):
        finite = band[np.isfinite(band)]
        lo, hi = np.percentile(finite, (2, 98)) if finite.size else (0.0, 1.0)
        out[index] = np.clip((np.nan_to_num(band, nan=lo) - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
    return out


def _draw(
    canvas: npt.NDArray[np.uint8],
    polygons: Sequence[shapely.Geometry],
    colour: tuple[int, int, int],
    scale: float,
    width: float,
) -> None:
    """Outline ``polygons`` (image pixels) on ``canvas`` (reduced by ``scale``) in ``colour``."""
    if not polygons:
        return
    outlines = [shapely.transform(p, lambda xy: xy * scale).boundary for p in polygons]
    if width > 1:
        outlines = [o.buffer(width / 2) for o in outlines]
    burnt = rasterio.features.rasterize(
        [(o, 1) for o in outlines], out_shape=canvas.shape[1:], fill=0, all_touched=True, dtype="uint8"
    ).astype(bool)
    for band, value in enumerate(colour):
        canvas[band][burnt] = value


def quicklook(
    image: Path | str,
    detections: Sequence[Feature],
    truths: Sequence[Feature],
    out: Path | str,
    *,
    max_size: int = 2048,
    iou_threshold: float = 0.5,
) -> Path:
    """Write a PNG of the image reduced to at most ``max_size`` pixels a side, with outlines drawn.

    Green: truth; red: matched detections; yellow: unmatched detections; magenta: missed truth.
    """
    with rasterio.open(image) as src:
        scale = min(1.0, max_size / max(src.width, src.height))
        shape_out = (src.count, max(1, math.ceil(src.height * scale)), max(1, math.ceil(src.width * scale)))
        data = src.read(out_shape=shape_out, resampling=Resampling.average if scale < 1 else Resampling.nearest)
        scale_x, scale_y = shape_out[2] / src.width, shape_out[1] / src.height
    canvas = _to_byte(data)
    pairs = match(detections, truths, iou_threshold)
    matched, found = {d for d, _, _ in pairs}, {t for _, t, _ in pairs}
    truth_polygons = [pixel_polygon(t) for t in truths]
    detection_polygons = [pixel_polygon(d) for d in detections]
    scale = (scale_x + scale_y) / 2
    _draw(canvas, [p.buffer(3 / scale, join_style="mitre") for p in truth_polygons], GREEN, scale, 1)
    _draw(canvas, [truth_polygons[i] for i in range(len(truths)) if i not in found], MAGENTA, scale, 2)
    _draw(canvas, [detection_polygons[i] for i in sorted(matched)], RED, scale, 1)
    _draw(canvas, [detection_polygons[i] for i in range(len(detections)) if i not in matched], YELLOW, scale, 2)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "PNG", "width": canvas.shape[2], "height": canvas.shape[1], "count": 3, "dtype": "uint8"}
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(canvas)
    return path
