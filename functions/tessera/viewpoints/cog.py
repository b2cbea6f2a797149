"""Write a Cloud-Optimized GeoTIFF of an image in its own pixel grid: tiled, internal overviews, a mask.

Georeferenced images (a geotransform and a CRS, no RPCs or GCPs) go through rio-cogeo's
``cog_translate`` with ``add_mask``: nodata or alpha become an internal mask. rio-cogeo always reads
through a WarpedVRT, which resamples GCP images onto an approximate grid and cannot open RPC-only or
pixel-only images; those go through GDAL's COG driver instead, which copies pixels, RPCs, GCPs and
metadata unchanged, so tile pixels and detections' ``imageGeometry`` keep meaning the same pixels.
Both paths are checked with rio-cogeo's ``cog_validate``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from tessera.errors import ImageReadError

#: COG block size (and rio-tiler's default read unit).
BLOCK_SIZE = 512
#: Overviews average pixels (OSML builds them with CUBIC; AVERAGE keeps radiometry without ringing).
OVERVIEW_RESAMPLING = "average"


def uses_rio_cogeo(dataset: DatasetReader) -> bool:
    """True for images rio-cogeo translates without changing their pixel grid."""
    return dataset.crs is not None and not dataset.transform.is_identity and dataset.rpcs is None


def _predictor(dtype: str) -> int:
    """TIFF predictor: horizontal differencing for integers, floating-point predictor for floats."""
    return 3 if np.issubdtype(np.dtype(dtype), np.floating) else 2


def write_cog(dataset: DatasetReader, path: Path) -> dict[str, Any]:
    """Write ``dataset`` as a COG at ``path``; return how it was written (method, overviews, validity).

    Raises:
        ImageReadError: when the image cannot be read or the result is not a valid COG.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            if uses_rio_cogeo(dataset):
                profile = cog_profiles.get("deflate")
                profile.update(
                    blockxsize=BLOCK_SIZE,
                    blockysize=BLOCK_SIZE,
                    predictor=_predictor(dataset.dtypes[0]),
                    BIGTIFF="IF_SAFER",
                )
                cog_translate(
                    dataset,
                    str(path),
                    profile,
                    add_mask=True,
                    overview_resampling=OVERVIEW_RESAMPLING,
                    in_memory=False,
                    quiet=True,
                    config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": True},
                )
                method = "rio-cogeo"
            else:
                rasterio.shutil.copy(
                    dataset,
                    str(path),
                    driver="COG",
                    COMPRESS="DEFLATE",
                    PREDICTOR="YES",
                    BLOCKSIZE=BLOCK_SIZE,
                    OVERVIEW_RESAMPLING=OVERVIEW_RESAMPLING.upper(),
                    BIGTIFF="IF_SAFER",
                    NUM_THREADS="ALL_CPUS",
                )
                method = "gdal-cog"
    except (RasterioError, ValueError, OSError) as err:
        raise ImageReadError(f"cannot convert {dataset.name} to a Cloud-Optimized GeoTIFF: {err}") from None
    valid, errors, _ = cog_validate(str(path), quiet=True)
    if not valid:
        raise ImageReadError(f"the Cloud-Optimized GeoTIFF written for {dataset.name} is not valid: {errors}")
    with rasterio.open(path) as cog:
        overviews = cog.overviews(1)
    return {"method": method, "overviews": overviews, "block_size": BLOCK_SIZE, "bytes": path.stat().st_size}
