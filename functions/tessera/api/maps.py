"""OGC API - Tiles documents for a viewpoint's map tiles: the tile matrix sets offered and their limits."""

from __future__ import annotations

import math
from typing import Any

import morecantile

from tessera.errors import InvalidRequestError

#: Tile matrix sets offered: OSML's two (WebMercatorQuad at 256 and 512 px) and WorldCRS84Quad.
TILE_MATRIX_SETS: dict[str, tuple[str, int]] = {
    "WebMercatorQuad": ("WebMercatorQuad", 256),
    "WebMercatorQuadx2": ("WebMercatorQuad", 512),
    "WorldCRS84Quad": ("WorldCRS84Quad", 256),
}
EARTH_METRES_PER_DEGREE = 111_320.0


def tile_matrix_set(name: str) -> tuple[morecantile.TileMatrixSet, int]:
    """The morecantile TileMatrixSet and tile size for an id.

    Raises:
        InvalidRequestError: for an id not offered.
    """
    if name not in TILE_MATRIX_SETS:
        raise InvalidRequestError(f"tile matrix set '{name}' is not offered; use one of {sorted(TILE_MATRIX_SETS)}")
    tms_id, size = TILE_MATRIX_SETS[name]
    return morecantile.tms.get(tms_id), size


def footprint_bounds(info: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """The lon/lat bounding box of the viewpoint's footprint (None when it has no georeferencing)."""
    geometry = info["features"][0].get("geometry")
    if not geometry:
        return None
    ring = geometry["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return min(lons), min(lats), max(lons), max(lats)


def zoom_range(bounds: tuple[float, float, float, float], width: int, height: int, name: str) -> tuple[int, int]:
    """Zooms from the one where the image spans about one tile to the one matching its resolution."""
    tms, size = tile_matrix_set(name)
    west, south, east, north = bounds
    mid_lat = math.radians((south + north) / 2)
    span_m = max((east - west) * EARTH_METRES_PER_DEGREE * math.cos(mid_lat), (north - south) * EARTH_METRES_PER_DEGREE)
    gsd = span_m / max(width, height)
    if tms.id == "WorldCRS84Quad":
        gsd /= EARTH_METRES_PER_DEGREE  # its resolutions are in degrees
    # WebMercatorQuadx2: 512 px tiles are one zoom finer than 256 px tiles of the same matrix
    max_z = max(0, tms.zoom_for_res(gsd * size / 256, max_z=24))
    min_z = max(0, max_z - max(0, math.ceil(math.log2(max(width, height) / size))))
    return min_z, max_z


def tile_set_list(base: str) -> dict[str, Any]:
    """The TileSetList: one entry per tile matrix set, with its link."""
    return {
        "tilesets": [
            {
                "title": f"{name} ({size} px tiles)",
                "tileMatrixSetURI": morecantile.tms.get(tms_id).uri,
                "dataType": "map",
                "crs": str(morecantile.tms.get(tms_id).crs),
                "links": [{"href": f"{base}/{name}", "rel": "self", "type": "application/json"}],
            }
            for name, (tms_id, size) in TILE_MATRIX_SETS.items()
        ]
    }


def tile_set(
    name: str, bounds: tuple[float, float, float, float], width: int, height: int, base: str
) -> dict[str, Any]:
    """The TileSetMetadata of one tile matrix set: the tile limits per zoom, bbox and centre."""
    tms, size = tile_matrix_set(name)
    min_z, max_z = zoom_range(bounds, width, height, name)
    west, south, east, north = bounds
    limits = []
    for z in range(min_z, max_z + 1):
        upper_left, lower_right = tms.tile(west, north, z), tms.tile(east, south, z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": upper_left.y,
                "maxTileRow": lower_right.y,
                "minTileCol": upper_left.x,
                "maxTileCol": lower_right.x,
            }
        )
    return {
        "title": f"{name} ({size} px tiles)",
        "tileMatrixSetURI": tms.uri,
        "dataType": "map",
        "crs": str(tms.crs),
        "tileMatrixSetLimits": limits,
        "boundingBox": {"lowerLeft": [west, south], "upperRight": [east, north], "crs": "OGC:CRS84"},
        "centerPoint": {"coordinates": [(west + east) / 2, (south + north) / 2], "tileMatrix": str(max_z)},
        "links": [
            {
                "href": f"{base}/{name}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}.png",
                "rel": "item",
                "type": "image/png",
                "templated": True,
            }
        ],
    }
