"""Open an image and read tiles from it.

``open_image`` accepts ``s3://bucket/key`` (read through GDAL's /vsis3) and local paths. A tile is read as
a masked array in its native type; a tile whose pixels are all nodata (or masked) is flagged so that it is
never sent to a model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from tessera.errors import ImageReadError
from tessera.imagery.gdal_env import GDAL_S3_OPTIONS
from tessera.tiling import ImageRegion


def gdal_path(url: str) -> str:
    """Translate an image URL to the path GDAL opens: ``s3://b/k`` → ``/vsis3/b/k``."""
    if url.startswith("s3://"):
        return "/vsis3/" + url.removeprefix("s3://")
    return url


@contextlib.contextmanager
def open_image(url: str, **env_options: str) -> Iterator[DatasetReader]:
    """Open an image for reading inside a GDAL environment tuned for S3.

    Raises:
        ImageReadError: when GDAL cannot open the image, with GDAL's reason.
    """
    path = gdal_path(url)
    # GDAL's process-wide /vsis3 cache outlives an invocation in a warm Lambda: without this, an object
    # replaced under the same key would be read as it was.
    fresh = {"CPL_VSIL_CURL_NON_CACHED": path} if path.startswith("/vsis3/") else {}
    with rasterio.Env(**GDAL_S3_OPTIONS, **fresh, **env_options):
        try:
            dataset = rasterio.open(path)
        except RasterioIOError as err:
            raise ImageReadError(f"cannot open image {url}: {err}", image_url=url) from None
        with dataset:
            yield dataset


@dataclass(frozen=True)
class ImageInfo:
    """What the pipeline records about an image."""

    width: int
    height: int
    band_count: int
    dtype: str
    driver: str
    crs: str | None
    has_rpc: bool
    nodata: float | None


def image_info(dataset: DatasetReader) -> ImageInfo:
    """Summarize an open dataset."""
    return ImageInfo(
        width=dataset.width,
        height=dataset.height,
        band_count=dataset.count,
        dtype=str(dataset.dtypes[0]),
        driver=dataset.driver,
        crs=dataset.crs.to_string() if dataset.crs else None,
        has_rpc=dataset.rpcs is not None,
        nodata=dataset.nodata,
    )


@dataclass(frozen=True)
class TileData:
    """Pixels of one tile, shaped ``(bands, rows, cols)``, with its validity mask.

    ``corners`` locate the centres of the tile's upper-left, upper-right, lower-right and lower-left
    pixels as (longitude, latitude), when known; NITF tiles carry them in their header (IGEOLO).
    """

    tile: ImageRegion
    pixels: npt.NDArray[np.generic]
    valid: npt.NDArray[np.bool_]
    corners: tuple[tuple[float, float], ...] | None = None

    @property
    def is_empty(self) -> bool:
        """True when no pixel of the tile holds data (all nodata or masked)."""
        return not bool(self.valid.any())


def read_tile(dataset: DatasetReader, tile: ImageRegion) -> TileData:
    """Read one tile's pixels and the dataset mask for the same window."""
    window = Window(tile.col, tile.row, tile.width, tile.height)
    try:
        pixels = dataset.read(window=window)
        mask = dataset.dataset_mask(window=window)
    except RasterioIOError as err:
        raise ImageReadError(f"cannot read tile {tile.region_key} of {dataset.name}: {err}") from None
    valid = mask > 0
    if np.issubdtype(pixels.dtype, np.floating):
        valid &= ~np.isnan(pixels).all(axis=0)
    return TileData(tile=tile, pixels=pixels, valid=valid)
