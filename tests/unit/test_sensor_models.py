"""Sensor models (tessera.geo.sensor_models) on real images, checked against rasterio/PROJ/GDAL directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import RPCTransformer
from rasterio.warp import transform as warp_transform

from tessera.geo import AffineSensorModel, GCPSensorModel, RPCSensorModel, sensor_model_for

WGS84 = CRS.from_epsg(4326)


def random_pixels(width: int, height: int, n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0.0, width, 0.0, width], rng.uniform(0, width, n)])
    y = np.concatenate([[0.0, 0.0, height, height], rng.uniform(0, height, n)])
    return x, y


def rpc_forward(rpcs: rasterio.rpc.RPC, lon: np.ndarray, lat: np.ndarray, height: float) -> tuple[np.ndarray, ...]:
    """RPC00B ground-to-image, evaluated by hand: (sample, line) with (0, 0) the centre of the first pixel."""

    def poly(c: list[float], lo: np.ndarray, la: np.ndarray, h: np.ndarray) -> np.ndarray:
        terms = [
            np.ones_like(lo),
            lo,
            la,
            h,
            lo * la,
            lo * h,
            la * h,
            lo * lo,
            la * la,
            h * h,
            la * lo * h,
            lo**3,
            lo * la * la,
            lo * h * h,
            lo * lo * la,
            la**3,
            la * h * h,
            lo * lo * h,
            la * la * h,
            h**3,
        ]
        return sum(ci * ti for ci, ti in zip(c, terms, strict=True))

    lo = (lon - rpcs.long_off) / rpcs.long_scale
    la = (lat - rpcs.lat_off) / rpcs.lat_scale
    h = np.full_like(lo, (height - rpcs.height_off) / rpcs.height_scale)
    sample = poly(rpcs.samp_num_coeff, lo, la, h) / poly(rpcs.samp_den_coeff, lo, la, h) * rpcs.samp_scale
    line = poly(rpcs.line_num_coeff, lo, la, h) / poly(rpcs.line_den_coeff, lo, la, h) * rpcs.line_scale
    return sample + rpcs.samp_off, line + rpcs.line_off


@pytest.fixture(scope="module")
def rgb_byte(data_dir: Path) -> Callable[[], rasterio.io.DatasetReader]:
    path = data_dir / "RGB.byte.tif"
    if not path.is_file():
        pytest.skip("RGB.byte.tif missing")
    return lambda: rasterio.open(path)


def test_affine_model_on_utm_image_equals_proj(rgb_byte: Callable[[], rasterio.io.DatasetReader]) -> None:
    with rgb_byte() as ds:
        model = sensor_model_for(ds)
        transform, crs, width, height = ds.transform, ds.crs, ds.width, ds.height
    assert isinstance(model, AffineSensorModel) and model.name == "affine"
    assert crs == CRS.from_epsg(32618)
    x, y = random_pixels(width, height)

    lon, lat = model.image_to_world(x, y)

    points = [transform @ (float(xi), float(yi)) for xi, yi in zip(x, y, strict=True)]
    expected_lon, expected_lat = warp_transform(crs, WGS84, [p[0] for p in points], [p[1] for p in points])
    np.testing.assert_allclose(lon, expected_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lat, expected_lat, rtol=0, atol=1e-12)
    # Landsat scene over the Bahamas/Florida straits, north-up: west < east, north > south
    assert -80 < lon.min() < lon.max() < -76 and 23 < lat.min() < lat.max() < 26
    assert lon[1] > lon[0] and lat[2] < lat[0]


def test_affine_model_round_trip(rgb_byte: Callable[[], rasterio.io.DatasetReader]) -> None:
    with rgb_byte() as ds:
        model = sensor_model_for(ds)
        x, y = random_pixels(ds.width, ds.height, seed=1)
    assert model is not None
    bx, by = model.world_to_image(*model.image_to_world(x, y))
    np.testing.assert_allclose(bx, x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(by, y, rtol=0, atol=1e-6)


def test_affine_model_accepts_scalars_and_2d_arrays(rgb_byte: Callable[[], rasterio.io.DatasetReader]) -> None:
    with rgb_byte() as ds:
        model = sensor_model_for(ds)
    assert model is not None
    lon, lat = model.image_to_world(10.0, 20.0)
    assert lon.shape == lat.shape == (1,)
    grid_lon, _ = model.image_to_world(np.full((2, 3), 10.0), np.full((2, 3), 20.0))
    np.testing.assert_allclose(grid_lon, np.full(6, lon[0]))


def test_affine_model_on_a_wgs84_image_is_the_geotransform(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("world.rgb.tif")) as ds:
        model = sensor_model_for(ds)
        transform, width, height = ds.transform, ds.width, ds.height
    assert isinstance(model, AffineSensorModel)
    lon, lat = model.image_to_world([0, width, width / 2, 0.5], [0, height, height / 2, 0.5])
    np.testing.assert_allclose(lon, [-180, 180, 0, -180 + 0.5 * transform.a], atol=1e-9)
    np.testing.assert_allclose(lat, [90, -90, 0, 90 + 0.5 * transform.e], atol=1e-9)
    x, y = random_pixels(width, height, seed=2)
    bx, by = model.world_to_image(*model.image_to_world(x, y))
    np.testing.assert_allclose(bx, x, atol=1e-9)
    np.testing.assert_allclose(by, y, atol=1e-9)


def test_affine_model_with_rotation_terms_and_a_crs() -> None:
    transform = Affine(30.0, 10.0, 500000.0, 5.0, -30.0, 4100000.0)
    model = AffineSensorModel(transform, CRS.from_epsg(32633))
    x, y = random_pixels(1000, 800, seed=3)
    lon, lat = model.image_to_world(x, y)
    east = 30.0 * x + 10.0 * y + 500000.0
    north = 5.0 * x - 30.0 * y + 4100000.0
    expected_lon, expected_lat = warp_transform(CRS.from_epsg(32633), WGS84, east.tolist(), north.tolist())
    np.testing.assert_allclose(lon, expected_lon, atol=1e-12)
    np.testing.assert_allclose(lat, expected_lat, atol=1e-12)
    bx, by = model.world_to_image(lon, lat)
    np.testing.assert_allclose(bx, x, atol=1e-6)
    np.testing.assert_allclose(by, y, atol=1e-6)


def test_rpc_model_equals_rasterio_rpc_transformer(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("RGB.byte.rpc.vrt")) as ds:
        model = sensor_model_for(ds)
        rpcs, width, height = ds.rpcs, ds.width, ds.height
    assert isinstance(model, RPCSensorModel) and model.name == "rpc"
    x, y = random_pixels(width, height, n=50, seed=4)

    lon, lat = model.image_to_world(x, y)

    expected_lon, expected_lat = RPCTransformer(rpcs).xy(y, x, offset="ul")
    np.testing.assert_allclose(lon, expected_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lat, expected_lat, rtol=0, atol=1e-12)
    assert lon.min() > -124 and lon.max() < -122.5 and lat.min() > 49 and lat.max() < 50


def test_rpc_model_pixel_convention_against_hand_evaluated_rpc(data_file: Callable[[str], Path]) -> None:
    """Image (0, 0) is the pixel corner: the RPC (pixel-centre based) maps the result to (x - 0.5, y - 0.5)."""
    with rasterio.open(data_file("RGB.byte.rpc.vrt")) as ds:
        rpcs, width, height = ds.rpcs, ds.width, ds.height
    x, y = random_pixels(width, height, n=30, seed=5)
    for height_m in (None, 500.0):
        lon, lat = RPCSensorModel(rpcs, height=height_m).image_to_world(x, y)
        sample, line = rpc_forward(rpcs, lon, lat, 0.0 if height_m is None else height_m)
        np.testing.assert_allclose(sample, x - 0.5, atol=0.05)  # GDAL's iterative inverse converges to ~0.02 px
        np.testing.assert_allclose(line, y - 0.5, atol=0.05)


def test_rpc_model_round_trip_and_height(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("RGB.byte.rpc.vrt")) as ds:
        rpcs, width, height = ds.rpcs, ds.width, ds.height
    x, y = random_pixels(width, height, n=30, seed=6)
    model = RPCSensorModel(rpcs)
    bx, by = model.world_to_image(*model.image_to_world(x, y))
    np.testing.assert_allclose(bx, x, atol=0.05)
    np.testing.assert_allclose(by, y, atol=0.05)

    high = RPCSensorModel(rpcs, height=1000.0)
    lon_high, lat_high = high.image_to_world(x, y)
    expected = RPCTransformer(rpcs, RPC_HEIGHT=1000.0).xy(y, x, offset="ul")
    np.testing.assert_allclose(lon_high, expected[0], atol=1e-12)
    np.testing.assert_allclose(lat_high, expected[1], atol=1e-12)
    lon_zero, _ = model.image_to_world(x, y)
    assert np.abs(lon_high - lon_zero).max() > 1e-4  # the height changes the answer


def gcp_image(crs: str | None) -> MemoryFile:
    gcps = [
        GroundControlPoint(row=0, col=0, x=-77.0, y=39.0),
        GroundControlPoint(row=0, col=100, x=-76.0, y=39.0),
        GroundControlPoint(row=100, col=0, x=-77.0, y=38.0),
        GroundControlPoint(row=100, col=100, x=-76.0, y=38.0),
    ]
    memfile = MemoryFile()
    with memfile.open(driver="GTiff", width=100, height=100, count=1, dtype="uint8", gcps=gcps, crs=crs) as dst:
        dst.write(np.ones((1, 100, 100), dtype=np.uint8))
    return memfile


def test_gcp_model_from_an_image_with_gcps() -> None:
    with gcp_image("EPSG:4326") as memfile, memfile.open() as ds:
        model = sensor_model_for(ds)
    assert isinstance(model, GCPSensorModel) and model.name == "gcp"
    lon, lat = model.image_to_world([0, 100, 50, 25], [0, 100, 50, 75])
    np.testing.assert_allclose(lon, [-77, -76, -76.5, -76.75], atol=1e-9)
    np.testing.assert_allclose(lat, [39, 38, 38.5, 38.25], atol=1e-9)
    x, y = model.world_to_image([-76.5, -76.1], [38.5, 38.9])
    np.testing.assert_allclose(x, [50, 90], atol=1e-6)
    np.testing.assert_allclose(y, [50, 10], atol=1e-6)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("RGB.byte.tif", "affine"),
        ("RGB.byte.rpc.vrt", "rpc"),
        ("world.rgb.tif", "affine"),
        ("RGBA.uint16.tif", "affine"),
        ("cogeo.tif", "affine"),
        ("shade.tif", "affine"),
        ("float_nan.tif", None),  # a geotransform but no CRS
        ("rotated.tif", None),  # rotation terms but no CRS: nothing to reproject from, so no model
    ],
)
def test_sensor_model_for_real_images(data_file: Callable[[str], Path], name: str, expected: str | None) -> None:
    with rasterio.open(data_file(name)) as ds:
        model = sensor_model_for(ds)
    assert (model.name if model else None) == expected


def test_rotated_image_without_crs_has_no_model_and_stays_in_pixels(data_file: Callable[[str], Path]) -> None:
    """Observed: rotated.tif carries a rotated geotransform but no CRS, so no WGS84 model can be built."""
    with rasterio.open(data_file("rotated.tif")) as ds:
        assert ds.crs is None
        assert not ds.transform.is_identity and ds.transform.b != 0
        assert ds.rpcs is None and not ds.gcps[0]
        assert sensor_model_for(ds) is None


def test_plain_image_has_no_model() -> None:
    with MemoryFile() as memfile:
        with memfile.open(driver="GTiff", width=8, height=8, count=1, dtype="uint8") as dst:
            dst.write(np.zeros((1, 8, 8), dtype=np.uint8))
        with memfile.open() as ds:
            assert sensor_model_for(ds) is None


def test_rpc_is_preferred_over_a_geotransform(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("RGB.byte.rpc.vrt")) as src:
        rpcs = src.rpcs
    with MemoryFile() as memfile:
        profile = {"driver": "GTiff", "width": 16, "height": 16, "count": 1, "dtype": "uint8"}
        with memfile.open(**profile, crs="EPSG:32618", transform=Affine(300, 0, 101985, 0, -300, 2826915)) as dst:
            dst.write(np.zeros((1, 16, 16), dtype=np.uint8))
            dst.rpcs = rpcs
        with memfile.open() as ds:
            assert ds.rpcs is not None and ds.crs is not None
            model = sensor_model_for(ds)
    assert isinstance(model, RPCSensorModel)
