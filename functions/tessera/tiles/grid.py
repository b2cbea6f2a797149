"""OSML's image tile grid: z=0 is full resolution and tile (z, x, y) covers ``2**z * tile_size`` source pixels.

Unlike the original, a tile outside the image is refused (404) instead of read as padding, and the
deepest useful zoom is published: at ``max_zoom`` one tile covers the whole image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tessera.errors import InvalidRequestError, TesseraError


class TileOutsideImageError(TesseraError):
    """The requested tile does not overlap the image."""

    code = "TileOutsideImage"


@dataclass(frozen=True)
class SourceWindow:
    """A window of source pixels (``col``, ``row``, ``width``, ``height``) and the output size it is read at."""

    col: int
    row: int
    width: int
    height: int
    out_width: int
    out_height: int


def max_zoom(width: int, height: int, tile_size: int) -> int:
    """The smallest z at which one tile covers the whole image.

    Example:
        >>> max_zoom(10000, 6000, 512), max_zoom(512, 512, 512), max_zoom(100, 50, 512)
        (5, 0, 0)
    """
    return max(0, math.ceil(math.log2(max(width, height) / tile_size)))


def image_tile(width: int, height: int, tile_size: int, z: int, x: int, y: int) -> tuple[SourceWindow, int]:
    """The part of the image that tile (z, x, y) shows, and the tile's full output size.

    The window is clipped to the image; its output size keeps the tile's scale, so an edge tile is the
    clipped part of a full tile (the caller pads it to ``tile_size`` with transparent pixels).

    Raises:
        TileOutsideImageError: for a tile beyond the image or a z above :func:`max_zoom`.
        InvalidRequestError: for negative indexes.

    Example:
        >>> image_tile(1000, 700, 512, 0, 1, 1)
        (SourceWindow(col=512, row=512, width=488, height=188, out_width=488, out_height=188), 512)
        >>> image_tile(1000, 700, 512, 1, 0, 0)[0]
        SourceWindow(col=0, row=0, width=1000, height=700, out_width=500, out_height=350)
    """
    if min(z, x, y) < 0:
        raise InvalidRequestError(f"tile {z}/{x}/{y}: z, x and y must not be negative", "tile")
    top = max_zoom(width, height, tile_size)
    if z > top:
        raise TileOutsideImageError(
            f"tile {z}/{x}/{y} is outside the image ({width} x {height} px, tile size {tile_size}): "
            f"z goes from 0 (full resolution) to {top}"
        )
    span = tile_size * 2**z
    col, row = x * span, y * span
    if col >= width or row >= height:
        raise TileOutsideImageError(
            f"tile {z}/{x}/{y} is outside the image ({width} x {height} px, tile size {tile_size}): "
            f"z goes from 0 (full resolution) to {top}, and at z={z} x < {math.ceil(width / span)} "
            f"and y < {math.ceil(height / span)}"
        )
    clipped_w, clipped_h = min(span, width - col), min(span, height - row)
    scale = tile_size / span
    return (
        SourceWindow(
            col, row, clipped_w, clipped_h, max(1, round(clipped_w * scale)), max(1, round(clipped_h * scale))
        ),
        tile_size,
    )


def crop_window(
    width: int, height: int, bounds: tuple[int, int, int, int], out_width: int | None, out_height: int | None
) -> SourceWindow:
    """A crop of pixel bounds ``(min_x, min_y, max_x, max_y)``, read at the given output size (or 1:1).

    A missing output dimension keeps the crop's aspect ratio.

    Raises:
        InvalidRequestError: for empty bounds or bounds outside the image.

    Example:
        >>> crop_window(1000, 700, (100, 100, 300, 200), 100, None)
        SourceWindow(col=100, row=100, width=200, height=100, out_width=100, out_height=50)
    """
    min_x, min_y, max_x, max_y = bounds
    if not (0 <= min_x < max_x and 0 <= min_y < max_y):
        raise InvalidRequestError(f"crop bounds {bounds} are empty or negative; use min_x,min_y,max_x,max_y", "crop")
    if min_x >= width or min_y >= height:
        raise InvalidRequestError(f"crop bounds {bounds} are outside the image ({width} x {height} px)", "crop")
    max_x, max_y = min(max_x, width), min(max_y, height)
    w, h = max_x - min_x, max_y - min_y
    return SourceWindow(min_x, min_y, w, h, *output_size(w, h, out_width, out_height))


def output_size(width: int, height: int, out_width: int | None, out_height: int | None) -> tuple[int, int]:
    """The output size for a ``width`` x ``height`` read, keeping the aspect ratio where one side is given.

    Example:
        >>> output_size(2000, 1000, None, 100), output_size(2000, 1000, None, None)
        ((200, 100), (2000, 1000))
    """
    if out_width and out_height:
        return out_width, out_height
    if out_width:
        return out_width, max(1, round(height * out_width / width))
    if out_height:
        return max(1, round(width * out_height / height)), out_height
    return width, height


def preview_window(
    width: int, height: int, max_size: int, out_width: int | None, out_height: int | None
) -> SourceWindow:
    """The whole image at most ``max_size`` on its longer side (unless width or height is given).

    Example:
        >>> preview_window(4000, 2000, 1024, None, None)
        SourceWindow(col=0, row=0, width=4000, height=2000, out_width=1024, out_height=512)
    """
    if not (out_width or out_height):
        scale = min(1.0, max_size / max(width, height))
        out_width, out_height = max(1, round(width * scale)), max(1, round(height * scale))
    return SourceWindow(0, 0, width, height, *output_size(width, height, out_width, out_height))
