"""The GeoParquet sink (tessera.sinks.parquet) against moto's S3, read back with pyarrow and shapely.

Files are read with ``use_threads=False``: pyarrow's threaded reader can abort the interpreter at exit
(apache/arrow#34314); the sink itself only writes.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from moto import mock_aws
from shapely.geometry import shape

from tessera.errors import SinkError
from tessera.sinks import GeoParquetSink
from tessera.sinks.parquet import BBOX_FIELDS, arrow_schema

BUCKET = "results-bucket"


@pytest.fixture
def s3(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def read(s3: Any, key: str) -> tuple[pa.Table, pq.FileMetaData]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return pq.read_table(pa.BufferReader(body), use_threads=False), pq.ParquetFile(pa.BufferReader(body)).metadata


def polygon(x: float, y: float, size: float = 0.001) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(i: int, geometry: dict[str, Any] | None) -> dict[str, Any]:
    """An output feature as the aggregate step writes it (OSML's properties)."""
    lon, lat = (None, None) if geometry is None else shape(geometry).centroid.coords[0]
    properties = {
        "imageGeometry": {"type": "Polygon", "coordinates": [[[i, 0], [i + 8, 0], [i + 8, 8], [i, 8], [i, 0]]]},
        "imageBBox": [i, 0, i + 8, 8],
        "featureClasses": [{"iri": "ship", "score": 0.25 + i % 3 / 10}, {"iri": "boat", "score": 0.1}],
        "inferenceMetadata": {"jobId": "job", "inferenceDT": "2026-11-23T00:00:00Z"},
        "sensorModel": "affine",
        "modelMetadata": {"modelName": "cfar"},
    }
    if lon is not None:
        properties |= {"center_longitude": lon, "center_latitude": lat}
    else:
        properties["geolocated"] = False
    return {"type": "Feature", "id": f"job:{i}", "geometry": geometry, "properties": properties}


def features(count: int) -> list[dict[str, Any]]:
    """Polygons around (10, 45), a point every 7th feature and no geometry every 11th."""
    out = []
    for i in range(count):
        x, y = 10.0 + i * 0.01, 45.0 - (i % 5) * 0.02
        geometry: dict[str, Any] | None = polygon(x, y)
        if i % 7 == 3:
            geometry = {"type": "Point", "coordinates": [x, y]}
        if i % 11 == 5:
            geometry = None
        out.append(feature(i, geometry))
    return out


def test_features_round_trip_with_geoparquet_metadata(s3: Any) -> None:
    written = features(250)
    sink = GeoParquetSink(s3, BUCKET, "detections", batch_rows=100)

    assert sink.write("job", iter(written)) == f"s3://{BUCKET}/detections/job.parquet"

    table, metadata = read(s3, "detections/job.parquet")
    assert table.num_rows == 250
    assert metadata.num_row_groups == 3, "one row group per batch"
    assert table.schema.names == arrow_schema().names
    assert table.column("id").to_pylist() == [f["id"] for f in written]

    wkb = table.column("geometry").to_pylist()
    geometries = shapely.from_wkb(np.array(wkb, dtype=object))
    for decoded, original in zip(geometries, written, strict=True):
        if original["geometry"] is None:
            assert decoded is None
        else:
            assert decoded.equals_exact(shape(original["geometry"]), tolerance=0)

    geo = json.loads(table.schema.metadata[b"geo"])
    assert json.loads(metadata.metadata[b"geo"]) == geo, "the file's key-value metadata carries it"
    assert geo["version"] == "1.1.0"
    assert geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert column["geometry_types"] == ["Point", "Polygon"]
    assert "crs" not in column, "no crs: OGC:CRS84, longitude/latitude"
    assert column["bbox"] == shapely.total_bounds(geometries).tolist()
    assert column["bbox"] == pytest.approx([10.0, 44.92, 12.491, 45.001])
    assert column["covering"] == {"bbox": {name: ["bbox", name] for name in BBOX_FIELDS}}


def test_bbox_covering_column_and_property_columns(s3: Any) -> None:
    written = features(30)
    GeoParquetSink(s3, BUCKET).write("job", written)

    rows = read(s3, "job.parquet")[0].to_pylist()
    for row, original in zip(rows, written, strict=True):
        properties = original["properties"]
        if original["geometry"] is None:
            assert row["bbox"] is None and row["geometry"] is None
            assert row["center_longitude"] is None and row["center_latitude"] is None
        else:
            bounds = shape(original["geometry"]).bounds
            assert [row["bbox"][name] for name in BBOX_FIELDS] == list(bounds)
            assert (row["center_longitude"], row["center_latitude"]) == (
                properties["center_longitude"],
                properties["center_latitude"],
            )
        assert (row["featureClass"], row["score"]) == ("ship", properties["featureClasses"][0]["score"])
        for name in ("featureClasses", "imageGeometry", "imageBBox", "inferenceMetadata"):
            assert json.loads(row[name]) == properties[name], name
        rest = {k: v for k, v in properties.items() if k not in arrow_schema().names}
        assert json.loads(row["properties"]) == rest
        assert "sensorModel" in rest and "modelMetadata" in rest


def test_no_features_give_a_valid_empty_file(s3: Any) -> None:
    GeoParquetSink(s3, BUCKET, "empty").write("job", iter([]))
    table, _ = read(s3, "empty/job.parquet")
    assert table.num_rows == 0 and table.schema.names == arrow_schema().names
    column = json.loads(table.schema.metadata[b"geo"])["columns"]["geometry"]
    assert column["geometry_types"] == [] and "bbox" not in column


def test_a_feature_without_classes_has_no_class_or_score(s3: Any) -> None:
    bare = {"type": "Feature", "id": 7, "geometry": polygon(1, 2), "properties": {"featureClasses": []}}
    GeoParquetSink(s3, BUCKET).write("job", [bare])
    (row,) = read(s3, "job.parquet")[0].to_pylist()
    assert (row["id"], row["featureClass"], row["score"], row["featureClasses"]) == ("7", None, None, "[]")


def test_nan_fails_the_sink_and_leaves_nothing_behind(s3: Any) -> None:
    bad = features(5)
    bad[3]["properties"]["imageBBox"] = [float("nan"), 0, 1, 1]
    with pytest.raises(SinkError, match=re.escape(f"s3://{BUCKET}/job.parquet cannot be written as GeoParquet")):
        GeoParquetSink(s3, BUCKET).write("job", bad)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)


def test_invalid_geometry_fails_the_sink(s3: Any) -> None:
    bad = features(2)
    bad[1]["geometry"] = {"type": "Polygon", "coordinates": "nonsense"}
    with pytest.raises(SinkError, match="cannot be written as GeoParquet"):
        GeoParquetSink(s3, BUCKET).write("job", bad)


def test_a_missing_bucket_is_named(s3: Any) -> None:
    with pytest.raises(SinkError, match=re.escape("s3://no-such-bucket/p/job.parquet")):
        GeoParquetSink(s3, "no-such-bucket", "p").write("job", features(3))


def test_without_pyarrow_the_output_fails_with_a_clear_message(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as in a function without the parquet layer
    with pytest.raises(SinkError, match="no pyarrow"):
        GeoParquetSink(s3, BUCKET).write("job", features(1))
