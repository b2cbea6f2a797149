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


def _creation_options(tile_format: str, compression: str) -> dict[str, str]:
    if tile_format == "GTIFF":
        return {} if compression == "NONE" else {"compress": compression.lower()}
    if tile_format == "NITF":
        return {"IC": _NITF_IC[compression]}
    return {}


def encode_tile(tile: TileData, tile_format: str = "GTIFF", compression: str = "NONE") -> bytes:
    """The tile's pixels as an encoded image (models see pixels only).

    JPEG tiles are 8-bit; other types are cast. Compressed NITF goes through CreateCopy, as GDAL requires.

    Example:
        >>> from tessera.tiling import ImageRegion
        >>> tile = TileData(ImageRegion(0, 0, 8, 8), np.zeros((1, 8, 8), np.uint8), np.ones((8, 8), bool))
        >>> encode_tile(tile, "PNG")[:4]
        b'\\x89PNG'
    """
    driver = _DRIVERS[tile_format]
    pixels = tile.pixels if driver != "JPEG" else tile.pixels.astype(np.uint8, copy=False)
    bands, height, width = pixels.shape
    profile = {"width": width, "height": height, "count": bands, "dtype": pixels.dtype}
    options = _creation_options(tile_format, compression)
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
