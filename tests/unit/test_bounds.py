"""Processing bounds from a region of interest (tessera.tiling.bounds) on real georeferenced images."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform

from tessera.errors import RegionOfInterestError
from tessera.geo import AffineSensorModel, sensor_model_for
from tessera.tiling import ImageRegion, processing_bounds

WGS84 = CRS.from_epsg(4326)


def polygon_wkt(lonlat: list[tuple[float, float]]) -> str:
    ring = [*lonlat, lonlat[0]]
    return "POLYGON ((" + ", ".join(f"{float(lon)!r} {float(lat)!r}" for lon, lat in ring) + "))"


@pytest.fixture(scope="module")
def landsat(data_dir: Path) -> rasterio.io.DatasetReader:
    path = data_dir / "RGB.byte.tif"
    if not path.is_file():
        pytest.skip("RGB.byte.tif missing")
    with rasterio.open(path) as ds:
        yield ds


def pixel_to_lonlat(ds: rasterio.io.DatasetReader, x: list[float], y: list[float]) -> list[tuple[float, float]]:
    east, north = zip(*(ds.transform @ (xi, yi) for xi, yi in zip(x, y, strict=True)), strict=True)
    lon, lat = warp_transform(ds.crs, WGS84, list(east), list(north))
    return list(zip(lon, lat, strict=True))


def expected_bounds(ds: rasterio.io.DatasetReader, lonlat: list[tuple[float, float]]) -> ImageRegion:
    """Project the polygon's corners into the image with PROJ and the inverse geotransform, clip, round outwards."""
    east, north = warp_transform(WGS84, ds.crs, [p[0] for p in lonlat], [p[1] for p in lonlat])
    inverse = ~ds.transform
    pixels = [inverse @ (e, n) for e, n in zip(east, north, strict=True)]
    xs, ys = [p[0] for p in pixels], [p[1] for p in pixels]
    col, row = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    right, bottom = min(ds.width, math.ceil(max(xs))), min(ds.height, math.ceil(max(ys)))
    return ImageRegion(row, col, right - col, bottom - row)


