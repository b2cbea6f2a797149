"""Models in the pipeline: built-in test models, HTTP endpoints over real HTTP, and failed tiles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tessera.serving import ModelServer
from tests.functional.conftest import Account, run, write_geotiff

QUADRANTS = {"red": (200, 30, 30), "green": (30, 200, 30), "purple": (180, 20, 180), "grey": (120, 120, 120)}


@pytest.fixture
def quadrant_image(tmp_path: Path) -> Path:
    """1024 x 1024 RGB GeoTIFF: red, green, purple and grey 512-pixel quadrants (UTM 33N)."""
    pixels = np.zeros((3, 1024, 1024), dtype=np.uint8)
    for (row, col), colour in zip([(0, 0), (0, 512), (512, 0), (512, 512)], QUADRANTS.values(), strict=True):
        for band, value in enumerate(colour):
            pixels[band, row : row + 512, col : col + 512] = value
    return write_geotiff(tmp_path / "quadrants.tif", pixels)


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer(("127.0.0.1", 0))
    server.serve_in_background()
    yield server
    server.shutdown()
    server.server_close()


def request_for(image: Path, processor: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "jobId": "models",
        "imageUrls": [str(image)],
        "imageProcessor": processor,
        "imageProcessorTileSize": 512,
        "imageProcessorTileOverlap": 0,
        **extra,
    }


def assert_failed_tiles_make_the_job_partial(account: Account, image: Path, result: dict[str, Any]) -> None:
    assert result["status"] == "PARTIAL"
    assert result["feature_count"] == 1, "only the grey tile gives a feature"
    (region,) = account.regions(f"models:{image}")
    assert region["region_status"] == "PARTIAL"
    assert sorted(region["failed_tiles"]) == [[[0, 0], [512, 512]], [[0, 512], [512, 512]], [[512, 0], [512, 512]]]
    assert region["succeeded_tiles"] == [[[512, 512], [512, 512]]]
    assert region["failed_tile_count"] == 3 and region["succeeded_tile_count"] == 1
    job = account.job("models")
    assert job["job_status"] == "PARTIAL" and job["tiles_failed"] == 3 and job["region_partial"] == 1


def test_builtin_failure_model_fails_tiles_not_the_region(account: Account, quadrant_image: Path, context: Any) -> None:
    result = run(request_for(quadrant_image, {"name": "failure", "type": "BUILTIN"}), context)
    assert_failed_tiles_make_the_job_partial(account, quadrant_image, result)
    (region,) = account.regions(f"models:{quadrant_image}")
    assert "red tile" in region["message"] and "malformed JSON" in region["message"]
    assert "neither imageGeometry nor imageBBox" in region["message"], "the purple tile's wrong key"


def test_http_endpoint_over_real_http(
    account: Account, quadrant_image: Path, model_server: ModelServer, context: Any
) -> None:
    processor = {"name": model_server.url, "type": "HTTP_ENDPOINT"}
    result = run(
        request_for(
            quadrant_image,
            processor,
            imageProcessorParameters={"CustomAttributes": "centerpoint"},
            imageProcessorTileFormat="PNG",
        ),
        context,
    )
    assert result["status"] == "SUCCESS"
    features = json.loads(account.s3.get_object(Bucket="results-bucket", Key="results/models.geojson")["Body"].read())
    boxes = sorted(tuple(f["properties"]["imageBBox"]) for f in features["features"])
    assert boxes == [
        (204.8, 204.8, 307.2, 307.2),
        (204.8, 716.8, 307.2, 819.2),
        (716.8, 204.8, 819.2, 307.2),
        (716.8, 716.8, 819.2, 819.2),
    ]


def test_http_endpoint_failures_are_tile_failures(
    account: Account, quadrant_image: Path, model_server: ModelServer, context: Any
) -> None:
    processor = {"name": model_server.url, "type": "HTTP_ENDPOINT"}
    request = request_for(
        quadrant_image, processor, imageProcessorParameters={"CustomAttributes": "model_selection=failure"}
    )
    result = run(request, context)
    assert_failed_tiles_make_the_job_partial(account, quadrant_image, result)
    (region,) = account.regions(f"models:{quadrant_image}")
    assert "answered 500" in region["message"] and "not JSON" in region["message"]


def test_unreachable_endpoint_fails_every_tile_with_a_message(
    account: Account, quadrant_image: Path, context: Any
) -> None:
    processor = {"name": "http://127.0.0.1:9/invocations", "type": "HTTP_ENDPOINT"}
    result = run(request_for(quadrant_image, processor, imageProcessorTileSize=1024), context)
    assert result["status"] == "FAILED"
    (region,) = account.regions(f"models:{quadrant_image}")
    assert region["region_status"] == "FAILED"
    assert "unreachable" in region["message"]


def test_redrive_reruns_only_the_failed_tiles(
    account: Account, quadrant_image: Path, model_server: ModelServer, context: Any
) -> None:
    request = request_for(quadrant_image, {"name": model_server.url, "type": "HTTP_ENDPOINT"})
    model_server.default_model = "failure"  # the endpoint fails three tiles...
    first = run(request, context)
    assert first["status"] == "PARTIAL"
    model_server.default_model = "centerpoint"  # ...then recovers; the same job is submitted again
    result = run(request, context)
    assert result["status"] == "SUCCESS"
    assert result["feature_count"] == 4
    body = account.s3.get_object(Bucket="results-bucket", Key="results/models.geojson")["Body"].read()
    classes = sorted(f["properties"]["featureClasses"][0]["iri"] for f in json.loads(body)["features"])
    assert classes == ["sample_object", "sample_object", "sample_object", "test_object"], "grey tile not re-run"


def test_resubmitting_with_another_model_reruns_every_tile(
    account: Account, quadrant_image: Path, context: Any
) -> None:
    request = request_for(quadrant_image, {"name": "failure", "type": "BUILTIN"})
    run(request, context)
    request["imageProcessor"] = {"name": "centerpoint", "type": "BUILTIN"}
    result = run(request, context)
    body = account.s3.get_object(Bucket="results-bucket", Key="results/models.geojson")["Body"].read()
    assert result["status"] == "SUCCESS"
    assert {f["properties"]["featureClasses"][0]["iri"] for f in json.loads(body)["features"]} == {"sample_object"}


def test_resubmitting_with_another_tile_size_aggregates_only_the_new_run(
    account: Account, quadrant_image: Path, context: Any
) -> None:
    request = request_for(quadrant_image, {"name": "centerpoint", "type": "BUILTIN"}, imageProcessorTileSize=256)
    assert run(request, context)["feature_count"] == 16
    request["imageProcessorTileSize"] = 512
    result = run(request, context)
    assert result["feature_count"] == 4
    assert account.job("models")["tile_count"] == 4


def test_flood_duplicates_across_overlapping_tiles_are_distilled(
    account: Account, quadrant_image: Path, context: Any
) -> None:
    processor = {"name": "flood", "type": "BUILTIN"}
    request = request_for(
        quadrant_image,
        processor,
        imageProcessorParameters={"CustomAttributes": "flood_volume=30"},
        postProcessing=[{"step": "FEATURE_DISTILLATION", "algorithm": {"algorithmType": "NMS", "iouThreshold": 0.3}}],
    )
    result = run(request, context)
    job = account.job("models")
    assert job["features_before_distillation"] == 4 * 30
    assert result["feature_count"] < 4 * 30
