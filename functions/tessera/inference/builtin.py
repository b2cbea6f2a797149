"""Models that run inside the region Lambda: no endpoint, no network."""

from __future__ import annotations

from typing import Any

from tessera.imagery import TileData

BBOX_PERCENTAGE = 0.1


class CenterPointDetector:
    """One detection per tile at its centre, like OSML's ``centerpoint`` test model.

    The box is the centre ± 10 % of the tile's width and height (a 512 tile gives
    ``[204.8, 204.8, 307.2, 307.2]``), class ``sample_object`` with score 1.0.
    """

    name = "centerpoint"

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """The single centre detection of ``tile``."""
        _, height, width = tile.pixels.shape
        cx, cy = width / 2, height / 2
        dx, dy = BBOX_PERCENTAGE * width, BBOX_PERCENTAGE * height
        return [
            {
                "type": "Feature",
                "geometry": None,
                "properties": {
                    "imageGeometry": {"type": "Point", "coordinates": [cx, cy]},
                    "imageBBox": [cx - dx, cy - dy, cx + dx, cy + dy],
                    "featureClasses": [{"iri": "sample_object", "score": 1.0}],
                },
            }
        ]


BUILTIN_MODELS: dict[str, type[CenterPointDetector]] = {"centerpoint": CenterPointDetector}
