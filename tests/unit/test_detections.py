"""Model features refined, geolocated and finalized (tessera.detections.features)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from shapely.geometry import shape

from tessera.detections import (
    feature_box,
    feature_class,
    finalize_features,
    geolocate_features,
    refine_tile_features,
)
from tessera.errors import ModelError
from tessera.geo import sensor_model_for
from tessera.tiling import ImageRegion

TILE = ImageRegion(row=1000, col=3000, width=512, height=512)  # row -> y offset 1000, col -> x offset 3000


def feature(**properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": None, "properties": properties}


def test_image_geometry_and_bbox_are_translated_by_the_tile_origin() -> None:
    model_output = [
        feature(
            imageGeometry={"type": "Polygon", "coordinates": [[[10, 20], [30, 20], [30, 40], [10, 40], [10, 20]]]},
            imageBBox=[10, 20, 30, 40],
            featureClasses=[{"iri": "car", "score": 0.7}],
            modelMetadata={"modelName": "m"},
        )
    ]
    original = copy.deepcopy(model_output)

    (refined,) = refine_tile_features(model_output, TILE)

    props = refined["properties"]
    assert props["imageGeometry"] == {
        "type": "Polygon",
        "coordinates": [[[3010, 1020], [3030, 1020], [3030, 1040], [3010, 1040], [3010, 1020]]],
    }
    assert props["imageBBox"] == [3010, 1020, 3030, 1040]
    assert props["featureClasses"] == [{"iri": "car", "score": 0.7}]
    assert props["modelMetadata"] == {"modelName": "m"}
    assert refined["geometry"] is None
    assert model_output == original  # the model's features are not modified


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        ({"type": "Point", "coordinates": [5, 6]}, {"type": "Point", "coordinates": [3005, 1006]}),
        ({"type": "Point", "coordinates": [5.5, 6.25, 0.0]}, {"type": "Point", "coordinates": [3005.5, 1006.25, 0.0]}),
        (
            {"type": "LineString", "coordinates": [[0, 0], [1, 2]]},
            {"type": "LineString", "coordinates": [[3000, 1000], [3001, 1002]]},
        ),
        (
            {"type": "MultiPoint", "coordinates": [[0, 0], [511, 511]]},
            {"type": "MultiPoint", "coordinates": [[3000, 1000], [3511, 1511]]},
        ),
    ],
)
def test_every_geometry_type_is_translated(geometry: dict[str, Any], expected: dict[str, Any]) -> None:
    (refined,) = refine_tile_features([feature(imageGeometry=geometry, featureClasses=[])], TILE)
    assert refined["properties"]["imageGeometry"] == expected
    minx, miny, maxx, maxy = shape(expected).bounds
    assert refined["properties"]["imageBBox"] == [minx, miny, maxx, maxy]  # bbox derived from the geometry


def test_bbox_only_feature_keeps_no_geometry() -> None:
    (refined,) = refine_tile_features([feature(imageBBox=[1.5, 2.5, 3.5, 4.5])], TILE)
    assert refined["properties"]["imageBBox"] == [3001.5, 1002.5, 3003.5, 1004.5]
    assert "imageGeometry" not in refined["properties"]
    assert refined["properties"]["featureClasses"] == []


def test_deprecated_keys_are_converted() -> None:
    old = feature(
        bounds_imcoords=[10, 20, 30, 40],
        geom_imcoords=[[10, 20], [30, 20], [30, 40], [10, 40]],  # ring not closed
        feature_types={"aircraft": 0.9, "helicopter": "0.1"},
        detection_score=0.5,
        image_id="old:image",
        inferenceTime="2020-01-01T00:00:00",
    )

    (refined,) = refine_tile_features([old], TILE)

    props = refined["properties"]
    assert props["imageBBox"] == [3010, 1020, 3030, 1040]
    assert props["imageGeometry"] == {
        "type": "Polygon",
        "coordinates": [[[3010, 1020], [3030, 1020], [3030, 1040], [3010, 1040], [3010, 1020]]],
    }
    assert props["featureClasses"] == [{"iri": "aircraft", "score": 0.9}, {"iri": "helicopter", "score": 0.1}]
    for key in ("bounds_imcoords", "geom_imcoords", "feature_types", "detection_score", "image_id", "inferenceTime"):
        assert key not in props


def test_closed_deprecated_ring_is_not_closed_twice() -> None:
    ring = [[0, 0], [4, 0], [4, 4], [0, 0]]
    (refined,) = refine_tile_features([feature(geom_imcoords=ring)], ImageRegion(0, 0, 8, 8))
    assert refined["properties"]["imageGeometry"]["coordinates"] == [ring]


def test_detection_score_alone_becomes_one_feature_class() -> None:
    (refined,) = refine_tile_features([feature(imageBBox=[0, 0, 1, 1], detection_score="0.25")], TILE)
    assert refined["properties"]["featureClasses"] == [{"iri": "unknown", "score": 0.25}]


def test_current_keys_win_over_deprecated_ones() -> None:
    (refined,) = refine_tile_features(
        [
            feature(
                imageBBox=[0, 0, 2, 2],
                bounds_imcoords=[100, 100, 200, 200],
                featureClasses=[{"iri": "new", "score": 1.0}],
                feature_types={"old": 0.5},
            )
        ],
        ImageRegion(0, 0, 512, 512),
    )
    assert refined["properties"]["imageBBox"] == [0, 0, 2, 2]
    assert refined["properties"]["featureClasses"] == [{"iri": "new", "score": 1.0}]


@pytest.mark.parametrize(
    "bad",
    [
        feature(featureClasses=[{"iri": "a", "score": 1.0}]),
        feature(),
        {"type": "Feature", "geometry": None},
        {"type": "Feature", "properties": None},
        "not a feature",
    ],
)
def test_feature_without_position_is_a_model_error(bad: Any) -> None:
    with pytest.raises(ModelError, match=r"feature 1 of tile \(1000, 3000\)\(512, 512\)"):
        refine_tile_features([feature(imageBBox=[0, 0, 1, 1]), bad], TILE)


def test_feature_box_and_class() -> None:
    f = feature(imageBBox=[1, 2, 3, 4], featureClasses=[{"iri": "a", "score": 0.2}, {"iri": "b", "score": 0.8}])
    assert feature_box(f) == (1.0, 2.0, 3.0, 4.0)
    assert feature_class(f) == ("b", 0.8)
    assert feature_class(feature(imageBBox=[0, 0, 1, 1])) == ("", 0.0)


@pytest.fixture(scope="module")
def utm_model(data_dir: Path) -> Any:
    path = data_dir / "RGB.byte.tif"
    if not path.is_file():
        pytest.skip("RGB.byte.tif missing")
    with rasterio.open(path) as ds:
        return sensor_model_for(ds)


def refined_examples() -> list[dict[str, Any]]:
    tile = ImageRegion(row=200, col=300, width=256, height=256)
    return refine_tile_features(
        [
            feature(
                imageGeometry={
                    "type": "Polygon",
                    "coordinates": [[[10, 10], [60, 15], [50, 70], [5, 40], [10, 10]]],
                },
                featureClasses=[{"iri": "building", "score": 0.9}],
            ),
            feature(imageGeometry={"type": "Point", "coordinates": [100.5, 120.25]}, imageBBox=[95, 115, 106, 126]),
            feature(imageBBox=[200, 10, 240, 30]),
            feature(
                imageGeometry={"type": "LineString", "coordinates": [[0, 0], [10, 50], [30, 60]]},
                featureClasses=[{"iri": "road", "score": 0.4}],
            ),
        ],
        tile,
    )


def test_geolocation_applies_the_sensor_model_to_every_vertex(utm_model: Any) -> None:
    features = refined_examples()

    geolocate_features(features, utm_model)

    for f in features:
        props = f["properties"]
        pixel = props.get("imageGeometry") or shapely.geometry.mapping(shapely.box(*props["imageBBox"]))
        pixel_coords = shapely.get_coordinates(shape(pixel))
        world = f["geometry"]
        assert world["type"] == pixel["type"]
        world_coords = shapely.get_coordinates(shape(world))
        assert world_coords.shape == pixel_coords.shape
        for (x, y), (lon, lat) in zip(pixel_coords, world_coords, strict=True):
            expected_lon, expected_lat = utm_model.image_to_world([x], [y])
            assert lon == pytest.approx(expected_lon[0], abs=1e-12)
            assert lat == pytest.approx(expected_lat[0], abs=1e-12)
        assert props["sensorModel"] == "affine"


def test_geolocation_center_and_bbox(utm_model: Any) -> None:
    features = refined_examples()
    geolocate_features(features, utm_model)

    for f in features:
        props = f["properties"]
        pixel = props.get("imageGeometry") or shapely.geometry.mapping(shapely.box(*props["imageBBox"]))
        centroid = shape(pixel).centroid
        center_lon, center_lat = utm_model.image_to_world([centroid.x], [centroid.y])
        assert props["center_longitude"] == pytest.approx(center_lon[0], abs=1e-12)
        assert props["center_latitude"] == pytest.approx(center_lat[0], abs=1e-12)

        minx, miny, maxx, maxy = props["imageBBox"]
        corner_lon, corner_lat = utm_model.image_to_world([minx, maxx, maxx, minx], [miny, miny, maxy, maxy])
        assert f["bbox"] == pytest.approx(
            [corner_lon.min(), corner_lat.min(), corner_lon.max(), corner_lat.max()], abs=1e-12
        )
        assert f["bbox"][0] < props["center_longitude"] < f["bbox"][2]
        assert f["bbox"][1] < props["center_latitude"] < f["bbox"][3]
    # the polygon's centroid is its area centroid, not the centre of its bounding box
    polygon = features[0]["properties"]
    box_centre = utm_model.image_to_world(
        [(polygon["imageBBox"][0] + polygon["imageBBox"][2]) / 2],
        [(polygon["imageBBox"][1] + polygon["imageBBox"][3]) / 2],
    )
    assert polygon["center_longitude"] != pytest.approx(box_centre[0][0], abs=1e-9)


def test_geolocated_features_are_valid_json(utm_model: Any) -> None:
    import json

    features = refined_examples()
    geolocate_features(features, utm_model)
    again = json.loads(json.dumps(features))
    assert again == json.loads(json.dumps(features))
    assert isinstance(again[0]["geometry"]["coordinates"][0][0][0], float)


def test_geolocation_without_a_model_leaves_pixel_features() -> None:
    features = refined_examples()
    geolocate_features(features, None)
    for f in features:
        assert f["geometry"] is None
        assert "bbox" not in f
        assert f["properties"]["sensorModel"] == "none"
        assert "center_longitude" not in f["properties"]


def test_geolocation_of_nothing_is_a_no_op(utm_model: Any) -> None:
    features: list[dict[str, Any]] = []
    geolocate_features(features, utm_model)
    assert features == []


def test_geolocation_through_an_rpc_model(data_file: Callable[[str], Path]) -> None:
    with rasterio.open(data_file("RGB.byte.rpc.vrt")) as ds:
        model = sensor_model_for(ds)
    features = refined_examples()
    geolocate_features(features, model)
    coords = shapely.get_coordinates(shape(features[0]["geometry"]))
    pixel = shapely.get_coordinates(shape(features[0]["properties"]["imageGeometry"]))
    lon, lat = model.image_to_world(pixel[:, 0], pixel[:, 1])
    np.testing.assert_allclose(coords[:, 0], lon, atol=1e-12)
    np.testing.assert_allclose(coords[:, 1], lat, atol=1e-12)
    assert features[0]["properties"]["sensorModel"] == "rpc"


def test_finalize_adds_osml_output_properties() -> None:
    features = refine_tile_features(
        [feature(imageBBox=[0, 0, 1, 1]), feature(imageBBox=[2, 2, 3, 3])],
        ImageRegion(0, 0, 16, 16),
    )
    source = {"location": "s3://b/k.ntf", "format": "NITF", "category": "VIS"}

    final = finalize_features(
        features,
        job_id="job-9",
        inference_dt="2024-05-01T12:00:00Z",
        feature_properties=[{"modelMetadata": {"modelName": "m"}}, {"project": "p", "modelMetadata": {"v": 2}}],
        source_metadata=source,
    )

    assert len(final) == 2
    for f in final:
        props = f["properties"]
        assert props["inferenceMetadata"] == {"jobId": "job-9", "inferenceDT": "2024-05-01T12:00:00Z"}
        assert props["modelMetadata"] == {"v": 2}  # dict.update, later entries win (as OSML)
        assert props["project"] == "p"
        assert props["sourceMetadata"] == [source]
    assert [f["id"] for f in final] == ["job-9:0", "job-9:1"]


def test_finalize_keeps_an_existing_id() -> None:
    final = finalize_features([feature(imageBBox=[0, 0, 1, 1]) | {"id": "model-id"}], job_id="j", inference_dt="t")
    assert final[0]["id"] == "model-id"


def test_refinement_keeps_the_model_feature_id() -> None:
    (refined,) = refine_tile_features([feature(imageBBox=[0, 0, 1, 1]) | {"id": "model-id"}], TILE)
    assert refined.get("id") == "model-id"


def test_finalize_without_extras() -> None:
    (final,) = finalize_features([feature(imageBBox=[0, 0, 1, 1])], job_id="j", inference_dt="t")
    assert final["properties"] == {"imageBBox": [0, 0, 1, 1], "inferenceMetadata": {"jobId": "j", "inferenceDT": "t"}}


def test_an_invalid_image_geometry_fails_its_tile_with_a_model_error() -> None:
    broken = {"type": "Feature", "properties": {"imageGeometry": {"type": "Polygon", "coordinates": [1, 2, 3]}}}
    with pytest.raises(ModelError, match="invalid imageGeometry"):
        refine_tile_features([broken], TILE)
