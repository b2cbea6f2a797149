"""Processing bounds: the whole image, or the part a region of interest covers."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import wkt as shapely_wkt

from tessera.errors import RegionOfInterestError
from tessera.geo import SensorModel
from tessera.tiling.grid import ImageRegion


def processing_bounds(width: int, height: int, model: SensorModel | None, roi_wkt: str | None) -> ImageRegion:
    """The pixel rectangle to process.

    The region of interest (WKT in longitude/latitude) is densified, projected into the image through
    the sensor model, and intersected with the image; its bounding box is what gets tiled.

    Raises:
        RegionOfInterestError: when the image has no sensor model to project with, or when the region of
            interest does not intersect the image.
    """
    image = ImageRegion(0, 0, width, height)
    if not roi_wkt:
        return image
    if model is None:
        raise RegionOfInterestError(
            "regionOfInterest cannot be applied: the image has no geotransform, RPC or GCPs to project it with"
        )
    # Clip the ROI to the image's footprint in lon/lat first: a sensor model is only valid near its image,
    # and projecting far-away vertices (a continent-sized ROI) through it would give nonsense or infinity.
    edge = np.linspace(0.0, 1.0, 33)
    xs = np.concatenate([edge * width, np.full(33, width), (1 - edge) * width, np.zeros(33)])
    ys = np.concatenate([np.zeros(33), edge * height, np.full(33, height), (1 - edge) * height])
    foot_lon, foot_lat = model.image_to_world(xs, ys)
    footprint_lonlat = shapely.make_valid(shapely.Polygon(np.column_stack([foot_lon, foot_lat])))
    roi = shapely_wkt.loads(roi_wkt)
    if np.isfinite(foot_lon).all() and np.isfinite(foot_lat).all():
        roi = roi.intersection(footprint_lonlat)
        if roi.is_empty:
            raise RegionOfInterestError("regionOfInterest does not intersect the image")
    roi = shapely.segmentize(roi, 0.001)
    lonlat = shapely.get_coordinates(roi)
    x, y = model.world_to_image(lonlat[:, 0], lonlat[:, 1])
    finite = np.isfinite(x) & np.isfinite(y)
    pixel_roi = shapely.transform(roi, lambda _: np.column_stack([x, y])) if finite.all() else None
    footprint = shapely.box(0, 0, width, height)
    if pixel_roi is None or not pixel_roi.intersects(footprint):
        raise RegionOfInterestError("regionOfInterest does not intersect the image")
    minx, miny, maxx, maxy = pixel_roi.intersection(footprint).bounds
    col, row = max(0, math.floor(minx)), max(0, math.floor(miny))
    right, bottom = min(width, math.ceil(maxx)), min(height, math.ceil(maxy))
    if right <= col or bottom <= row:
        raise RegionOfInterestError("regionOfInterest covers no whole pixel of the image")
    return ImageRegion(row, col, right - col, bottom - row)