def test_no_roi_is_the_whole_image(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    assert processing_bounds(791, 718, model, None) == ImageRegion(0, 0, 791, 718)
    assert processing_bounds(791, 718, None, None) == ImageRegion(0, 0, 791, 718)
    assert processing_bounds(791, 718, None, "") == ImageRegion(0, 0, 791, 718)


def test_roi_inside_the_image(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    assert isinstance(model, AffineSensorModel)
    # corners at half pixels so that sub-pixel bending of the lon/lat edges cannot change the rounding
    lonlat = pixel_to_lonlat(landsat, [100.5, 400.5, 400.5, 100.5], [150.5, 150.5, 500.5, 500.5])

    bounds = processing_bounds(landsat.width, landsat.height, model, polygon_wkt(lonlat))

    assert bounds == expected_bounds(landsat, lonlat)
    assert bounds == ImageRegion(row=150, col=100, width=301, height=351)


def test_rotated_roi_inside_the_image(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    lonlat = pixel_to_lonlat(landsat, [300.5, 600.5, 300.5, 50.5], [80.5, 300.5, 650.5, 300.5])  # a diamond
    bounds = processing_bounds(landsat.width, landsat.height, model, polygon_wkt(lonlat))
    assert bounds == expected_bounds(landsat, lonlat) == ImageRegion(row=80, col=50, width=551, height=571)


def test_roi_partly_outside_is_clipped_to_the_image(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    lonlat = pixel_to_lonlat(landsat, [-200.5, 250.5, 250.5, -200.5], [500.5, 500.5, 900.5, 900.5])
    bounds = processing_bounds(landsat.width, landsat.height, model, polygon_wkt(lonlat))
    assert bounds == expected_bounds(landsat, lonlat) == ImageRegion(row=500, col=0, width=251, height=218)


def test_roi_covering_the_image_is_the_whole_image(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    lonlat = pixel_to_lonlat(landsat, [-50, 850, 850, -50], [-50, -50, 800, 800])
    assert processing_bounds(landsat.width, landsat.height, model, polygon_wkt(lonlat)) == ImageRegion(0, 0, 791, 718)


def test_multipolygon_roi_takes_the_bounds_of_all_parts(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    first = pixel_to_lonlat(landsat, [10.5, 60.5, 60.5, 10.5], [20.5, 20.5, 70.5, 70.5])
    second = pixel_to_lonlat(landsat, [500.5, 540.5, 540.5, 500.5], [600.5, 600.5, 640.5, 640.5])
    wkt = "MULTIPOLYGON (" + ", ".join(polygon_wkt(p).removeprefix("POLYGON ") for p in (first, second)) + ")"
    bounds = processing_bounds(landsat.width, landsat.height, model, wkt)
    assert bounds == ImageRegion(row=20, col=10, width=531, height=621)


def test_roi_outside_the_image_is_an_error(landsat: rasterio.io.DatasetReader) -> None:
    model = sensor_model_for(landsat)
    paris = "POLYGON ((2.2 48.8, 2.4 48.8, 2.4 48.9, 2.2 48.9, 2.2 48.8))"
    with pytest.raises(RegionOfInterestError, match="does not intersect"):
        processing_bounds(landsat.width, landsat.height, model, paris)
    beside = pixel_to_lonlat(landsat, [900, 1000, 1000, 900], [100, 100, 200, 200])  # east of the image
    with pytest.raises(RegionOfInterestError, match="does not intersect"):
        processing_bounds(landsat.width, landsat.height, model, polygon_wkt(beside))


def test_roi_without_a_sensor_model_is_an_error() -> None:
    wkt = "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"
    with pytest.raises(RegionOfInterestError, match="regionOfInterest"):
        processing_bounds(100, 100, None, wkt)


def test_roi_on_a_wgs84_image(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("world.rgb.tif")) as ds:
        model = sensor_model_for(ds)
        width, height = ds.width, ds.height
    wkt = "POLYGON ((-10 -5, 10 -5, 10 5, -10 5, -10 -5))"
    bounds = processing_bounds(width, height, model, wkt)
    step = 360 / 512
    col, right = math.floor((-10 + 180) / step), math.ceil((10 + 180) / step)
    row, bottom = math.floor((90 - 5) / step), math.ceil((90 + 5) / step)
    assert bounds == ImageRegion(row, col, right - col, bottom - row) == ImageRegion(120, 241, 30, 16)


def test_roi_sliver_between_pixels_still_covers_a_pixel(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("world.rgb.tif")) as ds:
        model = sensor_model_for(ds)
    step = 360 / 512
    lon, lat = -180 + 100.2 * step, 90 - 50.2 * step  # inside pixel (row 50, col 100)
    d = 0.1 * step
    wkt = polygon_wkt([(lon, lat), (lon + d, lat), (lon + d, lat - d), (lon, lat - d)])
    assert processing_bounds(512, 256, model, wkt) == ImageRegion(50, 100, 1, 1)


def test_roi_through_an_rpc_model(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("RGB.byte.rpc.vrt")) as ds:
        model = sensor_model_for(ds)
        width, height = ds.width, ds.height
    assert model is not None and model.name == "rpc"
    lon, lat = model.image_to_world([200.5, 500.5, 500.5, 200.5], [100.5, 100.5, 400.5, 400.5])
    bounds = processing_bounds(width, height, model, polygon_wkt(list(zip(lon, lat, strict=True))))
    # the RPC round trip is good to ~0.02 px, so the half-pixel corners round to the same pixels (±1 for safety)
    assert abs(bounds.col - 200) <= 1 and abs(bounds.row - 100) <= 1
    assert abs(bounds.col + bounds.width - 501) <= 1 and abs(bounds.row + bounds.height - 401) <= 1


def test_a_continent_sized_roi_is_clipped_to_the_footprint_first(landsat: rasterio.io.DatasetReader) -> None:
    model = AffineSensorModel(landsat.transform, landsat.crs)
    roi = polygon_wkt([(-179.0, -80.0), (179.0, -80.0), (179.0, 80.0), (-179.0, 80.0)])
    bounds = processing_bounds(landsat.width, landsat.height, model, roi)
    assert bounds == ImageRegion(0, 0, landsat.width, landsat.height)
