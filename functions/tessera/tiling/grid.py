"""OSML's variable-overlap tiling strategy as pure functions.

OSML cuts only full-size tiles: per axis it enlarges the requested overlap until a whole number of
tiles spans the processing bounds exactly, then groups tiles into regions whose size is a whole number
of tile strides plus the overlap. Regions overlap by the adjusted overlap, so the tiles of all regions
together form one grid with no tile repeated. For an axis shorter than a tile, the single tile is the
whole axis (the only case that yields a partial tile).

Per axis, with processing length ``D``, tile ``T``, requested overlap ``o`` and region size ``R``::

    n  = ceil((D - o) / (T - o))                       # tiles needed
    o' = o + ceil((o + n (T - o) - D) / (n - 1))       # overlap that makes n full tiles end at D
    R' = floor((R - o') / (T - o')) (T - o') + o'      # region: whole strides plus the overlap

Coordinates follow OSML: a region or tile is ``((row, col), (width, height))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple


class ImageRegion(NamedTuple):
    """A pixel rectangle: upper-left ``row``/``col`` and ``width``/``height`` (OSML's ImageRegion)."""

    row: int
    col: int
    width: int
    height: int

    @classmethod
    def from_osml(cls, bounds: tuple[tuple[int, int], tuple[int, int]] | list[list[int]]) -> ImageRegion:
        """Build from OSML's nested form ``((row, col), (width, height))``."""
        (row, col), (width, height) = bounds
        return cls(int(row), int(col), int(width), int(height))

    def to_osml(self) -> list[list[int]]:
        """OSML's nested form, as stored in the region table: ``[[row, col], [width, height]]``."""
        return [[self.row, self.col], [self.width, self.height]]

    @property
    def region_key(self) -> str:
        """OSML's textual form ``(row, col)(width, height)``, the prefix of a region id."""
        return f"({self.row}, {self.col})({self.width}, {self.height})"


def adjusted_overlap(length: int, tile: int, overlap: int) -> int:
    """Overlap along one axis that makes only full tiles fit exactly.

    Example:
        >>> adjusted_overlap(25000, 4096, 100), adjusted_overlap(12000, 4096, 100)
        (612, 144)
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, {tile})")
    if length <= tile:
        return overlap
    count = math.ceil((length - overlap) / (tile - overlap))
    if count <= 1:
        return overlap
    excess = overlap + count * (tile - overlap) - length
    return overlap + math.ceil(excess / (count - 1))


def adjusted_region_size(region: int, tile: int, overlap: int) -> int:
    """Region size along one axis: a whole number of tile strides plus the overlap (at least one tile).

    Example:
        >>> adjusted_region_size(10000, 4096, 612), adjusted_region_size(10000, 4096, 144)
        (7580, 8048)
    """
    stride = tile - overlap
    strides = max(1, (region - overlap) // stride)
    return strides * stride + overlap


def _axis_starts(start: int, length: int, size: int, overlap: int) -> list[int]:
    """Starts of windows of ``size`` that advance by ``size - overlap`` and still hold more than the overlap.

    The last window may run past the end; callers clip it (regions) or it ends exactly there (tiles,
    whose overlap was adjusted for that).
    """
    if length <= size:
        return [start]
    return list(range(start, start + length - overlap, size - overlap))


def generate_regions(
    bounds: ImageRegion, region_size: tuple[int, int], tile_size: tuple[int, int], tile_overlap: tuple[int, int]
) -> list[ImageRegion]:
    """Split processing bounds into regions (row-major), as OSML's VariableOverlapTilingStrategy does.

    Args:
        bounds: processing bounds in image pixels (the whole image, or the region of interest).
        region_size: requested ``(width, height)`` of a region.
        tile_size: ``(width, height)`` of a tile.
        tile_overlap: requested ``(x, y)`` overlap between tiles.

    Example:
        >>> regions = generate_regions(ImageRegion(0, 0, 25000, 12000), (10000, 10000), (4096, 4096), (100, 100))
        >>> len(regions), regions[0], regions[-1]
        (8, ImageRegion(row=0, col=0, width=7580, height=8048), ImageRegion(row=7904, col=20904, width=4096, height=4096))
    """
    ox = adjusted_overlap(bounds.width, tile_size[0], tile_overlap[0])
    oy = adjusted_overlap(bounds.height, tile_size[1], tile_overlap[1])
    rw = adjusted_region_size(region_size[0], tile_size[0], ox)
    rh = adjusted_region_size(region_size[1], tile_size[1], oy)
    rows = _axis_starts(bounds.row, bounds.height, rh, oy)
    cols = _axis_starts(bounds.col, bounds.width, rw, ox)
    end_row, end_col = bounds.row + bounds.height, bounds.col + bounds.width
    return [
        ImageRegion(row, col, min(rw, end_col - col), min(rh, end_row - row)) for row in rows for col in cols
    ]


def generate_tiles(
    region: ImageRegion, bounds: ImageRegion, tile_size: tuple[int, int], tile_overlap: tuple[int, int]
) -> Iterator[ImageRegion]:
    """Tiles of one region (row-major), on the grid that the whole processing bounds define.

    The overlap is adjusted against the processing ``bounds`` (not the region), so that every region's
    tiles fall on the same global grid and the tiles of overlapping regions are never cut twice.

    Example:
        >>> bounds = ImageRegion(0, 0, 25000, 12000)
        >>> len(list(generate_tiles(ImageRegion(0, 0, 7580, 8048), bounds, (4096, 4096), (100, 100))))
        4
    """
    ox = adjusted_overlap(bounds.width, tile_size[0], tile_overlap[0])
    oy = adjusted_overlap(bounds.height, tile_size[1], tile_overlap[1])
    tw, th = min(tile_size[0], bounds.width), min(tile_size[1], bounds.height)
    for row in _axis_starts(region.row, region.height, th, min(oy, th - 1)):
        for col in _axis_starts(region.col, region.width, tw, min(ox, tw - 1)):
            yield ImageRegion(row, col, tw, th)
