"""Sensor models built from what GDAL reads in an image: a geotransform, RPCs or GCPs.

Each model maps arrays of image pixel coordinates ``(x, y)`` — columns and rows, with ``(0, 0)`` the
upper-left corner of the upper-left pixel — to WGS84 longitude/latitude in one vectorized call, and
back. Nothing is interpolated: every vertex goes through the exact transformation.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.io import DatasetReader
from rasterio.rpc import RPC
from rasterio.transform import GCPTransformer, RPCTransformer
from rasterio.warp import transform as warp_transform

WGS84 = CRS.from_epsg(4326)
FloatArray = npt.NDArray[np.float64]


class SensorModel(Protocol):
    """Maps image pixel coordinates to WGS84 longitude/latitude (degrees) and back."""

    name: str

    def image_to_world(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Longitudes and latitudes of pixel coordinates ``x`` (columns) and ``y`` (rows)."""
        ...

    def world_to_image(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Pixel coordinates ``(x, y)`` of longitudes and latitudes."""
        ...


def _as_arrays(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    return np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()


class AffineSensorModel:
    """A geotransform in any CRS, reprojected to WGS84 with PROJ (rasterio.warp.transform)."""

    name = "affine"

    def __init__(self, transform: Affine, crs: CRS) -> None:
        self.transform = transform
        self.inverse = ~transform
        self.crs = crs
        self._is_wgs84 = crs == WGS84

    def image_to_world(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Apply the geotransform, then reproject to WGS84."""
        xs, ys = _as_arrays(x, y)
        a, b, c, d, e, f = self.transform[:6]
        east, north = a * xs + b * ys + c, d * xs + e * ys + f
        if self._is_wgs84:
            return east, north
        lon, lat = warp_transform(self.crs, WGS84, east, north)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def world_to_image(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Reproject from WGS84, then apply the inverse geotransform."""
        lons, lats = _as_arrays(lon, lat)
        if self._is_wgs84:
            east, north = lons, lats
        else:
            east_l, north_l = warp_transform(WGS84, self.crs, lons, lats)
            east, north = np.asarray(east_l), np.asarray(north_l)
        a, b, c, d, e, f = self.inverse[:6]
        return a * east + b * north + c, d * east + e * north + f


class _TransformerModel:
    """Shared flow of GDAL transformer based models (RPC, GCP)."""

    name = "transformer"

    def __init__(self, transformer: RPCTransformer | GCPTransformer) -> None:
        self._transformer = transformer

    def image_to_world(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        xs, ys = _as_arrays(x, y)
        lon, lat = self._transformer.xy(ys, xs, offset="ul")
        return np.asarray(lon, dtype=np.float64).ravel(), np.asarray(lat, dtype=np.float64).ravel()

    def world_to_image(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        lons, lats = _as_arrays(lon, lat)
        rows, cols = self._transformer.rowcol(lons, lats, op=lambda v: v)
        return np.asarray(cols, dtype=np.float64).ravel(), np.asarray(rows, dtype=np.float64).ravel()


class RPCSensorModel(_TransformerModel):
    """Rational polynomial coefficients (NITF RPC00B, .RPB, VRT RPC metadata) at a constant height or a DEM."""

    name = "rpc"

    def __init__(self, rpcs: RPC, height: float | None = None, dem: str | None = None) -> None:
        options: dict[str, object] = {}
        if dem:
            options["RPC_DEM"] = dem
            options["RPC_DEM_MISSING_VALUE"] = height or 0.0  # outside the DEM: this height, not NaN
        elif height is not None:
            options["RPC_HEIGHT"] = height
        super().__init__(RPCTransformer(rpcs, **options))
        self.rpcs = rpcs


class GCPSensorModel(_TransformerModel):
    """Ground control points, fitted by GDAL's polynomial GCP transformer, in the GCPs' CRS."""

    name = "gcp"

    def __init__(self, gcps: list[GroundControlPoint], crs: CRS | None) -> None:
        super().__init__(GCPTransformer(gcps))
        self.crs = crs or WGS84

    def image_to_world(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Fit through the GCPs, then reproject from the GCPs' CRS to WGS84."""
        east, north = super().image_to_world(x, y)
        if self.crs == WGS84:
            return east, north
        lon, lat = warp_transform(self.crs, WGS84, east, north)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def world_to_image(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Reproject to the GCPs' CRS, then invert the GCP fit."""
        lons, lats = _as_arrays(lon, lat)
        if self.crs != WGS84:
            e, n = warp_transform(WGS84, self.crs, lons, lats)
            lons, lats = np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)
        return super().world_to_image(lons, lats)


def elevation_options(elevation_model: str) -> dict[str, Any]:
    """How RPC sensor models find ground height: the DEM (as a GDAL path) if one is configured, else height 0.

    The result is the keyword arguments of :func:`sensor_model_for`.

    Example:
        >>> elevation_options("s3://dems/srtm.tif"), elevation_options("")
        ({'dem': '/vsis3/dems/srtm.tif'}, {'height': 0.0})
    """
    from tessera.imagery.reader import gdal_path

    return {"dem": gdal_path(elevation_model)} if elevation_model else {"height": 0.0}


def sensor_model_for(
    dataset: DatasetReader, *, height: float | None = None, dem: str | None = None
) -> SensorModel | None:
    """The best sensor model the dataset carries: RPC, then a geotransform with a CRS, then GCPs.

    Returns None for an image with none of them; its features stay in pixel space.
    """
    if dataset.rpcs is not None:
        return RPCSensorModel(dataset.rpcs, height=height, dem=dem)
    if dataset.crs is not None and not dataset.transform.is_identity:
        return AffineSensorModel(dataset.transform, dataset.crs)
    gcps, gcp_crs = dataset.gcps
    if gcps:
        return GCPSensorModel(list(gcps), gcp_crs)
    return None
