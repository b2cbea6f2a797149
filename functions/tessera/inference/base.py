"""The contract every model satisfies inside Tessera."""

from __future__ import annotations

from typing import Any, Protocol

from tessera.imagery import TileData


class Detector(Protocol):
    """Runs a model on one tile.

    ``detect`` returns features in OSML's model contract: GeoJSON features whose ``properties`` hold
    ``imageGeometry`` / ``imageBBox`` in *tile* pixel coordinates and ``featureClasses``. Raising
    :class:`~tessera.errors.ModelError` fails that tile only.
    """

    name: str

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """Features found in ``tile``."""
        ...
