"""Write a Cloud-Optimized GeoTIFF of an image in its own pixel grid: tiled, internal overviews, a mask.

Georeferenced images (a geotransform and a CRS, no RPCs or GCPs) go through rio-cogeo's
``cog_translate`` with ``add_mask``: nodata or alpha become an internal mask. rio-cogeo always reads
through a WarpedVRT, which resamples GCP images onto an approximate grid and cannot open RPC-only or
pixel-only images; those go through GDAL's COG driver instead, which copies pixels, RPCs, GCPs and
metadata unchanged, so tile pixels and detections' ``imageGeometry`` keep meaning the same pixels. Such
an image is first staged as a tiled GeoTIFF whose validity (nodata, alpha, or all valid) is an internal
mask, alpha dropped, as rio-cogeo's ``add_mask`` does, so both paths give the same kind of COG. Both are
checked with rio-cogeo's ``cog_validate``.
"""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.shutil
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from tessera.errors import ImageReadError
from tessera.viewpoints.statistics import blocks

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


def _staged_with_mask(dataset: DatasetReader, staged: Path) -> Path:
    """The image as a tiled GeoTIFF whose validity is an internal mask band (no nodata, no alpha band)."""
    bands = [i + 1 for i, c in enumerate(dataset.colorinterp) if c != ColorInterp.alpha] or [1]
    profile = {
        "driver": "GTiff",
        "width": dataset.width,
        "height": dataset.height,
        "count": len(bands),
        "dtype": dataset.dtypes[0],
        "tiled": True,
        "blockxsize": BLOCK_SIZE,
        "blockysize": BLOCK_SIZE,
        "BIGTIFF": "IF_SAFER",
    }
    if dataset.crs is not None and not dataset.transform.is_identity:
        profile.update(crs=dataset.crs, transform=dataset.transform)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(staged, "w", **profile) as out:
        if dataset.rpcs is not None:
            out.rpcs = dataset.rpcs
        gcps, gcp_crs = dataset.gcps
        if gcps:
            out.gcps = (gcps, gcp_crs)
        out.update_tags(**dataset.tags())
        out.colorinterp = [dataset.colorinterp[b - 1] for b in bands]
        for window in blocks(dataset, BLOCK_SIZE):
            out.write(dataset.read(bands, window=window), window=window)
            out.write_mask(dataset.dataset_mask(window=window), window=window)
    return staged


def write_cog(dataset: DatasetReader, path: Path) -> dict[str, Any]:
    """Write ``dataset`` as a COG at ``path``; return how it was written (method, overviews, validity).

    Raises:
        ImageReadError: when the image cannot be read or the result is not a valid COG.
    """
    try:
        with ExitStack() as stack, warnings.catch_warnings():
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
                source = stack.enter_context(rasterio.open(_staged_with_mask(dataset, path.with_suffix(".staged.tif"))))
                rasterio.shutil.copy(
                    source,
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
        # rasterio's read errors say "See previous exception": the GDAL reason is the cause
        reason = f"{err.__cause__}" if err.__cause__ and "previous exception" in str(err) else str(err)
        raise ImageReadError(f"cannot convert {dataset.name} to a Cloud-Optimized GeoTIFF: {reason}") from None
    finally:
        path.with_suffix(".staged.tif").unlink(missing_ok=True)
    valid, errors, _ = cog_validate(str(path), quiet=True)
    if not valid:
        raise ImageReadError(f"the Cloud-Optimized GeoTIFF written for {dataset.name} is not valid: {errors}")
    with rasterio.open(path) as cog:
        overviews = cog.overviews(1)
    return {"method": method, "overviews": overviews, "block_size": BLOCK_SIZE, "bytes": path.stat().st_size}
