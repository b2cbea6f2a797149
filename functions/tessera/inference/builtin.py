"""Models that run inside the region Lambda (no endpoint): OSML's test models, reproduced.

* ``centerpoint``: one detection per tile at its centre; the box is the centre ± 10 % of the tile's size
  (a 512 tile gives ``[204.8, 204.8, 307.2, 307.2]``), class ``sample_object``, score 1.0. With
  ``segmentation=true`` in the custom attributes the geometry is a hexagon instead of the centre point.
* ``flood``: ``flood_volume`` (default 100) random boxes per tile with random scores, seeded by the
  tile's position so that a re-run gives the same boxes.
* ``failure``: fails on purpose by the tile's mean colour (red: HTTP 500; green: malformed JSON; purple:
  features under a wrong key; blue: 408 after 5 s), otherwise one box ``[100, 100, 200, 200]`` of class
  ``test_object``. It exercises every failure path of the pipeline.

Parameters come from ``imageProcessorParameters``: ``CustomAttributes`` holds ``key=value`` pairs
separated by commas (OSML's form), e.g. ``"model_selection=flood,flood_volume=20"``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from tessera.errors import ModelError
from tessera.imagery import TileData

BBOX_PERCENTAGE = 0.1
DEFAULT_FLOOD_VOLUME = 100


class ModelFailure(ModelError):
    """A deliberate failure, with the HTTP answer a model server gives for it."""

    def __init__(self, message: str, status: int, body: bytes, delay_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.delay_seconds = delay_seconds


def custom_attributes(parameters: dict[str, Any] | None) -> dict[str, str]:
    """``key=value`` pairs of the ``CustomAttributes`` parameter (a bare word is ``model_selection``).

    Example:
        >>> custom_attributes({"CustomAttributes": "model_selection=flood, flood_volume=5"})
        {'model_selection': 'flood', 'flood_volume': '5'}
    """
    raw = str((parameters or {}).get("CustomAttributes", "") or "")
    pairs: dict[str, str] = {}
    for part in raw.split(","):
        key, sep, value = part.strip().partition("=")
        if key:
            pairs[key.strip() if sep else "model_selection"] = value.strip() if sep else key.strip()
    return pairs


def _feature(geometry: dict[str, Any], bbox: list[float], iri: str, score: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": None,
        "properties": {
            "imageGeometry": geometry,
            "imageBBox": bbox,
            "featureClasses": [{"iri": iri, "score": score}],
        },
    }


CENTERPOINT_METADATA = {"modelName": "centerpoint", "ontologyName": "centerpoint", "ontologyVersion": "1.0.0"}


def osml_center_polygon(width: int, height: int, fraction: float = BBOX_PERCENTAGE) -> list[list[float]]:
    """OSML's segmentation polygon: its 6-vertex circle, closing vertex repeated, with its exact arithmetic.

    Example:
        >>> osml_center_polygon(512, 512)[:2]
        [[281.6, 284.16], [279.383, 282.88]]
    """
    angles = [2 * math.pi / 6 * k + math.pi / 2 for k in range(7)]
    circle = [(fraction * math.cos(a), fraction * math.sin(a)) for a in angles]
    circle.append(circle[0])
    scale_x, scale_y = fraction * width, fraction * height
    return [
        [round((x + 1) / 2 * scale_x + width / 2, 4), round((y + 1) / 2 * scale_y + height / 2, 4)] for x, y in circle
    ]


class CenterPointDetector:
    """One detection per tile at its centre (OSML's ``centerpoint``).

    The box, class, score, ``modelMetadata`` and the optional segmentation polygon are OSML's. One
    difference: without segmentation OSML's ``imageGeometry`` is the point (0, 0), the tile's corner,
    which geolocates every detection to a tile corner; here it is the tile's centre, where the box is.
    """

    name = "centerpoint"

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        self.segmentation = custom_attributes(parameters).get("segmentation", "").lower() == "true"

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """The single centre detection of ``tile``."""
        _, height, width = tile.pixels.shape
        cx, cy = width / 2, height / 2
        dx, dy = BBOX_PERCENTAGE * width, BBOX_PERCENTAGE * height
        geometry: dict[str, Any] = {"type": "Point", "coordinates": [cx, cy]}
        if self.segmentation:
            geometry = {"type": "Polygon", "coordinates": [osml_center_polygon(width, height)]}
        feature = _feature(geometry, [cx - dx, cy - dy, cx + dx, cy + dy], "sample_object", 1.0)
        feature["properties"]["modelMetadata"] = dict(CENTERPOINT_METADATA)
        return [feature]


class FloodDetector:
    """Many random boxes per tile (OSML's ``flood``), for load and distillation tests."""

    name = "flood"

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        self.volume = int(custom_attributes(parameters).get("flood_volume", DEFAULT_FLOOD_VOLUME))

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """``volume`` boxes at random places in the tile."""
        _, height, width = tile.pixels.shape
        rng = random.Random(f"{tile.tile.row},{tile.tile.col}")
        features = []
        for _ in range(self.volume):
            w, h = rng.uniform(4, max(5.0, width / 8)), rng.uniform(4, max(5.0, height / 8))
            x, y = rng.uniform(0, max(0.0, width - w)), rng.uniform(0, max(0.0, height - h))
            box = [x, y, x + w, y + h]
            polygon = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
            features.append(_feature({"type": "Polygon", "coordinates": [polygon]}, box, "sample_object", rng.random()))
        return features


def dominant_colour(pixels: np.ndarray) -> str:
    """``red``, ``green``, ``blue``, ``purple`` or ``other`` from the mean of the first three bands."""
    if pixels.shape[0] < 3:
        return "other"
    r, g, b = (float(pixels[i].mean()) for i in range(3))
    if r > 150 and g < 100 and b < 100:
        return "red"
    if g > 150 and r < 100 and b < 100:
        return "green"
    if b > 150 and r < 100 and g < 100:
        return "blue"
    if r > 100 and b > 100 and g < 80:
        return "purple"
    return "other"


class FailureDetector:
    """Fails by colour (OSML's ``failure`` test model); one fixed detection otherwise."""

    name = "failure"

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        self.parameters = parameters or {}

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """Raise the failure the tile's colour asks for, or return one ``test_object``."""
        colour = dominant_colour(tile.pixels)
        where = tile.tile.region_key
        if colour == "red":
            raise ModelFailure(f"model failure answered 500 on red tile {where}", 500, b'{"error": "red tile"}')
        if colour == "green":
            raise ModelFailure(f"model failure returned malformed JSON on green tile {where}", 200, b'{"type": "Feat')
        if colour == "blue":
            raise ModelFailure(f"model failure timed out (408) on blue tile {where}", 408, b"", delay_seconds=5.0)
        if colour == "purple":
            return [{"type": "Feature", "geometry": None, "properties": {"invalid_key": [100, 100, 200, 200]}}]
        box = [100.0, 100.0, 200.0, 200.0]
        polygon = [[100.0, 100.0], [200.0, 100.0], [200.0, 200.0], [100.0, 200.0], [100.0, 100.0]]
        return [_feature({"type": "Polygon", "coordinates": [polygon]}, box, "test_object", 1.0)]


from tessera.inference.cfar import CFARDetector  # noqa: E402  (cfar reads custom_attributes from this module)
from tessera.inference.onnx import ONNXDetector  # noqa: E402

BUILTIN_MODELS: dict[
    str,
    type[CenterPointDetector] | type[FloodDetector] | type[FailureDetector] | type[CFARDetector] | type[ONNXDetector],
] = {
    "centerpoint": CenterPointDetector,
    "flood": FloodDetector,
    "failure": FailureDetector,
    "cfar": CFARDetector,
    "onnx": ONNXDetector,
}
