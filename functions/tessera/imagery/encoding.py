"""Encode a tile's pixels in the format and compression a model asked for (GTiff, NITF, PNG, JPEG)."""

from __future__ import annotations

import warnings

import numpy as np
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from tessera.imagery.reader import TileData

_DRIVERS = {"GTIFF": "GTiff", "NITF": "NITF", "PNG": "PNG", "JPEG": "JPEG"}
_NITF_IC = {"NONE": "NC", "JPEG": "C3", "J2K": "C8"}


def _dms(value: float, latitude: bool) -> str:
    """One IGEOLO coordinate in degrees, minutes, seconds: ``ddmmssN`` or ``dddmmssE``."""
    hemisphere = ("N" if value >= 0 else "S") if latitude else ("E" if value >= 0 else "W")
    seconds = round(abs(value) * 3600)
    degrees, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{degrees:0{2 if latitude else 3}d}{minutes:02d}{seconds:02d}{hemisphere}"


def igeolo(corners: tuple[tuple[float, float], ...]) -> str:
    """NITF's IGEOLO field (ICORDS=G) for four (longitude, latitude) corners: UL, UR, LR, LL.

    Example:
        >>> igeolo(((-78.5, 24.9), (-78.4, 24.9), (-78.4, 24.8), (-78.5, 24.8)))
        '245400N0783000W245400N0782400W244800N0782400W244800N0783000W'
    """
    return "".join(_dms(lat, True) + _dms(lon, False) for lon, lat in corners)


def _creation_options(tile: TileData, tile_format: str, compression: str) -> dict[str, str]:
    if tile_format == "GTIFF":
        return {} if compression == "NONE" else {"compress": compression.lower()}
    if tile_format == "NITF":
        options = {"IC": _NITF_IC[compression]}
        if tile.corners is not None:
            options.update(ICORDS="G", IGEOLO=igeolo(tile.corners))
        return options
    return {}


def band_counts(tile_format: str, compression: str) -> set[int] | None:
    """Band counts a tile format can carry (None: any). JPEG holds 1 or 3 bands, PNG 1 to 4.

    Example:
        >>> band_counts("JPEG", "NONE"), band_counts("GTIFF", "LZW")
        ({1, 3}, None)
    """
    if tile_format == "JPEG" or compression == "JPEG":
        return {1, 3}
    if tile_format == "PNG":
        return {1, 2, 3, 4}
    return None


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """Pixels scaled to uint8 for 8-bit-only formats, keeping the brightness order.

    Integers scale from their type's range (the same mapping for every tile of an image, so tiles stay
    comparable); floats from the tile's finite range.

    Example:
        >>> to_8bit(np.array([[[0, 32768, 65535]]], dtype=np.uint16)).tolist()
        [[[0, 128, 255]]]
    """
    if pixels.dtype == np.uint8:
        return pixels
    values = pixels.astype(np.float64)
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        low, high = float(info.min), float(info.max)
    else:
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = (np.nan_to_num(values, nan=low) - low) / max(high - low, 1e-12) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def encode_tile(tile: TileData, tile_format: str = "GTIFF", compression: str = "NONE") -> bytes:
    """The tile's pixels as an encoded image (models see pixels only).

    JPEG tiles (and JPEG-compressed GTiff/NITF) are 8-bit, scaled by :func:`to_8bit`; the other formats
    keep the pixel type. J2K cannot hold floating-point pixels, so such NITF tiles are written
    uncompressed, as OSML does. Compressed NITF goes through CreateCopy, as GDAL requires.

    Example:
        >>> from tessera.tiling import ImageRegion
        >>> tile = TileData(ImageRegion(0, 0, 8, 8), np.zeros((1, 8, 8), np.uint8), np.ones((8, 8), bool))
        >>> encode_tile(tile, "PNG")[:4]
        b'\\x89PNG'
    """
    driver = _DRIVERS[tile_format]
    pixels = tile.pixels
    eight_bit_only = driver == "JPEG" or compression == "JPEG"
    if eight_bit_only or (driver == "PNG" and pixels.dtype not in (np.uint8, np.uint16)):
        pixels = to_8bit(pixels)
    if compression == "J2K" and np.issubdtype(pixels.dtype, np.floating):
        compression = "NONE"
    bands, height, width = pixels.shape
    profile = {"width": width, "height": height, "count": bands, "dtype": pixels.dtype}
    options = _creation_options(tile, tile_format, compression)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if driver == "NITF" and options["IC"] != "NC":
            with MemoryFile() as source, MemoryFile() as target:
                with source.open(driver="GTiff", **profile) as dst:
                    dst.write(pixels)
                with source.open() as src:
                    rasterio.shutil.copy(src, target.name, driver="NITF", **options)
                return bytes(target.read())
        # rasterio buffers CreateCopy-only drivers (PNG, JPEG) in memory and copies on close.
        with MemoryFile() as memfile:
            with memfile.open(driver=driver, **profile, **options) as dst:
                dst.write(pixels)
            return bytes(memfile.read())
