"""Read a window of a viewpoint's COG with rio-tiler, adjust its range and encode it.

Image tiles, crops and previews read in the image's own pixel grid (rio-tiler's ``ImageReader``);
map tiles read a TileMatrixSet tile through rio-tiler's ``Reader``, warping through the COG's
geotransform, RPCs or GCPs (GDAL's warper, with the DEM when one is configured).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import ImageReader, Reader
from rio_tiler.models import ImageData

from tessera.errors import ImageReadError, InvalidRequestError, TesseraError
from tessera.geo.sensor_models import sensor_model_for
from tessera.imagery.encoding import encode_tile
from tessera.imagery.reader import TileData
from tessera.tiles.formats import ImageFormat
from tessera.tiles.grid import SourceWindow, TileOutsideImageError
from tessera.tiles.ranges import Interval, input_ranges
from tessera.tiles.readers import gdal_env
from tessera.tiling import ImageRegion
from tessera.viewpoints.models import RangeAdjustment

#: Lambda's response limit is 6 MB of JSON; a binary body is base64-encoded (4/3) inside it.
MAX_BODY_BYTES = 6 * 1024 * 1024 * 3 // 4 - 16 * 1024
#: The most output pixels one response may ask for (refused before reading, with 413).
MAX_OUTPUT_PIXELS = 4096 * 4096
#: Resampling methods accepted for reduced-resolution reads.
RESAMPLING = ("nearest", "bilinear", "cubic", "average", "mode", "lanczos")


class ResponseTooLargeError(TesseraError):
    """The response would not fit in Lambda's 6 MB payload."""

    code = "ResponseTooLarge"


class NoGeoreferencingError(TesseraError):
    """Map tiles need a sensor model; the image has none (its pixels can still be served as image tiles)."""

    code = "NoGeoreferencing"


@dataclass(frozen=True)
class Rendered:
    """An encoded image and its media type (``body`` is None when a map tile falls outside the image)."""

    body: bytes | None
    media_type: str


@dataclass(frozen=True)
class Style:
    """How pixels become an image: format, bands, range adjustment and its per-request overrides."""

    image_format: ImageFormat
    range_adjustment: RangeAdjustment
    statistics: Mapping[str, Mapping[str, Any]]
    indexes: Sequence[int] | None = None
    rescale: list[Interval] | None = None
    resampling: str = "nearest"
    compression: str = "NONE"


def default_indexes(band_count: int, colorinterp: Sequence[str] = ()) -> list[int]:
    """Bands shown by default: the one band, or the first three that are not alpha.

    Example:
        >>> default_indexes(1), default_indexes(4, ["red", "green", "blue", "alpha"]), default_indexes(2)
        ([1], [1, 2, 3], [1])
    """
    bands = [i + 1 for i in range(band_count) if i >= len(colorinterp) or colorinterp[i] != "alpha"]
    return bands[:3] if len(bands) >= 3 else bands[:1]


def parse_indexes(text: str | None, band_count: int) -> list[int] | None:
    """``bidx=3,2,1`` (1-based band numbers).

    Raises:
        InvalidRequestError: for bands the image does not have.
    """
    if not text:
        return None
    try:
        indexes = [int(v) for v in text.split(",")]
    except ValueError:
        raise InvalidRequestError(f"bidx '{text}' must be band numbers separated by commas", "bidx") from None
    bad = [i for i in indexes if not 1 <= i <= band_count]
    if bad or len(indexes) not in (1, 3):
        raise InvalidRequestError(
            f"bidx '{text}' must name 1 or 3 bands between 1 and {band_count}", "bidx"
        )
    return indexes


def _check_size(window: SourceWindow) -> None:
    if window.out_width * window.out_height > MAX_OUTPUT_PIXELS:
        raise ResponseTooLargeError(
            f"{window.out_width} x {window.out_height} px is more than one response can carry "
            f"(at most {MAX_OUTPUT_PIXELS} pixels); ask for a smaller width/height or max_size"
        )
    if window.out_width > 4 * 4096 or window.out_height > 4 * 4096:
        raise ResponseTooLargeError("width and height must each be at most 16384 px")


