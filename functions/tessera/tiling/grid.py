"""OSML's variable-overlap tiling strategy as pure functions, with OSML's exact arithmetic.

OSML cuts only full-size tiles. Per axis it enlarges the requested overlap until a whole number of tiles
spans the length, groups tiles into regions of a whole number of tile strides plus the overlap, and
overlaps regions by the adjusted overlap. With length ``D``, tile ``T``, requested overlap ``o`` and
requested region size ``R``::

    n  = ceil((D - o) / (T - o))                       # tiles needed
    o' = o + ceil((o + n (T - o) - D) / (n - 1))       # adjusted overlap (o' = o when n == 1)
    R' = floor((R - o') / (T - o')) (T - o') + o'      # adjusted region size

Because ``o'`` is rounded up, the last full tile may end up to ``n - 2`` pixels short of the edge; those
pixels are not processed, exactly as in OSML, so that tile grids are identical for images of the same
size. The tiles of a region are cut with the overlap re-adjusted to the region's own size, again as OSML
does. Where OSML would cut nothing at all (an image or strip no wider than the overlap), Tessera cuts it
with the overlap reduced below the strip's width, so every pixel is still processed. Coordinates follow
OSML: a region or tile is ``((row, col), (width, height))``.
"""

from __future__ import annotations

import math
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


Size = tuple[int, int]


def adjusted_overlap(length: int, tile: int, overlap: int) -> int:
    """Overlap along one axis that lets only full tiles span ``length``.

    Example:
        >>> adjusted_overlap(25000, 4096, 100), adjusted_overlap(12000, 4096, 100)
        (612, 144)
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, {tile})")
    stride = tile - overlap
    count = -(-(length - overlap) // stride)
    if count <= 1:
        return overlap
    return overlap + math.ceil((overlap + count * stride - length) / (count - 1))


def adjusted_region_size(region: int, tile: int, overlap: int) -> int:
    """Region size along one axis: a whole number of tile strides plus the overlap.

    Example:
        >>> adjusted_region_size(10000, 4096, 612), adjusted_region_size(10000, 4096, 144)
        (7580, 8048)
    """
    if overlap >= tile:
        raise ValueError(f"overlap {overlap} must be smaller than the tile size {tile}")
    stride = tile - overlap
    return math.floor((region - overlap) / stride) * stride + overlap


def crops(area: ImageRegion, size: Size, overlap: Size, *, only_full: bool = False) -> list[ImageRegion]:
    """Windows of ``size`` every ``size - overlap`` from the area's upper-left corner (row-major).

    Windows are clipped to the area. With ``only_full`` only unclipped windows are kept; otherwise a
    clipped window is kept when it is wider and taller than the overlap.
    """
    if overlap[0] >= size[0] or overlap[1] >= size[1]:
        raise ValueError(f"overlap {overlap} must be smaller than the window {size}")
    stride_x, stride_y = size[0] - overlap[0], size[1] - overlap[1]
    count_x, count_y = -(-area.width // stride_x), -(-area.height // stride_y)
    end_col, end_row = area.col + area.width, area.row + area.height
    windows = []
    for r in range(count_y):
        for c in range(count_x):
            col, row = area.col + c * stride_x, area.row + r * stride_y
            width, height = min(size[0], end_col - col), min(size[1], end_row - row)
            if (only_full and (width, height) == size) or (
                not only_full and width > overlap[0] and height > overlap[1]
            ):
                windows.append(ImageRegion(row, col, width, height))
    return windows


def _clamped(area: ImageRegion, overlap: Size) -> Size:
    """The overlap, made smaller than the area on each axis (OSML's rule cuts nothing otherwise)."""
    return min(overlap[0], max(area.width - 1, 0)), min(overlap[1], max(area.height - 1, 0))


def _adjusted(area: ImageRegion, tile_size: Size, tile_overlap: Size) -> Size:
    return (
        adjusted_overlap(area.width, tile_size[0], tile_overlap[0]),
        adjusted_overlap(area.height, tile_size[1], tile_overlap[1]),
    )


def generate_regions(bounds: ImageRegion, region_size: Size, tile_size: Size, tile_overlap: Size) -> list[ImageRegion]:
    """Split processing bounds into regions (row-major), as OSML's VariableOverlapTilingStrategy does.

    Args:
        bounds: processing bounds in image pixels (the whole image, or the region of interest).
        region_size: requested ``(width, height)`` of a region.
        tile_size: ``(width, height)`` of a tile.
        tile_overlap: requested ``(x, y)`` overlap between tiles.

    Example:
        >>> regions = generate_regions(ImageRegion(0, 0, 25000, 12000), (10000, 10000), (4096, 4096), (100, 100))
        >>> len(regions), regions[0]
        (8, ImageRegion(row=0, col=0, width=7580, height=8048))
        >>> regions[-1]
        ImageRegion(row=7904, col=20904, width=4096, height=4096)
    """
    overlap = _adjusted(bounds, tile_size, tile_overlap)
    full_tiles = crops(bounds, tile_size, overlap, only_full=True)
    if full_tiles:
        last = full_tiles[-1]
        bounds = ImageRegion(
            bounds.row, bounds.col, last.col + last.width - bounds.col, last.row + last.height - bounds.row
        )
    size = (
        adjusted_region_size(region_size[0], tile_size[0], overlap[0]),
        adjusted_region_size(region_size[1], tile_size[1], overlap[1]),
    )
    return crops(bounds, size, overlap) or crops(bounds, size, _clamped(bounds, overlap))


def generate_tiles(region: ImageRegion, tile_size: Size, tile_overlap: Size) -> list[ImageRegion]:
    """Tiles of one region (row-major): full tiles, or clipped ones when no full tile fits.

    ``tile_overlap`` is the *requested* overlap; it is re-adjusted to the region's size, as OSML does.

    Example:
        >>> len(generate_tiles(ImageRegion(0, 0, 7580, 8048), (4096, 4096), (100, 100)))
        4
    """
    overlap = _adjusted(region, tile_size, tile_overlap)
    return (
        crops(region, tile_size, overlap, only_full=True)
        or crops(region, tile_size, overlap)
        or crops(region, tile_size, _clamped(region, overlap))
    )
