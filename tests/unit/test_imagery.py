"""Reading tiles (tessera.imagery.reader), encoding them (encoding.py) and the built-in centerpoint model."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader, MemoryFile

from tessera.errors import ImageReadError
from tessera.imagery import TileData, encode_tile, gdal_path, image_info, open_image, read_tile
from tessera.inference import BUILTIN_MODELS, CenterPointDetector
from tessera.tiling import ImageRegion


@pytest.fixture
def raster() -> Iterator[Callable[..., DatasetReader]]:
    """Opens an in-memory GeoTIFF of the given pixels ``(bands, rows, cols)``."""
    files: list[MemoryFile] = []
    datasets: list[DatasetReader] = []

    def open_pixels(pixels: np.ndarray, nodata: float | None = None) -> DatasetReader:
        bands, height, width = pixels.shape
        memfile = MemoryFile()
        profile = {"driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": pixels.dtype}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with memfile.open(**profile, nodata=nodata) as dst:
                dst.write(pixels)
            dataset = memfile.open()
        files.append(memfile)
        datasets.append(dataset)
        return dataset

    yield open_pixels
    for dataset in datasets:
        dataset.close()
    for memfile in files:
        memfile.close()


def test_all_nodata_window_is_empty(raster: Callable[..., DatasetReader]) -> None:
    pixels = np.zeros((3, 64, 64), dtype=np.uint8)
    pixels[:, 40:, 40:] = 200
    ds = raster(pixels, nodata=0)

    empty = read_tile(ds, ImageRegion(0, 0, 32, 32))
    mixed = read_tile(ds, ImageRegion(32, 32, 32, 32))
    full = read_tile(ds, ImageRegion(40, 40, 24, 24))

    assert empty.is_empty
    assert not mixed.is_empty
    assert mixed.valid.sum() == 24 * 24  # exactly the pixels with data
    assert not full.is_empty and full.valid.all()
    assert mixed.pixels.shape == (3, 32, 32) and mixed.pixels.dtype == np.uint8
    assert mixed.valid.shape == (32, 32)
    np.testing.assert_array_equal(mixed.pixels, pixels[:, 32:64, 32:64])
    assert mixed.tile == ImageRegion(32, 32, 32, 32)


def test_a_pixel_is_valid_when_any_band_has_data(raster: Callable[..., DatasetReader]) -> None:
    pixels = np.zeros((3, 8, 8), dtype=np.uint16)
    pixels[1, 3, 5] = 7
    tile = read_tile(raster(pixels, nodata=0), ImageRegion(0, 0, 8, 8))
    assert not tile.is_empty
    assert np.argwhere(tile.valid).tolist() == [[3, 5]]


def test_nan_float_window_is_empty(raster: Callable[..., DatasetReader]) -> None:
    pixels = np.full((2, 16, 16), np.nan, dtype=np.float32)
    pixels[:, 8:, 8:] = 1.5
    pixels[0, 0, 15] = 3.0  # only one band has data at this pixel
    ds = raster(pixels)  # no nodata value: only NaN marks missing data

    assert read_tile(ds, ImageRegion(0, 0, 8, 8)).is_empty
    assert not read_tile(ds, ImageRegion(0, 8, 8, 8)).is_empty
    mixed = read_tile(ds, ImageRegion(4, 4, 8, 8))
    assert not mixed.is_empty
    assert mixed.valid.sum() == 16


def test_nan_nodata_float_window_is_empty(raster: Callable[..., DatasetReader]) -> None:
    pixels = np.full((1, 8, 8), np.nan, dtype=np.float64)
    pixels[0, 7, 7] = 0.0
    ds = raster(pixels, nodata=np.nan)
    assert read_tile(ds, ImageRegion(0, 0, 4, 4)).is_empty
    assert not read_tile(ds, ImageRegion(4, 4, 4, 4)).is_empty


def test_zero_valued_float_pixels_are_data_without_nodata(raster: Callable[..., DatasetReader]) -> None:
    assert not read_tile(raster(np.zeros((1, 4, 4), dtype=np.float32)), ImageRegion(0, 0, 4, 4)).is_empty


def test_real_images_nodata(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("all-nodata.tif")) as ds:
        assert read_tile(ds, ImageRegion(0, 0, ds.width, 512)).is_empty
    with rasterio.open(data_file("float_nan.tif")) as ds:
        tile = read_tile(ds, ImageRegion(0, 0, ds.width, ds.height))
        assert not tile.is_empty
        assert tile.valid.tolist() == [[True, True, False], [True, True, True]]
    with rasterio.open(data_file("RGB.byte.tif")) as ds:
        assert read_tile(ds, ImageRegion(0, 0, 16, 16)).is_empty  # the scene's black, nodata corner
        centre = read_tile(ds, ImageRegion(300, 300, 64, 64))
        assert not centre.is_empty and centre.valid.all()


def test_open_image_reports_unreadable_images_as_image_read_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tif"
    with pytest.raises(ImageReadError, match=r"missing\.tif") as caught, open_image(str(missing)):
        pass
    assert caught.value.image_url == str(missing)
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"not an image")
    with pytest.raises(ImageReadError), open_image(str(garbage)):
        pass


def test_open_image_and_image_info(data_file: Callable[[str], Path]) -> None:
    with open_image(str(data_file("RGB.byte.tif"))) as ds:
        info = image_info(ds)
    assert (info.width, info.height, info.band_count, info.dtype) == (791, 718, 3, "uint8")
    assert (info.driver, info.crs, info.has_rpc, info.nodata) == ("GTiff", "EPSG:32618", False, 0.0)
    with open_image(str(data_file("RGB.byte.rpc.vrt"))) as ds:
        assert image_info(ds).has_rpc


def test_gdal_path() -> None:
    assert gdal_path("s3://bucket/dir/image.ntf") == "/vsis3/bucket/dir/image.ntf"
    assert gdal_path("/data/image.tif") == "/data/image.tif"
    assert gdal_path("https://host/x.tif") == "https://host/x.tif"


def decode(data: bytes) -> tuple[str, np.ndarray, dict[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(data) as memfile, memfile.open() as ds:
            return ds.driver, ds.read(), ds.tags(ns="IMAGE_STRUCTURE")


@pytest.fixture(scope="module")
def landsat_tile(data_dir: Path) -> TileData:
    path = data_dir / "RGB.byte.tif"
    if not path.is_file():
        pytest.skip("RGB.byte.tif missing")
    with rasterio.open(path) as ds:
        return read_tile(ds, ImageRegion(row=300, col=250, width=96, height=80))


LOSSLESS = [("GTIFF", "NONE"), ("GTIFF", "LZW"), ("NITF", "NONE"), ("PNG", "NONE")]
LOSSY = [("GTIFF", "JPEG"), ("NITF", "JPEG"), ("NITF", "J2K"), ("JPEG", "NONE"), ("JPEG", "JPEG")]
DRIVERS = {"GTIFF": "GTiff", "NITF": "NITF", "PNG": "PNG", "JPEG": "JPEG"}


@pytest.mark.parametrize(("tile_format", "compression"), LOSSLESS)
def test_lossless_encodings_decode_to_the_same_pixels(
    landsat_tile: TileData, tile_format: str, compression: str
) -> None:
    driver, pixels, _ = decode(encode_tile(landsat_tile, tile_format, compression))
    assert driver == DRIVERS[tile_format]
    assert pixels.dtype == landsat_tile.pixels.dtype
    np.testing.assert_array_equal(pixels, landsat_tile.pixels)


@pytest.mark.parametrize(("tile_format", "compression"), LOSSY)
def test_lossy_encodings_decode_to_the_same_shape(landsat_tile: TileData, tile_format: str, compression: str) -> None:
    driver, pixels, _ = decode(encode_tile(landsat_tile, tile_format, compression))
    assert driver == DRIVERS[tile_format]
    assert pixels.shape == landsat_tile.pixels.shape == (3, 80, 96)
    assert pixels.dtype == np.uint8
    # a real image survives lossy compression recognisably
    correlation = np.corrcoef(pixels.ravel().astype(np.float64), landsat_tile.pixels.ravel().astype(np.float64))[0, 1]
    assert correlation > 0.9


def test_compressed_encodings_are_really_compressed(landsat_tile: TileData) -> None:
    raw = len(encode_tile(landsat_tile, "GTIFF", "NONE"))
    assert len(encode_tile(landsat_tile, "GTIFF", "LZW")) < raw
    assert len(encode_tile(landsat_tile, "GTIFF", "JPEG")) < raw
    assert decode(encode_tile(landsat_tile, "GTIFF", "LZW"))[2].get("COMPRESSION") == "LZW"
    assert decode(encode_tile(landsat_tile, "NITF", "JPEG"))[2].get("COMPRESSION") == "JPEG"
    assert decode(encode_tile(landsat_tile, "NITF", "J2K"))[2].get("COMPRESSION") == "JPEG2000"
    assert "COMPRESSION" not in decode(encode_tile(landsat_tile, "NITF", "NONE"))[2]


@pytest.mark.parametrize(("tile_format", "compression"), [("GTIFF", "NONE"), ("GTIFF", "LZW"), ("NITF", "NONE")])
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
def test_other_pixel_types_are_kept_losslessly(tile_format: str, compression: str, dtype: type) -> None:
    rng = np.random.default_rng(0)
    pixels = (rng.random((2, 20, 30)) * 4000).astype(dtype)
    tile = TileData(ImageRegion(0, 0, 30, 20), pixels, np.ones((20, 30), dtype=bool))
    _, decoded, _ = decode(encode_tile(tile, tile_format, compression))
    assert decoded.dtype == pixels.dtype
    np.testing.assert_array_equal(decoded, pixels)


def test_single_band_uint16_png_is_lossless() -> None:
    pixels = np.arange(40 * 30, dtype=np.uint16).reshape(1, 30, 40) * 50
    tile = TileData(ImageRegion(0, 0, 40, 30), pixels, np.ones((30, 40), dtype=bool))
    _, decoded, _ = decode(encode_tile(tile, "PNG"))
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize(
    ("tile_format", "compression"), [("JPEG", "NONE"), ("JPEG", "JPEG"), ("GTIFF", "JPEG"), ("NITF", "JPEG")]
)
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
def test_8_bit_only_encodings_of_other_pixel_types_keep_the_brightness_order(
    tile_format: str, compression: str, dtype: type
) -> None:
    pixels = np.full((1, 32, 32), 100, dtype=dtype)
    pixels[:, :, 16:] = 300  # would wrap to 44 if cast with astype
    tile = TileData(ImageRegion(0, 0, 32, 32), pixels, np.ones((32, 32), dtype=bool))
    _, decoded, _ = decode(encode_tile(tile, tile_format, compression))
    assert decoded.dtype == np.uint8 and decoded.shape == (1, 32, 32)
    assert decoded[:, :, 20:].mean() > decoded[:, :, :12].mean()


def test_float_pixels_in_j2k_nitf_fall_back_to_uncompressed() -> None:
    """As OSML: J2K cannot hold floating-point pixels, so such NITF tiles are written with IC=NC."""
    pixels = np.linspace(0, 1, 2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16)
    tile = TileData(ImageRegion(0, 0, 16, 16), pixels, np.ones((16, 16), dtype=bool))
    driver, decoded, structure = decode(encode_tile(tile, "NITF", "J2K"))
    assert driver == "NITF" and "COMPRESSION" not in structure
    np.testing.assert_array_equal(decoded, pixels)


def test_integer_pixels_in_j2k_nitf_stay_compressed() -> None:
    pixels = (np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16) * 7) % 4000
    tile = TileData(ImageRegion(0, 0, 16, 16), pixels.astype(np.uint16), np.ones((16, 16), dtype=bool))
    _, decoded, structure = decode(encode_tile(tile, "NITF", "J2K"))
    assert structure.get("COMPRESSION") == "JPEG2000"
    assert decoded.dtype == np.uint16 and decoded.shape == (2, 16, 16)


def test_float_png_tile_is_encoded_as_8_bit() -> None:
    pixels = np.linspace(-1, 1, 24 * 24, dtype=np.float32).reshape(1, 24, 24)
    tile = TileData(ImageRegion(0, 0, 24, 24), pixels, np.ones((24, 24), dtype=bool))
    _, decoded, _ = decode(encode_tile(tile, "PNG"))
    assert decoded.dtype == np.uint8
    assert decoded.min() == 0 and decoded.max() == 255  # the tile's finite range is stretched
    assert np.all(np.diff(decoded.ravel().astype(int)) >= 0)  # monotonic ramp stays monotonic


def centerpoint_tile(width: int, height: int, bands: int = 3) -> TileData:
    return TileData(
        ImageRegion(0, 0, width, height),
        np.zeros((bands, height, width), dtype=np.uint8),
        np.ones((height, width), dtype=bool),
    )


def test_centerpoint_on_a_512_tile_matches_osml() -> None:
    (feature,) = CenterPointDetector().detect(centerpoint_tile(512, 512))
    props = feature["properties"]
    assert props["imageBBox"] == pytest.approx([204.8, 204.8, 307.2, 307.2], abs=1e-9)
    assert props["featureClasses"] == [{"iri": "sample_object", "score": 1.0}]
    assert props["imageGeometry"] == {"type": "Point", "coordinates": [256.0, 256.0]}
    assert feature["type"] == "Feature" and feature["geometry"] is None


def test_centerpoint_on_a_rectangular_tile() -> None:
    (feature,) = CenterPointDetector().detect(centerpoint_tile(width=400, height=100, bands=1))
    assert feature["properties"]["imageBBox"] == pytest.approx([160.0, 40.0, 240.0, 60.0], abs=1e-9)


def test_centerpoint_segmentation_is_osmls_closed_hexagon_inside_the_box() -> None:
    detector = CenterPointDetector({"CustomAttributes": "model_selection=centerpoint,segmentation=true"})
    (feature,) = detector.detect(centerpoint_tile(512, 512))
    geometry = feature["properties"]["imageGeometry"]
    assert geometry["type"] == "Polygon"
    (ring,) = geometry["coordinates"]
    # OSML's test model: matplotlib's 6-vertex CirclePolygon (closed), its first vertex appended again,
    # mapped to ((v + 1) / 2) * 0.1 * size + centre and rounded to 4 decimals
    assert len(ring) == 8 and ring[0] == ring[-1] == ring[-2] == [281.6, 284.16]
    assert feature["properties"]["modelMetadata"] == {
        "modelName": "centerpoint",
        "ontologyName": "centerpoint",
        "ontologyVersion": "1.0.0",
    }
    minx, miny, maxx, maxy = feature["properties"]["imageBBox"]
    assert all(minx - 1e-9 <= x <= maxx + 1e-9 and miny - 1e-9 <= y <= maxy + 1e-9 for x, y in ring)


def test_centerpoint_is_registered_as_a_builtin_model() -> None:
    assert BUILTIN_MODELS["centerpoint"] is CenterPointDetector
    assert CenterPointDetector.name == "centerpoint"


def test_nitf_tiles_carry_their_corner_coordinates() -> None:
    corners = ((-78.5, 24.9), (-78.4, 24.9), (-78.4, 24.8), (-78.5, 24.8))
    pixels = np.zeros((1, 16, 16), dtype=np.uint8)
    tile = TileData(ImageRegion(0, 0, 16, 16), pixels, np.ones((16, 16), dtype=bool), corners=corners)
    for compression in ("NONE", "JPEG"):
        with MemoryFile(encode_tile(tile, "NITF", compression)) as memfile, memfile.open() as dataset:
            assert dataset.tags()["NITF_ICORDS"] == "G"
            assert dataset.tags()["NITF_IGEOLO"] == "245400N0783000W245400N0782400W244800N0782400W244800N0783000W"
            assert dataset.crs.to_epsg() == 4326
            # IGEOLO locates the corner pixels' centres (MIL-STD-2500C), to one arc second
            assert dataset.transform @ (0.5, 0.5) == pytest.approx((-78.5, 24.9), abs=3e-4)
            assert dataset.transform @ (15.5, 15.5) == pytest.approx((-78.4, 24.8), abs=3e-4)