def _adjust(img: ImageData, style: Style, indexes: Sequence[int], dtype: str) -> ImageData:
    # JPEG compression inside a GTiff or NITF holds 8 bits, as a JPEG file does
    target = ImageFormat.JPEG if style.compression == "JPEG" else style.image_format
    ranges = input_ranges(style.statistics, indexes, style.range_adjustment, dtype, target, style.rescale)
    if ranges is not None:
        img.array = img.array.astype(np.float64)
        img.rescale(in_range=ranges)
    return img


#: Compressions each format accepts, the first being its default (OSML: NITF J2K, GTiff LZW; ours deflate).
COMPRESSIONS = {
    ImageFormat.NITF: ("J2K", "NONE", "JPEG"),
    ImageFormat.GTIFF: ("DEFLATE", "NONE", "LZW", "JPEG"),
}


def parse_compression(text: str | None, image_format: ImageFormat) -> str:
    """The compression asked for, or the format's default; formats with their own coding take none.

    Raises:
        InvalidRequestError: for a compression the format cannot write.

    Example:
        >>> parse_compression(None, ImageFormat.NITF), parse_compression("lzw", ImageFormat.GTIFF)
        ('J2K', 'LZW')
    """
    accepted = COMPRESSIONS.get(image_format)
    if accepted is None:
        if text and text.upper() != "NONE":
            raise InvalidRequestError(
                f"compression '{text}' does not apply to {image_format.value}; it has its own coding", "compression"
            )
        return "NONE"
    if not text:
        return accepted[0]
    if text.upper() not in accepted:
        raise InvalidRequestError(
            f"compression '{text}' is not available for {image_format.value}; use one of {list(accepted)}",
            "compression",
        )
    return text.upper()


def _encode(img: ImageData, style: Style, corners: tuple[tuple[float, float], ...] | None = None) -> bytes:
    fmt = style.image_format
    if fmt is ImageFormat.NITF:
        valid = ~np.ma.getmaskarray(img.array).all(axis=0)
        tile = TileData(ImageRegion(0, 0, img.width, img.height), img.data, valid, corners)
        return encode_tile(tile, "NITF", style.compression)
    if fmt is ImageFormat.GTIFF:
        if style.compression == "JPEG":  # 8-bit, 1 or 3 bands, no alpha: as GDAL's JPEG-in-TIFF needs
            return img.render(img_format="GTiff", add_mask=False, compress="jpeg")
        compress = {"NONE": None, "DEFLATE": "deflate", "LZW": "lzw"}[style.compression]
        return img.render(img_format="GTiff", add_mask=True, **({"compress": compress} if compress else {}))
    if fmt is ImageFormat.JPEG:
        return img.render(img_format="JPEG", add_mask=False, quality=90)
    if fmt is ImageFormat.WEBP:
        return img.render(img_format="WEBP", add_mask=True, quality=90)
    return img.render(img_format="PNG", add_mask=True)


def _finish(body: bytes, fmt: ImageFormat) -> Rendered:
    if len(body) > MAX_BODY_BYTES:
        raise ResponseTooLargeError(
            f"the {fmt.value} image is {len(body) / 1e6:.1f} MB, above what a Lambda response can carry "
            f"({MAX_BODY_BYTES / 1e6:.1f} MB of binary); ask for a smaller width/height or max_size, or JPEG/WEBP"
        )
    return Rendered(body, fmt.media_type)


