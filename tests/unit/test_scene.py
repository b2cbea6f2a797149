"""The synthetic scene: deterministic, truth inside the image, and the NITF's RPCs on the GeoTIFF's ground."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Geod, Transformer
from rasterio.transform import RPCTransformer

from tessera.synthetic import SceneConfig, generate_scene, write_scene
from tessera.synthetic.scene import request_for

SIZE = 700
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_scene(generate_scene(SceneConfig(size=SIZE, seed=5)), tmp_path_factory.mktemp("scene"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_scene(written: dict[str, Path], tmp_path: Path) -> None:
    again = write_scene(generate_scene(SceneConfig(size=SIZE, seed=5)), tmp_path / "again")
    for key in ("geotiff", "nitf", "truth", "request"):
        assert digest(again[key]) == digest(written[key]), key
    other = generate_scene(SceneConfig(size=SIZE, seed=6))
    with rasterio.open(written["geotiff"]) as src:
        assert not np.array_equal(src.read(), other.pixels)
    first = json.loads(written["truth"].read_text())["features"]
    assert [f["properties"]["center_pixel"] for f in first] != [[s.x, s.y] for s in other.ships]


def test_truth_ships_lie_inside_the_image_apart_and_as_described(written: dict[str, Path]) -> None:
    truth = json.loads(written["truth"].read_text())
    features = truth["features"]
    assert truth["scene"]["ships"] == len(features) == max(4, round(SIZE * SIZE / 250_000))
    image = shapely.box(0, 0, SIZE, SIZE)
    polygons = []
    for feature in features:
        props = feature["properties"]
        polygon = shapely.geometry.shape(props["imageGeometry"])
        assert image.contains(polygon)
        assert props["imageBBox"] == pytest.approx(list(polygon.bounds))
        edges = np.hypot(*np.diff(np.asarray(polygon.exterior.coords), axis=0).T)
        assert max(edges) == pytest.approx(props["length_m"] / 0.5, abs=0.01)
        assert 0 <= props["heading_deg"] < 360 and props["featureClasses"][0]["iri"] == "ship"
        polygons.append(polygon)
    for i, a in enumerate(polygons):
        assert all(not a.intersects(b) for b in polygons[i + 1 :])


def test_the_geotiff_is_utm_tiled_compressed_and_the_truth_geolocated_through_it(written: dict[str, Path]) -> None:
    with rasterio.open(written["geotiff"]) as src:
        assert src.crs.to_epsg() == 32633 and src.res == (0.5, 0.5)
        assert src.count == 3 and src.dtypes[0] == "uint8" and src.block_shapes[0] == (512, 512)
        assert src.compression is not None
        transform = src.transform
    to_wgs84 = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    for feature in json.loads(written["truth"].read_text())["features"]:
        pixels = np.asarray(feature["properties"]["imageGeometry"]["coordinates"][0])
        east, north = transform @ (pixels[:, 0], pixels[:, 1])
        lon, lat = to_wgs84.transform(east, north)
        got = np.asarray(feature["geometry"]["coordinates"][0])
        _, _, distance = GEOD.inv(lon, lat, got[:, 0], got[:, 1])
        assert np.max(distance) < 0.01


def test_the_nitf_rpcs_agree_with_the_geotiff_within_half_a_metre(written: dict[str, Path]) -> None:
    with rasterio.open(written["nitf"]) as nitf:
        assert nitf.driver == "NITF" and "RPC00B" in nitf.tags(ns="TRE")
        assert nitf.crs is None and nitf.rpcs is not None
        rpcs, pixels = nitf.rpcs, nitf.read()
    with rasterio.open(written["geotiff"]) as tif:
        transform = tif.transform
        assert np.array_equal(tif.read(), pixels)
    rows, cols = np.meshgrid(np.linspace(0, SIZE, 25), np.linspace(0, SIZE, 25), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    rpc_lon, rpc_lat = RPCTransformer(rpcs).xy(rows, cols, offset="ul")
    east, north = transform @ (cols, rows)
    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(east, north)
    _, _, distance = GEOD.inv(lon, lat, rpc_lon, rpc_lat)
    assert np.max(distance) < 0.5
    assert np.median(distance) < 0.1
    back_rows, back_cols = RPCTransformer(rpcs).rowcol(lon, lat, op=lambda v: v)
    assert np.max(np.abs(np.asarray(back_rows) - rows)) < 0.01 and np.max(np.abs(np.asarray(back_cols) - cols)) < 0.01


def test_sixteen_bit_scene_and_the_request_that_suits_it() -> None:
    scene = generate_scene(SceneConfig(size=300, seed=2, bits=16, ships=2))
    assert scene.pixels.dtype == np.uint16 and int(scene.pixels.max()) <= 4095
    assert len(scene.ships) == 2
    request = request_for(scene.config)
    assert request["imageProcessor"] == {"name": "cfar", "type": "BUILTIN"}
    assert request["imageProcessorTileOverlap"] > scene.config.max_ship_px + 4
    assert request["imageProcessorTileSize"] > 2 * request["imageProcessorTileOverlap"]
    with pytest.raises(ValueError, match="bits"):
        generate_scene(SceneConfig(size=100, bits=12))
