"""Outputs: S3 (GeoJSON, GeoParquet) and Kinesis together, batching, and a job failing only when every output fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.functional.conftest import Account, run, run_job


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


def read_geoparquet(account: Account, bucket: str, key: str) -> Any:
    """The table of a GeoParquet output (read without threads: see tests/unit/test_geoparquet.py)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    body = account.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return pq.read_table(pa.BufferReader(body), use_threads=False)


def test_geoparquet_output_alongside_geojson_holds_the_same_features(
    account: Account, rgb_byte: Path, context: Any
) -> None:
    import numpy as np
    import shapely
    from shapely.geometry import shape

    outputs = [
        {"type": "S3", "bucket": "results-bucket", "prefix": "geojson"},
        {"type": "S3", "bucket": "other-output", "prefix": "tables/", "format": "GEOPARQUET"},
    ]
    loaded, _, result = run_job(flood_request(rgb_byte, outputs), context)
    assert loaded["job"]["outputs"][1]["format"] == "GEOPARQUET", "the format travels in the state payload"
    assert result["status"] == "SUCCESS"
    assert result["outputs"] == [
        {"kind": "S3", "status": "SUCCESS", "location": "s3://results-bucket/geojson/sinks.geojson"},
        {"kind": "S3", "status": "SUCCESS", "location": "s3://other-output/tables/sinks.parquet"},
    ]
    assert account.job("sinks")["outputs_written"] == result["outputs"]
    collection = json.loads(account.s3.get_object(Bucket="results-bucket", Key="geojson/sinks.geojson")["Body"].read())
    table = read_geoparquet(account, "other-output", "tables/sinks.parquet")
    assert table.num_rows == result["feature_count"] == len(collection["features"]) == 600
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [f["id"] for f in collection["features"]]
    geometries = shapely.from_wkb(np.array([r["geometry"] for r in rows], dtype=object))
    expected = [shape(f["geometry"]) for f in collection["features"]]
    assert all(a.equals_exact(b, tolerance=0) for a, b in zip(geometries, expected, strict=True))
    first, row = collection["features"][0]["properties"], rows[0]
    assert json.loads(row["featureClasses"]) == first["featureClasses"]
    assert json.loads(row["inferenceMetadata"]) == first["inferenceMetadata"]
    assert first["inferenceMetadata"]["jobId"] == "sinks"
    assert (row["center_longitude"], row["center_latitude"]) == (first["center_longitude"], first["center_latitude"])
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["columns"]["geometry"]["bbox"] == shapely.total_bounds(geometries).tolist()
    assert geo["columns"]["geometry"]["geometry_types"] == sorted({g.geom_type for g in expected})


def test_a_failed_geoparquet_output_is_recorded_and_the_geojson_one_goes_on(
    account: Account, rgb_byte: Path, context: Any
) -> None:
    outputs = [
        {"type": "S3", "bucket": "no-such-bucket", "format": "GEOPARQUET"},
        {"type": "S3", "bucket": "results-bucket"},
    ]
    result = run(flood_request(rgb_byte, outputs), context)
    assert result["status"] == "SUCCESS"
    parquet, geojson = result["outputs"]
    assert parquet["status"] == "FAILED" and "s3://no-such-bucket/sinks.parquet" in parquet["message"]
    assert geojson == {"kind": "S3", "status": "SUCCESS", "location": "s3://results-bucket/sinks.geojson"}
    assert "outputs failed" in account.job("sinks")["message"]


def test_large_geoparquet_files_stream_as_a_multipart_upload(account: Account) -> None:
    import random

    from tessera.sinks import GeoParquetSink

    noise = random.Random(7)

    def features() -> Iterator[dict[str, Any]]:
        for i in range(30_000):
            x = 10 + i * 1e-5
            yield {
                "type": "Feature",
                "id": f"f{i}",
                "geometry": {"type": "Point", "coordinates": [x, 45.0]},
                "properties": {"featureClasses": [{"iri": "ship", "score": 0.5}], "pad": noise.randbytes(200).hex()},
            }

    sink = GeoParquetSink(account.s3, "results-bucket", "big", part_bytes=5 * 1024 * 1024, batch_rows=10_000)
    calls: list[int] = []
    original = account.s3.upload_part

    def counting_upload_part(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Body"]))
        return original(**kwargs)

    account.s3.upload_part = counting_upload_part  # type: ignore[method-assign]
    assert sink.write("huge", features()) == "s3://results-bucket/big/huge.parquet"
    assert len(calls) >= 2, "the file went up in parts"
    table = read_geoparquet(account, "results-bucket", "big/huge.parquet")
    assert table.num_rows == 30_000 and table.column("id")[-1].as_py() == "f29999"
    assert json.loads(table.schema.metadata[b"geo"])["columns"]["geometry"]["bbox"] == [10.0, 45.0, 10.29999, 45.0]