def _corners(
    reader: ImageReader, window: SourceWindow, size: tuple[int, int]
) -> tuple[tuple[float, float], ...] | None:
    """IGEOLO corners of a NITF tile of ``size`` output pixels through the COG's sensor model.

    The corners are the centres of the output's corner pixels, in source pixels: an edge tile padded to
    the full tile size reaches past the image by as much as it is padded.
    """
    model = sensor_model_for(reader.dataset)
    if model is None:
        return None
    scale_x, scale_y = window.width / window.out_width, window.height / window.out_height
    x0, y0 = window.col + 0.5 * scale_x, window.row + 0.5 * scale_y
    x1, y1 = window.col + (size[0] - 0.5) * scale_x, window.row + (size[1] - 0.5) * scale_y
    lons, lats = model.image_to_world(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
    return tuple((float(lon), float(lat)) for lon, lat in zip(lons, lats, strict=True))


def render_window(
    reader: ImageReader, window: SourceWindow, style: Style, *, tile_size: tuple[int, int] | None = None
) -> Rendered:
    """Pixels of ``window`` at its output size, padded (transparent) to ``tile_size`` for edge tiles."""
    _check_size(window)
    indexes = list(style.indexes or default_indexes(reader.dataset.count, _colorinterp(reader)))
    with gdal_env(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = reader.read(
                indexes=indexes,
                window=Window(window.col, window.row, window.width, window.height),
                width=window.out_width,
                height=window.out_height,
                resampling_method=style.resampling,  # type: ignore[arg-type]
            )
            size = tile_size or (window.out_width, window.out_height)
            corners = _corners(reader, window, size) if style.image_format is ImageFormat.NITF else None
        except RasterioError as err:
            raise ImageReadError(f"cannot read the viewpoint's image: {err}") from None
    dtype = str(reader.dataset.dtypes[0])
    if tile_size and (img.width, img.height) != tile_size:
        img = _pad(img, tile_size)
    img = _adjust(img, style, indexes, dtype)
    return _finish(_encode(img, style, corners), style.image_format)


def _colorinterp(reader: Reader) -> list[str]:
    return [c.name for c in reader.dataset.colorinterp]


def _pad(img: ImageData, size: tuple[int, int]) -> ImageData:
    """Place an edge tile's pixels in the upper-left of a full tile; the rest is masked (transparent)."""
    width, height = size
    data = np.zeros((img.count, height, width), dtype=img.array.dtype)
    mask = np.ones((img.count, height, width), dtype=bool)
    data[:, : img.height, : img.width] = img.array.data
    mask[:, : img.height, : img.width] = np.ma.getmaskarray(img.array)
    return ImageData(np.ma.MaskedArray(data, mask=mask), band_names=img.band_names)


def render_map_tile(
    probe: ImageReader,
    tms: Any,
    z: int,
    x: int,
    y: int,
    tile_size: int,
    style: Style,
    warp: Mapping[str, Any] | None = None,
) -> Rendered:
    """One TileMatrixSet tile (Web Mercator etc.), warped through the image's georeferencing.

    Returns a Rendered with ``body=None`` when the tile does not overlap the image (OGC: 204).

    Raises:
        NoGeoreferencingError: for an image without a geotransform, RPCs or GCPs.
    """
    if not 0 <= z <= tms.maxzoom or not (0 <= x < tms.matrix(z).matrixWidth and 0 <= y < tms.matrix(z).matrixHeight):
        raise TileOutsideImageError(f"tile {z}/{y}/{x} does not exist in {tms.id} (z from 0 to {tms.maxzoom})")
    dataset = probe.dataset
    georeferenced = dataset.crs is not None and not dataset.transform.is_identity
    if not georeferenced and dataset.rpcs is None and not dataset.gcps[0]:
        raise NoGeoreferencingError(
            "the image has no geotransform, RPCs or GCPs, so it has no map tiles; use its image tiles"
        )
    indexes = list(style.indexes or default_indexes(dataset.count, _colorinterp(probe)))
    with ExitStack() as stack, gdal_env(), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            # through the RPCs when there are (NITF with RPC00B also carries IGEOLO corners as GCPs)
            method = {"SRC_METHOD": "RPC", **dict(warp or {})} if dataset.rpcs is not None else {}
            source = dataset if georeferenced else stack.enter_context(
                WarpedVRT(dataset, crs=tms.rasterio_crs, **method)
            )
            reader = stack.enter_context(Reader(None, dataset=source, tms=tms))  # type: ignore[arg-type]
            if not reader.tile_exists(x, y, z):
                return Rendered(None, style.image_format.media_type)
            img = reader.tile(
                x, y, z, tilesize=tile_size, indexes=indexes, resampling_method=style.resampling  # type: ignore[arg-type]
            )
        except TileOutsideBounds:
            return Rendered(None, style.image_format.media_type)
        except RasterioError as err:
            raise ImageReadError(f"cannot read the viewpoint's image: {err}") from None
    if np.ma.getmaskarray(img.array).all():
        return Rendered(None, style.image_format.media_type)
    img = _adjust(img, style, indexes, str(dataset.dtypes[0]))
    return _finish(_encode(img, style), style.image_format)
