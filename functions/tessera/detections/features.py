"""From a model's tile-relative features to OSML's output features.

1. :func:`refine_tile_features` moves ``imageGeometry`` / ``imageBBox`` from tile to image pixels and
   converts the deprecated keys (``bounds_imcoords``, ``geom_imcoords``, ``feature_types``,
   ``detection_score``) to the current ones.
2. :func:`geolocate_features` sets each feature's WGS84 ``geometry``, ``bbox`` and ``center_longitude`` /
   ``center_latitude`` through the sensor model: every vertex of every feature in one vectorized call.
3. :func:`finalize_features` adds ``inferenceMetadata``, the request's ``featureProperties`` and
   ``sourceMetadata``, and drops OSML's internal keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import mapping, shape

from tessera.errors import ModelError
from tessera.geo import SensorModel
from tessera.tiling import ImageRegion

Feature = dict[str, Any]
_DEPRECATED = ("bounds_imcoords", "geom_imcoords", "feature_types", "detection_score", "image_id", "inferenceTime")


def _shift(coords: Any, dx: float, dy: float) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        return [coords[0] + dx, coords[1] + dy, *coords[2:]]
    return [_shift(c, dx, dy) for c in coords]


def _image_geometry(props: dict[str, Any]) -> dict[str, Any] | None:
    geometry = props.get("imageGeometry")
    if geometry is None and props.get("geom_imcoords"):
        ring = [list(p) for p in props["geom_imcoords"]]
        geometry = {"type": "Polygon", "coordinates": [ring if ring[0] == ring[-1] else [*ring, ring[0]]]}
    return geometry


def _feature_classes(props: dict[str, Any]) -> list[dict[str, Any]]:
    classes = props.get("featureClasses")
    if classes is None and isinstance(props.get("feature_types"), dict):
        classes = [{"iri": iri, "score": float(score)} for iri, score in props["feature_types"].items()]
    if classes is None and "detection_score" in props:
        classes = [{"iri": "unknown", "score": float(props["detection_score"])}]
    return classes or []


def refine_tile_features(features: Iterable[Feature], tile: ImageRegion) -> list[Feature]:
    """Translate model features from tile pixels to image pixels (OSML's feature refinement).

    Raises:
        ModelError: for a feature with neither ``imageGeometry`` nor ``imageBBox`` (nor a deprecated form).
    """
    refined = []
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            raise ModelError(f"feature {index} of tile {tile.region_key} has no properties object")
        props = dict(feature["properties"])
        geometry = _image_geometry(props)
        bbox = props.get("imageBBox", props.get("bounds_imcoords"))
        if geometry is None and bbox is None:
            raise ModelError(f"feature {index} of tile {tile.region_key} has neither imageGeometry nor imageBBox")
        dx, dy = tile.col, tile.row
        if geometry is not None:
            try:
                shape(geometry)
            except (ValueError, TypeError, KeyError, AttributeError, IndexError, shapely.errors.GEOSException) as err:
                message = f"feature {index} of tile {tile.region_key} has an invalid imageGeometry: {err}"
                raise ModelError(message) from None
            props["imageGeometry"] = {"type": geometry["type"], "coordinates": _shift(geometry["coordinates"], dx, dy)}
        if bbox is not None:
            minx, miny, maxx, maxy = (float(v) for v in bbox)
            props["imageBBox"] = [minx + dx, miny + dy, maxx + dx, maxy + dy]
        else:
            props["imageBBox"] = list(shape(props["imageGeometry"]).bounds)
        props["featureClasses"] = _feature_classes(props)
        for key in _DEPRECATED:
            props.pop(key, None)
        refined_feature: Feature = {"type": "Feature", "geometry": None, "properties": props}
        if "id" in feature:
            refined_feature["id"] = feature["id"]
        refined.append(refined_feature)
    return refined


def feature_box(feature: Feature) -> tuple[float, float, float, float]:
    """The feature's pixel box ``(minx, miny, maxx, maxy)``."""
    minx, miny, maxx, maxy = feature["properties"]["imageBBox"]
    return float(minx), float(miny), float(maxx), float(maxy)


def feature_class(feature: Feature) -> tuple[str, float]:
    """The feature's best class and its score (``("", 0.0)`` when it has none)."""
    classes = feature["properties"].get("featureClasses") or []
    if not classes:
        return "", 0.0
    best = max(classes, key=lambda c: float(c.get("score", 0.0)))
    return str(best.get("iri", "")), float(best.get("score", 0.0))


def geolocate_features(features: Sequence[Feature], model: SensorModel | None) -> None:
    """Set ``geometry``, ``bbox`` and ``center_*`` on every feature, in place, in one vectorized pass.

    Without a sensor model the features keep ``geometry: null`` and are marked ``sensorModel: "none"``.
    """
    if not features:
        return
    if model is None:
        for feature in features:
            feature["properties"]["sensorModel"] = "none"
        return
    pixel_geometries = np.array(
        [shape(f["properties"].get("imageGeometry") or _box_geometry(f)) for f in features], dtype=object
    )
    boxes = np.array([feature_box(f) for f in features], dtype=np.float64)

    def to_world(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        lon, lat = model.image_to_world(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    world = shapely.transform(pixel_geometries, to_world)
    centres = shapely.centroid(pixel_geometries)
    centre_xy = shapely.get_coordinates(centres)
    corners_x = boxes[:, [0, 2, 2, 0]].ravel()
    corners_y = boxes[:, [1, 1, 3, 3]].ravel()
    all_x = np.concatenate([centre_xy[:, 0], corners_x])
    all_y = np.concatenate([centre_xy[:, 1], corners_y])
    lon, lat = model.image_to_world(all_x, all_y)
    n = len(features)
    corner_lon, corner_lat = lon[n:].reshape(n, 4), lat[n:].reshape(n, 4)
    finite = np.isfinite(lon) & np.isfinite(lat)
    for i, feature in enumerate(features):
        props = feature["properties"]
        props["sensorModel"] = model.name
        coordinates = shapely.get_coordinates(world[i])
        if not (finite[i] and finite[n + 4 * i : n + 4 * i + 4].all() and np.isfinite(coordinates).all()):
            feature["geometry"] = None  # outside the sensor model's domain (e.g. beyond the DEM)
            props["geolocated"] = False
            continue
        feature["geometry"] = mapping(world[i])
        feature["bbox"] = [
            float(corner_lon[i].min()),
            float(corner_lat[i].min()),
            float(corner_lon[i].max()),
            float(corner_lat[i].max()),
        ]
        props["center_longitude"] = float(lon[i])
        props["center_latitude"] = float(lat[i])


def _box_geometry(feature: Feature) -> dict[str, Any]:
    minx, miny, maxx, maxy = feature_box(feature)
    return mapping(shapely.box(minx, miny, maxx, maxy))


def finalize_feature(
    feature: Feature,
    index: int,
    *,
    job_id: str,
    inference_dt: str,
    feature_properties: Sequence[dict[str, Any]] = (),
    source_metadata: dict[str, Any] | None = None,
) -> Feature:
    """Add OSML's output properties to one feature (in place) and give it a stable id; return it."""
    props = feature["properties"]
    props["inferenceMetadata"] = {"jobId": job_id, "inferenceDT": inference_dt}
    for extra in feature_properties:
        props.update(extra)
    if source_metadata:
        props["sourceMetadata"] = [source_metadata]
    feature.setdefault("id", f"{job_id}:{index}")
    return feature


def finalize_features(
    features: Iterable[Feature],
    *,
    job_id: str,
    inference_dt: str,
    feature_properties: Sequence[dict[str, Any]] = (),
    source_metadata: dict[str, Any] | None = None,
) -> list[Feature]:
    """Add OSML's output properties to each feature and give it a stable id."""
    return [
        finalize_feature(
            feature,
            index,
            job_id=job_id,
            inference_dt=inference_dt,
            feature_properties=feature_properties,
            source_metadata=source_metadata,
        )
        for index, feature in enumerate(features)
    ]
