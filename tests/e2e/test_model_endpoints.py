"""The local run with models behind endpoints: HTTP over 127.0.0.1, and SageMaker routed to a model server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local import LocalPipeline
from tessera.serving import ModelServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer(("127.0.0.1", 0), default_model="centerpoint")
    server.serve_in_background()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, model_server: ModelServer) -> Iterator[LocalPipeline]:
    with LocalPipeline(work_dir=tmp_path_factory.mktemp("endpoints"), endpoints={"osml-models": model_server.url}) as p:
        yield p


def test_http_endpoint_model(pipeline: LocalPipeline, model_server: ModelServer, rgb_byte: Path) -> None:
    request = {
        "jobId": "http-model",
        "imageProcessor": {"name": model_server.url, "type": "HTTP_ENDPOINT"},
        "imageProcessorTileFormat": "GTIFF",
    }
    run = pipeline.wait(pipeline.submit_request(request, image=rgb_byte))
    assert run.job_status == "SUCCESS", (run.job or {}).get("message")
    features = (pipeline.features(run) or {})["features"]
    assert len(features) == (run.job or {})["tile_count"] == 4
    assert {f["properties"]["featureClasses"][0]["iri"] for f in features} == {"sample_object"}


def test_sagemaker_endpoint_model(pipeline: LocalPipeline, rgb_byte: Path) -> None:
    request = {
        "jobId": "sm-model",
        "imageProcessor": {"name": "osml-models", "type": "SM_ENDPOINT"},
        "imageProcessorParameters": {"CustomAttributes": "model_selection=flood,flood_volume=5"},
        "imageProcessorTileFormat": "NITF",
    }
    run = pipeline.wait(pipeline.submit_request(request, image=rgb_byte))
    assert run.job_status == "SUCCESS", (run.job or {}).get("message")
    job = run.job or {}
    assert job["features_before_distillation"] == 5 * job["tile_count"]
    spec = json.loads(job["job_spec"])
    assert spec["model_parameters"]["CustomAttributes"] == "model_selection=flood,flood_volume=5"


def test_unknown_sagemaker_endpoint_fails_the_job(pipeline: LocalPipeline, rgb_byte: Path) -> None:
    request = {"jobId": "sm-missing", "imageProcessor": {"name": "no-such-endpoint", "type": "SM_ENDPOINT"}}
    run = pipeline.wait(pipeline.submit_request(request, image=rgb_byte))
    assert run.job_status == "FAILED"
    assert "no-such-endpoint" in (run.job or {}).get("message", "")
