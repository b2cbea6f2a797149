"""Ingest: validate an image, write its COG, compute statistics and describe it (pure: paths in, files out).

The caller (the ingest handler) supplies the source as a GDAL path and a work folder, and uploads what
this returns. Each stage is timed so that the viewpoint can record where the time went.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader

from tessera.errors import ImageReadError
from tessera.geo.sensor_models import AffineSensorModel, GCPSensorModel, RPCSensorModel, sensor_model_for
from tessera.imagery.gdal_env import GDAL_S3_OPTIONS
from tessera.viewpoints.cog import write_cog
from tessera.viewpoints.statistics import band_statistics

#: Points per image edge in the footprint (RPC footprints are not straight lines in lon/lat).
FOOTPRINT_POINTS_PER_EDGE = 16
#: GDAL retries S3 reads that fail transiently (HTTP 429, 502, 503, 504) with a growing delay.
#: A read that makes no progress fails after GDAL_HTTP_TIMEOUT seconds instead of hanging the ingest.
READ_RETRIES = {
    "GDAL_HTTP_MAX_RETRY": 5,
    "GDAL_HTTP_RETRY_DELAY": 1,
    "GDAL_HTTP_TIMEOUT": 60,
    "GDAL_HTTP_CONNECTTIMEOUT": 10,
}
#: Pixel types a viewer can show; complex SAR data must be detected (amplitude) first.
SUPPORTED_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"}


@dataclass
class Ingested:
    """What ingest produced: the COG on disk and the JSON documents served next to it."""

    cog: Path
    documents: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    image: dict[str, Any] = field(default_factory=dict)


def _sensor_model_name(model: object) -> str | None:
    return {AffineSensorModel: "AFFINE", RPCSensorModel: "RPC", GCPSensorModel: "GCP"}.get(type(model))


def validate(dataset: DatasetReader) -> None:
    """Refuse images a viewer cannot show, with the reason.

    Raises:
        ImageReadError: for an empty image or an unsupported pixel type.
    """
    if dataset.width < 1 or dataset.height < 1 or dataset.count < 1:
        raise ImageReadError(f"{dataset.name} has no pixels ({dataset.width} x {dataset.height} x {dataset.count})")
    unsupported = sorted(set(dataset.dtypes) - SUPPORTED_DTYPES)
    if unsupported:
        raise ImageReadError(
            f"{dataset.name} has pixels of type {', '.join(unsupported)}, which cannot be displayed; "
            "convert complex data to amplitude first"
        )


def perimeter(width: int, height: int, per_edge: int = FOOTPRINT_POINTS_PER_EDGE) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates around the image's outer edge, clockwise from the upper-left corner, closed.

    Example:
        >>> xs, ys = perimeter(10, 20, per_edge=1)
        >>> list(zip(xs.tolist(), ys.tolist()))
        [(0.0, 0.0), (10.0, 0.0), (10.0, 20.0), (0.0, 20.0), (0.0, 0.0)]
    """
    steps = np.linspace(0.0, 1.0, per_edge + 1)[:-1]
    xs = np.concatenate([steps * width, np.full_like(steps, width), (1 - steps) * width, np.zeros_like(steps)])
    ys = np.concatenate([np.zeros_like(steps), steps * height, np.full_like(steps, height), (1 - steps) * height])
    return np.append(xs, xs[0]), np.append(ys, ys[0])


def footprint(dataset: DatasetReader, name: str, elevation: dict[str, Any]) -> dict[str, Any]:
    """OSML's ``info``: a FeatureCollection with the image footprint through its sensor model (RPC included).

    An image without a sensor model gets a null geometry and ``sensor_model: null`` (pixel space only).
    """
    model = sensor_model_for(dataset, **elevation)
    xs, ys = perimeter(dataset.width, dataset.height)
    geometry = None
    if model is not None:
        lons, lats = model.image_to_world(xs, ys)
        ring = [[round(float(lon), 9), round(float(lat), 9)] for lon, lat in zip(lons, lats, strict=True)]
        geometry = {"type": "Polygon", "coordinates": [ring]}
    properties = {
        "sensor_model": _sensor_model_name(model),
        "width": dataset.width,
        "height": dataset.height,
        "image_corners_pixels": [[0, 0], [dataset.width, 0], [dataset.width, dataset.height], [0, dataset.height]],
    }
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "id": name, "geometry": geometry, "properties": properties}],
    }


def describe(dataset: DatasetReader) -> dict[str, Any]:
    """The image's shape, type, georeferencing and band layout (what the viewpoint records)."""
    return {
        "width": dataset.width,
        "height": dataset.height,
        "band_count": dataset.count,
        "dtype": str(dataset.dtypes[0]),
        "driver": dataset.driver,
        "crs": dataset.crs.to_string() if dataset.crs else None,
        "has_rpc": dataset.rpcs is not None,
        "nodata": dataset.nodata if dataset.nodata is None or np.isfinite(dataset.nodata) else str(dataset.nodata),
        "colorinterp": [c.name for c in dataset.colorinterp],
    }


def metadata(dataset: DatasetReader) -> dict[str, Any]:
    """OSML's ``metadata``: the GDAL default-domain tags (NITF header fields for NITF), plus image structure."""
    return {
        "metadata": dataset.tags(),
        "image_structure": dataset.tags(ns="IMAGE_STRUCTURE"),
        "rpc": dataset.rpcs.to_dict() if dataset.rpcs is not None else None,
        **describe(dataset),
    }


def ingest(source: str, workdir: Path, *, name: str, elevation: dict[str, Any] | None = None) -> Ingested:
    """Run every stage on ``source`` (a GDAL path, e.g. ``/vsis3/bucket/key``), writing into ``workdir``.

    Raises:
        ImageReadError: when the image cannot be opened, shown or converted; the message names why.
    """
    elevation = elevation if elevation is not None else {"height": 0.0}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    cog_path = workdir / "image.tif"
    with rasterio.Env(**GDAL_S3_OPTIONS, **READ_RETRIES), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            dataset = rasterio.open(source)
        except RasterioIOError as err:
            raise ImageReadError(f"cannot open image {source}: {err}", image_url=source) from None
        with dataset:
            validate(dataset)
            documents: dict[str, dict[str, Any]] = {
                "metadata": metadata(dataset),
                "bounds": {"bounds": [0, 0, dataset.width, dataset.height]},
                "info": footprint(dataset, name, elevation),
            }
            image = describe(dataset)
            timings["describe_s"] = time.perf_counter() - started
            mark = time.perf_counter()
            image["cog"] = write_cog(dataset, cog_path)
            timings["cog_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        with rasterio.open(cog_path) as cog:
            documents["statistics"] = {"image_statistics": band_statistics(cog)}
        timings["statistics_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started
    return Ingested(cog=cog_path, documents=documents, timings=timings, image=image)
