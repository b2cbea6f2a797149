"""OSML ImageRequest parsing and validation (tessera.requests.image_request) and JobSpec defaults (job.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tessera.errors import InvalidRequestError
from tessera.requests import (
    DistillationAlgorithm,
    KinesisOutput,
    ModelInvokeMode,
    OutputFormat,
    S3Output,
    TileCompression,
    TileFormat,
    job_spec_from_request,
    parse_image_request,
)
from tessera.requests.job import DistillationSpec, OutputSpec

ROI = "POLYGON ((-77.2 38.8, -76.9 38.8, -76.9 39.0, -77.2 39.0, -77.2 38.8))"

#: An OSML v3 ImageRequest with every field set.
FULL_V3: dict[str, Any] = {
    "jobId": "job-1",
    "jobName": "full request",
    "imageUrls": ["s3://imagery/scene.ntf", "s3://imagery/ignored.ntf"],
    "outputs": [
        {"type": "S3", "bucket": "results-bucket", "prefix": "out/", "role": "arn:aws:iam::123456789012:role/w"},
        {"type": "Kinesis", "stream": "features", "batchSize": 250, "assumedRole": "arn:aws:iam::1:role/k"},
    ],
    "imageProcessor": {"name": "aircraft", "type": "HTTP_ENDPOINT", "assumedRole": "arn:aws:iam::1:role/m"},
    "imageProcessorParameters": {"CustomAttributes": "model_selection=centerpoint"},
    "imageProcessorTileSize": 2048,
    "imageProcessorTileOverlap": 64,
    "imageProcessorTileFormat": "GTIFF",
    "imageProcessorTileCompression": "LZW",
    "imageReadRole": "arn:aws:iam::123456789012:role/read",
    "regionOfInterest": ROI,
    "featureProperties": [{"modelMetadata": {"modelName": "aircraft"}}],
    "postProcessing": [
        {
            "step": "FEATURE_DISTILLATION",
            "algorithm": {"algorithmType": "SOFT_NMS", "iouThreshold": 0.5, "skipBoxThreshold": 0.01, "sigma": 0.2},
        }
    ],
}

MINIMAL: dict[str, Any] = {
    "jobId": "j1",
    "imageUrls": ["s3://imagery/a.tif"],
    "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    message = copy.deepcopy(base)
    for key, value in changes.items():
        if value is _DROP:
            message.pop(key, None)
        else:
            message[key] = value
    return message


_DROP = object()


def test_full_v3_request_parses_every_field() -> None:
    request = parse_image_request(copy.deepcopy(FULL_V3))

    assert request.job_id == "job-1"
    assert request.job_name == "full request"
    assert request.image_url == "s3://imagery/scene.ntf"  # OSML uses only the first URL
    s3, kinesis = request.outputs
    assert isinstance(s3, S3Output)
    assert (s3.bucket, s3.prefix, s3.role) == ("results-bucket", "out/", "arn:aws:iam::123456789012:role/w")
    assert isinstance(kinesis, KinesisOutput)
    assert (kinesis.stream, kinesis.batch_size, kinesis.assumed_role) == ("features", 250, "arn:aws:iam::1:role/k")
    assert request.image_processor.name == "aircraft"
    assert request.image_processor.type is ModelInvokeMode.HTTP_ENDPOINT
    assert request.image_processor.assumed_role == "arn:aws:iam::1:role/m"
    assert request.image_processor_parameters == {"CustomAttributes": "model_selection=centerpoint"}
    assert (request.tile_size, request.tile_overlap) == (2048, 64)
    assert request.tile_format is TileFormat.GTIFF
    assert request.tile_compression is TileCompression.LZW
    assert request.image_read_role == "arn:aws:iam::123456789012:role/read"
    assert request.region_of_interest == ROI
    assert request.feature_properties == [{"modelMetadata": {"modelName": "aircraft"}}]
    algorithm = request.distillation
    assert algorithm.algorithm_type is DistillationAlgorithm.SOFT_NMS
    assert (algorithm.iou_threshold, algorithm.skip_box_threshold, algorithm.sigma) == (0.5, 0.01, 0.2)


def test_minimal_request_gets_osml_defaults() -> None:
    request = parse_image_request(copy.deepcopy(MINIMAL))

    assert request.tile_format is TileFormat.NITF
    assert request.tile_compression is TileCompression.NONE
    assert request.tile_size is None and request.tile_overlap is None
    assert request.outputs == []
    assert request.region_of_interest is None
    assert request.distillation.algorithm_type is DistillationAlgorithm.NMS
    assert request.distillation.iou_threshold == 0.75


def test_image_processor_type_defaults_to_sagemaker_endpoint() -> None:
    request = parse_image_request(_with(MINIMAL, imageProcessor={"name": "my-endpoint"}))
    assert request.image_processor.type is ModelInvokeMode.SM_ENDPOINT


def test_numeric_string_tile_size_is_accepted_like_osml() -> None:
    request = parse_image_request(_with(MINIMAL, imageProcessorTileSize="512", imageProcessorTileOverlap="32"))
    assert (request.tile_size, request.tile_overlap) == (512, 32)


def test_nms_accepts_the_documented_example_with_skip_box_threshold() -> None:
    steps = [
        {
            "step": "FEATURE_DISTILLATION",
            "algorithm": {"algorithmType": "NMS", "iouThreshold": 0.4, "skipBoxThreshold": 0.5},
        }
    ]
    request = parse_image_request(_with(MINIMAL, postProcessing=steps))
    assert request.distillation.algorithm_type is DistillationAlgorithm.NMS
    assert request.distillation.iou_threshold == 0.4


def test_legacy_output_bucket_and_prefix_become_one_s3_output() -> None:
    request = parse_image_request(_with(MINIMAL, outputBucket="legacy-bucket", outputPrefix="legacy/prefix"))
    assert len(request.outputs) == 1
    output = request.outputs[0]
    assert isinstance(output, S3Output)
    assert (output.bucket, output.prefix) == ("legacy-bucket", "legacy/prefix")


def test_legacy_output_bucket_without_prefix() -> None:
    request = parse_image_request(_with(MINIMAL, outputBucket="legacy-bucket", outputs=[]))
    assert [(o.bucket, o.prefix) for o in request.outputs] == [("legacy-bucket", "")]


def test_explicit_outputs_win_over_legacy_bucket() -> None:
    outputs = [{"type": "S3", "bucket": "new-bucket", "prefix": "p"}]
    request = parse_image_request(_with(MINIMAL, outputs=outputs, outputBucket="legacy-bucket"))
    assert [o.bucket for o in request.outputs] == ["new-bucket"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"imageProcessorTileSize": 0}, "imageProcessorTileSize"),
        ({"imageProcessorTileSize": -512}, "imageProcessorTileSize"),
        ({"imageProcessorTileSize": "big"}, "imageProcessorTileSize"),
        ({"imageProcessorTileOverlap": -1}, "imageProcessorTileOverlap"),
        ({"imageProcessorTileFormat": "TIFF"}, "imageProcessorTileFormat"),
        ({"imageProcessorTileCompression": "ZSTD"}, "imageProcessorTileCompression"),
        ({"regionOfInterest": "POLYGON ((0 0, 1 0, 1"}, "regionOfInterest"),
        ({"regionOfInterest": "POINT (1 2)"}, "regionOfInterest"),
        ({"jobId": _DROP}, "jobId"),
        ({"jobId": ""}, "jobId"),
        ({"imageUrls": []}, "imageUrls"),
        ({"imageUrls": _DROP}, "imageUrls"),
        ({"imageUrls": ["  "]}, "imageUrls"),
        ({"imageProcessor": _DROP}, "imageProcessor"),
        ({"imageProcessor": {"name": "m", "type": "NONE"}}, "imageProcessor.type"),
        ({"imageProcessor": {"name": ""}}, "imageProcessor.name"),
        ({"imageProcessor": {"name": "m", "assumedRole": "role/x"}}, "imageProcessor.assumedRole"),
        ({"outputs": [{"type": "S3", "prefix": "p"}]}, "outputs[0].bucket"),
        ({"outputs": [{"type": "S3", "bucket": "b"}]}, "outputs[0].bucket"),  # too short for an S3 bucket
        ({"outputs": [{"type": "S3", "bucket": "bucket", "role": "not-an-arn"}]}, "outputs[0].role"),
        ({"outputs": [{"type": "Kinesis", "stream": "s", "assumedRole": "x"}]}, "outputs[0].assumedRole"),
        ({"outputs": [{"type": "Kinesis", "stream": "s", "batchSize": 501}]}, "outputs[0].batchSize"),
        ({"outputs": [{"type": "s3", "bucket": "bucket"}]}, "outputs[0]"),  # type strings are case-sensitive
        ({"outputs": [{"type": "S3", "bucket": "bucket", "format": "PARQUET"}]}, "outputs[0].format"),
        ({"outputs": [{"type": "S3", "bucket": "bucket", "format": "geoparquet"}]}, "outputs[0].format"),
        (
            {"outputs": [{"type": "Kinesis", "stream": "s"}, {"type": "S3", "bucket": "bucket", "format": 1}]},
            "outputs[1].format",
        ),
        ({"imageReadRole": "role/read"}, "imageReadRole"),
        (
            {"postProcessing": [{"step": "FEATURE_DISTILLATION"}, {"step": "FEATURE_DISTILLATION"}]},
            "postProcessing",
        ),
        ({"postProcessing": [{"step": "OTHER"}]}, "postProcessing[0].step"),
        (
            {"postProcessing": [{"step": "FEATURE_DISTILLATION", "algorithm": {"iouThreshold": 1.5}}]},
            "postProcessing[0].algorithm.iouThreshold",
        ),
        (
            {"postProcessing": [{"step": "FEATURE_DISTILLATION", "algorithm": {"algorithmType": "WBF"}}]},
            "postProcessing[0].algorithm.algorithmType",
        ),
    ],
)
def test_invalid_field_is_named_by_its_osml_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_image_request(_with(MINIMAL, **changes))
    assert caught.value.field == field
    assert f"{field}:" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"imageProcessorTileSize": 512, "imageProcessorTileOverlap": 512}, "imageProcessorTileOverlap"),
        ({"imageProcessorTileSize": 512, "imageProcessorTileOverlap": 600}, "imageProcessorTileOverlap"),
        ({"imageProcessorTileFormat": "PNG", "imageProcessorTileCompression": "LZW"}, "imageProcessorTileCompression"),
        ({"imageProcessorTileFormat": "JPEG", "imageProcessorTileCompression": "J2K"}, "imageProcessorTileCompression"),
        (
            {"imageProcessorTileFormat": "GTIFF", "imageProcessorTileCompression": "J2K"},
            "imageProcessorTileCompression",
        ),
        ({"imageProcessorTileFormat": "NITF", "imageProcessorTileCompression": "LZW"}, "imageProcessorTileCompression"),
    ],
)
def test_inconsistent_tile_settings_name_the_field_in_the_message(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_image_request(_with(MINIMAL, **changes))
    assert named in str(caught.value)


def test_overlap_not_smaller_than_size_sets_the_error_field() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_image_request(_with(MINIMAL, imageProcessorTileSize=512, imageProcessorTileOverlap=512))
    assert caught.value.field == "imageProcessorTileOverlap"


@pytest.mark.parametrize(
    ("tile_format", "compressions"),
    [
        ("NITF", ["NONE", "JPEG", "J2K"]),
        ("GTIFF", ["NONE", "JPEG", "LZW"]),
        ("JPEG", ["NONE", "JPEG"]),
        ("PNG", ["NONE"]),
    ],
)
def test_valid_format_compression_pairs(tile_format: str, compressions: list[str]) -> None:
    for compression in compressions:
        request = parse_image_request(
            _with(MINIMAL, imageProcessorTileFormat=tile_format, imageProcessorTileCompression=compression)
        )
        assert (request.tile_format.value, request.tile_compression.value) == (tile_format, compression)


def test_every_problem_is_listed_and_the_first_is_the_error_field() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_image_request({"imageUrls": [], "imageProcessor": {"name": "m"}, "imageProcessorTileSize": 0})
    message = str(caught.value)
    for field in ("jobId", "imageUrls", "imageProcessorTileSize"):
        assert f"{field}:" in message
    assert caught.value.field == "jobId"


@pytest.mark.parametrize("message", [None, "jobId", ["jobId"], 42])
def test_a_non_object_is_rejected(message: Any) -> None:
    with pytest.raises(InvalidRequestError, match="JSON object"):
        parse_image_request(message)


def test_empty_roi_means_no_roi() -> None:
    assert parse_image_request(_with(MINIMAL, regionOfInterest="  ")).region_of_interest is None


def test_multipolygon_roi_is_accepted() -> None:
    wkt = "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2)))"
    assert parse_image_request(_with(MINIMAL, regionOfInterest=wkt)).region_of_interest == wkt


DEFAULT_OUTPUT = OutputSpec(kind="S3", bucket="stack-results", prefix="jobs/")


def _spec(message: dict[str, Any], **overrides: Any):
    options = {
        "default_tile_size": 512,
        "default_tile_overlap": 32,
        "region_size": 10240,
        "default_output": DEFAULT_OUTPUT,
    }
    options.update(overrides)
    return job_spec_from_request(parse_image_request(message), **options)


def test_job_spec_applies_the_stack_defaults() -> None:
    spec = _spec(copy.deepcopy(MINIMAL))

    assert spec.job_id == "j1"
    assert spec.image_url == "s3://imagery/a.tif"
    assert spec.image_id == "j1:s3://imagery/a.tif"
    assert (spec.tile_size, spec.tile_overlap, spec.region_size) == (512, 32, 10240)
    assert spec.tile_format is TileFormat.NITF and spec.tile_compression is TileCompression.NONE
    assert spec.model_name == "centerpoint" and spec.model_invoke_mode is ModelInvokeMode.BUILTIN
    assert spec.model_parameters == {}
    assert spec.outputs == [DEFAULT_OUTPUT]
    assert spec.distillation == DistillationSpec()
    assert spec.distillation.algorithm is DistillationAlgorithm.NMS and spec.distillation.iou_threshold == 0.75
    assert spec.roi_wkt is None and spec.feature_properties == []


def test_job_spec_keeps_every_requested_value() -> None:
    spec = _spec(copy.deepcopy(FULL_V3))

    assert (spec.tile_size, spec.tile_overlap) == (2048, 64)
    assert (spec.tile_format, spec.tile_compression) == (TileFormat.GTIFF, TileCompression.LZW)
    assert spec.model_role == "arn:aws:iam::1:role/m"
    assert spec.image_read_role == "arn:aws:iam::123456789012:role/read"
    assert spec.model_parameters == {"CustomAttributes": "model_selection=centerpoint"}
    assert spec.outputs == [
        OutputSpec(kind="S3", bucket="results-bucket", prefix="out/", role="arn:aws:iam::123456789012:role/w"),
        OutputSpec(kind="Kinesis", stream="features", batch_size=250, role="arn:aws:iam::1:role/k"),
    ]
    assert spec.distillation == DistillationSpec(
        algorithm=DistillationAlgorithm.SOFT_NMS, iou_threshold=0.5, skip_box_threshold=0.01, sigma=0.2
    )
    assert spec.roi_wkt == ROI
    assert spec.job_name == "full request"


def test_default_overlap_shrinks_below_a_small_requested_tile_size() -> None:
    spec = _spec(_with(MINIMAL, imageProcessorTileSize=16))
    assert (spec.tile_size, spec.tile_overlap) == (16, 15)


def test_requested_overlap_not_smaller_than_the_default_tile_size_is_rejected() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        _spec(_with(MINIMAL, imageProcessorTileOverlap=512))
    assert caught.value.field == "imageProcessorTileOverlap"
    assert "imageProcessorTileSize (512)" in str(caught.value)


def test_zero_overlap_is_kept() -> None:
    spec = _spec(_with(MINIMAL, imageProcessorTileSize=1024, imageProcessorTileOverlap=0))
    assert (spec.tile_size, spec.tile_overlap) == (1024, 0)


def test_a_bad_output_format_names_the_field_and_the_allowed_values() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_image_request(_with(MINIMAL, outputs=[{"type": "S3", "bucket": "bucket", "format": "CSV"}]))
    assert caught.value.field == "outputs[0].format"
    assert str(caught.value) == "invalid image request: outputs[0].format: Input should be 'GEOJSON' or 'GEOPARQUET'"


def test_s3_output_format_defaults_to_geojson_and_reaches_the_job() -> None:
    outputs = [
        {"type": "S3", "bucket": "bucket", "prefix": "a/"},
        {"type": "S3", "bucket": "bucket", "prefix": "b/", "format": "GEOPARQUET"},
    ]
    request = parse_image_request(_with(MINIMAL, outputs=outputs))
    assert [o.format for o in request.outputs] == [OutputFormat.GEOJSON, OutputFormat.GEOPARQUET]
    spec = _spec(_with(MINIMAL, outputs=outputs))
    assert spec.outputs == [
        OutputSpec(kind="S3", bucket="bucket", prefix="a/"),
        OutputSpec(kind="S3", bucket="bucket", prefix="b/", format=OutputFormat.GEOPARQUET),
    ]
    assert type(spec).model_validate_json(spec.model_dump_json()) == spec
    assert spec.model_dump(mode="json")["outputs"][1]["format"] == "GEOPARQUET"
    assert _spec(_with(MINIMAL, outputBucket="legacy-bucket")).outputs[0].format is OutputFormat.GEOJSON


def test_job_spec_round_trips_through_json() -> None:
    spec = _spec(copy.deepcopy(FULL_V3))
    again = type(spec).model_validate_json(spec.model_dump_json())
    assert again == spec
