"""A whole job with the ``onnx`` built-in model, the model file in (moto's) S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.functional.conftest import Account, run, write_geotiff
from tests.unit.onnx_models import grid_detector

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

#: Bright squares as image rows r0:r1, columns c0:c1, each inside one 512-pixel tile.
SQUARES = [(100, 600, 150, 660), (700, 200, 760, 250), (900, 900, 940, 950)]


@pytest.fixture
def bright_objects(tmp_path: Path) -> Path:
    """1024 x 1024 16-bit single-band GeoTIFF: dark, with bright squares."""
    pixels = np.full((1, 1024, 1024), 2000, dtype=np.uint16)
    for r0, c0, r1, c1 in SQUARES:
        pixels[:, r0:r1, c0:c1] = 65000
    return write_geotiff(tmp_path / "bright.tif", pixels)


def test_onnx_model_from_s3_finds_the_bright_objects(
    account: Account, bright_objects: Path, tmp_path: Path, context: Any
) -> None:
    model = grid_detector(tmp_path / "grid.onnx", size=640)
    account.s3.upload_file(str(model), "results-bucket", "models/grid.onnx")
    request = {
        "jobId": "onnx-job",
        "imageUrls": [str(bright_objects)],
        "imageProcessor": {"name": "onnx", "type": "BUILTIN"},
        "imageProcessorParameters": {
            "model_uri": "s3://results-bucket/models/grid.onnx",
            "input_size": 640,
            "class_names": ["bright"],
            "score_threshold": 0.5,
        },
        "imageProcessorTileSize": 512,
        "imageProcessorTileOverlap": 0,
    }
    result = run(request, context)
    assert result["status"] == "SUCCESS"
    body = account.s3.get_object(Bucket="results-bucket", Key="results/onnx-job.geojson")["Body"].read()
    features = json.loads(body)["features"]
    assert features
    hit = set()
    for feature in features:
        x1, y1, x2, y2 = feature["properties"]["imageBBox"]
        squares = [i for i, (r0, c0, r1, c1) in enumerate(SQUARES) if x1 < c1 and x2 > c0 and y1 < r1 and y2 > r0]
        assert squares, f"detection {[x1, y1, x2, y2]} is not on a bright object"
        hit.update(squares)
        assert feature["properties"]["featureClasses"][0]["iri"] == "bright"
        assert feature["geometry"]["type"] == "Polygon"
    assert hit == set(range(len(SQUARES)))


def test_onnx_model_without_model_uri_fails_at_load(account: Account, bright_objects: Path, context: Any) -> None:
    from tessera.handlers import load_image

    request = {
        "jobId": "onnx-bad",
        "imageUrls": [str(bright_objects)],
        "imageProcessor": {"name": "onnx", "type": "BUILTIN"},
        "imageProcessorParameters": {"input_size": 640},
    }
    with pytest.raises(Exception, match=r"imageProcessorParameters\.model_uri"):
        load_image.handler(request, context)
