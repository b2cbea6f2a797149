"""Outputs: S3 and Kinesis together, batching, and a job that fails only when every output fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.functional.conftest import Account, run


def stream_records(stream: str) -> list[dict[str, Any]]:
    kinesis = boto3.client("kinesis")
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=10000)["Records"]
    return records


def flood_request(image: Path, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "jobId": "sinks",
        "imageUrls": [str(image)],
        "imageProcessor": {"name": "flood", "type": "BUILTIN"},
        "imageProcessorParameters": {"CustomAttributes": "flood_volume=150"},
        "imageProcessorTileSize": 512,
        "imageProcessorTileOverlap": 32,
        "outputs": outputs,
        "postProcessing": [
            {"step": "FEATURE_DISTILLATION", "algorithm": {"algorithmType": "NMS", "iouThreshold": 1.0}}
        ],
    }


def test_s3_and_kinesis_outputs_get_every_feature(account: Account, rgb_byte: Path, context: Any) -> None:
    boto3.client("kinesis").create_stream(StreamName="detections", ShardCount=1)
    outputs = [{"type": "S3", "bucket": "other-output", "prefix": "x"}, {"type": "Kinesis", "stream": "detections"}]
    result = run(flood_request(rgb_byte, outputs), context)
    assert result["status"] == "SUCCESS"
    assert [o["status"] for o in result["outputs"]] == ["SUCCESS", "SUCCESS"]
    count = result["feature_count"]
    assert count == 4 * 150 > 500, "more than one PutRecords batch"
    records = stream_records("detections")
    assert len(records) == count
    assert {r["PartitionKey"] for r in records} == {"sinks"}
    first = json.loads(records[0]["Data"])
    assert first["type"] == "FeatureCollection" and len(first["features"]) == 1
    s3_features = json.loads(account.s3.get_object(Bucket="other-output", Key="x/sinks.geojson")["Body"].read())
    assert {f["id"] for f in s3_features["features"]} == {json.loads(r["Data"])["features"][0]["id"] for r in records}


def test_one_failed_output_is_recorded_and_the_job_goes_on(account: Account, rgb_byte: Path, context: Any) -> None:
    outputs = [{"type": "Kinesis", "stream": "no-such-stream"}, {"type": "S3", "bucket": "results-bucket"}]
    result = run(flood_request(rgb_byte, outputs), context)
    assert result["status"] == "SUCCESS"
    kinesis, s3 = result["outputs"]
    assert kinesis["status"] == "FAILED" and "no-such-stream" in kinesis["message"]
    assert s3["status"] == "SUCCESS"
    assert "outputs failed" in account.job("sinks")["message"]


def test_the_job_fails_when_every_output_fails(account: Account, rgb_byte: Path, context: Any) -> None:
    outputs = [{"type": "Kinesis", "stream": "no-such-stream"}, {"type": "S3", "bucket": "no-such-bucket"}]
    result = run(flood_request(rgb_byte, outputs), context)
    assert result["status"] == "FAILED"
    job = account.job("sinks")
    assert job["job_status"] == "FAILED"
    assert "no-such-bucket" in job["message"] and "no-such-stream" in job["message"]


def test_large_collections_stream_as_a_multipart_upload(account: Account) -> None:
    from tessera.sinks import S3GeoJSONSink

    def features() -> Iterator[dict[str, Any]]:
        for i in range(20_000):
            box = [i, i, i + 10.5, i + 10.5]
            yield {
                "type": "Feature",
                "id": f"f{i}",
                "geometry": None,
                "properties": {"imageBBox": box, "featureClasses": [{"iri": "ship", "score": 0.5}], "pad": "x" * 300},
            }

    sink = S3GeoJSONSink(account.s3, "results-bucket", "big", part_bytes=5 * 1024 * 1024)
    calls: list[str] = []
    original = account.s3.upload_part

    def counting_upload_part(**kwargs: Any) -> Any:
        calls.append(kwargs["Key"])
        return original(**kwargs)

    account.s3.upload_part = counting_upload_part  # type: ignore[method-assign]
    assert sink.write("huge", features()) == "s3://results-bucket/big/huge.geojson"
    assert len(calls) >= 2, "the collection went up in parts"
    body = json.loads(account.s3.get_object(Bucket="results-bucket", Key="big/huge.geojson")["Body"].read())
    assert len(body["features"]) == 20_000 and body["features"][-1]["id"] == "f19999"


def test_nan_never_reaches_the_output(account: Account) -> None:
    from tessera.errors import SinkError
    from tessera.sinks import S3GeoJSONSink

    bad = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float("nan"), 0.0]}, "properties": {}}]
    with pytest.raises(SinkError, match="not valid JSON"):
        S3GeoJSONSink(account.s3, "results-bucket").write("nan", iter(bad))
