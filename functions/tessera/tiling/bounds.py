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
    roi = shapely.segmentize(shapely_wkt.loads(roi_wkt), 0.001)
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
