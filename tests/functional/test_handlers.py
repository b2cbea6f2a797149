"""The Lambda handlers against moto and real images: each step, then the failure paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from tessera.errors import ImageReadError, InvalidRequestError
from tessera.handlers import aggregate, load_image, process_region, record_failure
from tests.functional.conftest import Account, run_job


def image_request(image: Path | str, job_id: str = "job-1", **extra: Any) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "imageUrls": [str(image)],
        "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
        **extra,
    }


def test_load_splits_the_image_and_records_the_job(account: Account, rgb_byte: Path, context: Any) -> None:
    loaded = load_image.handler(
        image_request(rgb_byte, imageProcessorTileSize=256, imageProcessorTileOverlap=16), context
    )
    assert loaded["bounds"] == [[0, 0], [791, 718]]
    # OSML's grid: the adjusted overlap (78 px across) leaves the last column out; only full tiles are cut.
    assert loaded["regions"] == [[[0, 0], [790, 718]]]
    assert len(json.dumps(loaded)) < 4096, "the reply must stay far below Step Functions' 256 KB"
    job = account.job("job-1")
    assert job["job_status"] == "IN_PROGRESS"
    assert job["region_count"] == 1
    assert job["tile_count"] == 4 * 3
    assert job["image"]["sensor_model"] == "affine"
    assert [m["MessageAttributes"]["status"]["Value"] for m in account.status_messages()] == ["STARTED", "IN_PROGRESS"]


def test_whole_job_writes_one_feature_per_tile_to_the_results_bucket(
    account: Account, rgb_byte: Path, context: Any
) -> None:
    loaded, regions, result = run_job(image_request(rgb_byte, featureProperties=[{"modelMetadata": {"v": 1}}]), context)
    assert result["status"] == "SUCCESS"
    tiles = account.job("job-1")["tile_count"]
    assert result["feature_count"] == tiles == 12
    body = account.s3.get_object(Bucket="results-bucket", Key="results/job-1.geojson")["Body"].read()
    collection = json.loads(body)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == tiles
    feature = collection["features"][0]
    props = feature["properties"]
    assert props["inferenceMetadata"]["jobId"] == "job-1"
    assert props["modelMetadata"] == {"v": 1}
    assert feature["geometry"]["type"] == "Point"
    (region,) = account.regions(loaded["job"]["job_id"] + ":" + str(rgb_byte))
    assert region["region_status"] == "SUCCESS"
    assert region["succeeded_tile_count"] == tiles and region["failed_tile_count"] == 0
    assert region["region_bounds"] == [[0, 0], [790, 718]]
    assert region["region_id"] == "(0, 0)(790, 718)-job-1"
    assert regions[0]["features"] == tiles
    job = account.job("job-1")
    assert job["job_status"] == "SUCCESS"
    assert job["region_success"] == 1 and job["tiles_succeeded"] == tiles
    assert job["outputs_written"] == [
        {"kind": "S3", "status": "SUCCESS", "location": "s3://results-bucket/results/job-1.geojson"}
    ]
    statuses = [m["MessageAttributes"]["status"]["Value"] for m in account.status_messages()]
    assert statuses == ["STARTED", "IN_PROGRESS", "SUCCESS"]


def test_request_outputs_choose_the_bucket_and_prefix(account: Account, rgb_byte: Path, context: Any) -> None:
    request = image_request(rgb_byte, outputs=[{"type": "S3", "bucket": "other-output", "prefix": "team/a"}])
    run_job(request, context)
    assert json.loads(account.s3.get_object(Bucket="other-output", Key="team/a/job-1.geojson")["Body"].read())[
        "features"
    ]


def test_all_nodata_tiles_are_skipped_not_sent_to_the_model(account: Account, data_dir: Path, context: Any) -> None:
    image = data_dir / "all-nodata.tif"
    _, regions, result = run_job(image_request(image, imageProcessorTileSize=64, imageProcessorTileOverlap=0), context)
    job = account.job("job-1")
    assert job["tiles_skipped"] == job["tile_count"] > 0
    assert result["feature_count"] == 0
    assert all(r["status"] == "SUCCESS" for r in regions)


def test_resubmitting_a_job_never_duplicates_features(account: Account, rgb_byte: Path, context: Any) -> None:
    request = image_request(rgb_byte)
    first = run_job(request, context)[2]
    second = run_job(request, context)[2]
    assert second["feature_count"] == first["feature_count"] == 12
    job = account.job("job-1")
    assert job["submissions"] == 2
    (region,) = account.regions(f"job-1:{rgb_byte}")
    assert region["region_retry_count"] == 1


def test_invalid_request_fails_the_job_with_a_message_naming_the_field(
    account: Account, rgb_byte: Path, context: Any
) -> None:
    request = image_request(rgb_byte, imageProcessorTileSize=-5)
    with pytest.raises(InvalidRequestError, match="imageProcessorTileSize"):
        load_image.handler(request, context)
    cause = json.dumps(
        {
            "errorType": "InvalidRequestError",
            "errorMessage": "invalid image request: imageProcessorTileSize: Input should be greater than 0",
        }
    )
    reply = record_failure.handler({**request, "error": {"Error": "InvalidRequestError", "Cause": cause}}, context)
    assert reply["status"] == "FAILED"
    job = account.job("job-1")
    assert job["job_status"] == "FAILED"
    assert job["message"] == "invalid image request: imageProcessorTileSize: Input should be greater than 0"
    (message,) = account.status_messages()
    assert message["MessageAttributes"]["status"]["Value"] == "FAILED"
    assert "imageProcessorTileSize" in message["Message"]


def test_unreadable_image_fails_with_the_image_named(account: Account, tmp_path: Path, context: Any) -> None:
    bogus = tmp_path / "not-an-image.tif"
    bogus.write_text("hello")
    with pytest.raises(ImageReadError, match=r"not-an-image\.tif"):
        load_image.handler(image_request(bogus), context)


def test_unknown_builtin_model_fails_before_any_region(account: Account, rgb_byte: Path, context: Any) -> None:
    request = image_request(rgb_byte)
    request["imageProcessor"] = {"name": "no-such-model", "type": "BUILTIN"}
    with pytest.raises(InvalidRequestError, match=r"imageProcessor\.name"):
        load_image.handler(request, context)


def test_a_failed_region_is_recorded_and_the_job_is_partial(account: Account, rgb_byte: Path, context: Any) -> None:
    with rasterio.open(rgb_byte) as src:
        width, height = src.width, src.height
    loaded = load_image.handler(
        image_request(rgb_byte, imageProcessorTileSize=256, imageProcessorTileOverlap=16), context
    )
    assert loaded["bounds"] == [[0, 0], [width, height]]
    job = loaded["job"]
    # Region-size 10240 gives one region here; split the image by hand into two regions to show the
    # Catch inside the Map: the first succeeds, the second "fails after its retries".
    first, second = [[0, 0], [496, height]], [[0, 480], [width - 480, height]]
    process_region.handler({"job": job, "region": first}, context)
    cause = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 900.00 seconds"})
    failed = record_failure.handler(
        {"job": job, "region": second, "error": {"Error": "Sandbox.Timedout", "Cause": cause}}, context
    )
    assert failed == {"status": "FAILED", "message": "Sandbox.Timedout: Task timed out after 900.00 seconds"}
    account.dynamodb.Table("jobs").update_item(
        Key={"job_id": "job-1"}, UpdateExpression="SET region_count = :n", ExpressionAttributeValues={":n": 2}
    )
    result = aggregate.handler({"job": job}, context)
    assert result["status"] == "PARTIAL"
    regions = {r["region_id"]: r for r in account.regions(f"job-1:{rgb_byte}")}
    assert regions[f"(0, 480)({width - 480}, {height})-job-1"]["region_status"] == "FAILED"
    assert "Task timed out" in account.job("job-1")["message"]


def test_metrics_use_osml_names_and_dimensions(
    account: Account, rgb_byte: Path, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run_job(image_request(rgb_byte), context)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    emitted = {
        (line["Operation"], metric["Name"])
        for line in lines
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    for operation in ("RegionProcessing", "TileProcessing", "FeatureAggregation", "ImageProcessing"):
        assert (operation, "Invocations") in emitted, operation
    assert ("RegionProcessing", "Duration") in emitted and ("ImageProcessing", "Duration") in emitted
    region = next(line for line in lines if line["Operation"] == "RegionProcessing")
    assert region["ModelName"] == "centerpoint" and region["InputFormat"] == "GTIFF"
    assert ["Operation", "ModelName", "InputFormat"] in region["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def test_region_status_messages_when_enabled(
    account: Account, rgb_byte: Path, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.handlers import _runtime

    monkeypatch.setenv("TESSERA_REGION_STATUS", "true")
    _runtime.services.cache_clear()
    run_job(image_request(rgb_byte), context)
    messages = account.status_messages()
    region_messages = [m for m in messages if "region_id" in m["MessageAttributes"]]
    (region,) = region_messages
    attributes = region["MessageAttributes"]
    assert attributes["status"]["Value"] == "SUCCESS"
    assert attributes["region_id"]["Value"].endswith("-job-1")
    assert attributes["failed_tiles"]["Value"] == "[]"
    assert [m["MessageAttributes"]["status"]["Value"] for m in messages if m not in region_messages] == [
        "STARTED",
        "IN_PROGRESS",
        "SUCCESS",
    ]


def test_rpc_geolocation_uses_the_configured_elevation_model(
    account: Account, data_dir: Path, context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasterio.transform import RPCTransformer, from_origin

    from tessera.handlers import _runtime

    dem = tmp_path / "dem.tif"
    profile = {
        "driver": "GTiff",
        "width": 300,
        "height": 300,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(-125.0, 51.0, 0.01, 0.01),
    }
    with rasterio.open(dem, "w", **profile) as dst:
        dst.write(np.full((1, 300, 300), 1500.0, dtype=np.float32))
    image = data_dir / "RGB.byte.rpc.vrt"

    def centres(job_id: str) -> list[tuple[float, float]]:
        run_job(image_request(image, job_id=job_id), context)
        body = account.s3.get_object(Bucket="results-bucket", Key=f"results/{job_id}.geojson")["Body"].read()
        features = sorted(json.loads(body)["features"], key=lambda f: f["properties"]["imageBBox"])
        return [(f["properties"]["center_longitude"], f["properties"]["center_latitude"]) for f in features]

    at_zero = centres("height-zero")
    monkeypatch.setenv("TESSERA_ELEVATION_MODEL", str(dem))
    _runtime.services.cache_clear()
    on_dem = centres("on-dem")
    with rasterio.open(image) as src:
        expected = RPCTransformer(src.rpcs, RPC_HEIGHT=1500.0)
        features = sorted(
            json.loads(account.s3.get_object(Bucket="results-bucket", Key="results/on-dem.geojson")["Body"].read())[
                "features"
            ],
            key=lambda f: f["properties"]["imageBBox"],
        )
        for feature, (lon, lat) in zip(features, on_dem, strict=True):
            x, y = feature["properties"]["imageGeometry"]["coordinates"]
            # GDAL intersects the DEM iteratively: agreement to ~0.3 m with a constant height
            assert (lon, lat) == pytest.approx(expected.xy(y, x, offset="ul"), abs=1e-5)
    assert all(abs(a[0] - b[0]) > 1e-4 for a, b in zip(at_zero, on_dem, strict=True)), "the DEM moved every feature"


def test_a_duplicate_execution_does_not_start_the_job_twice(account: Account, rgb_byte: Path, context: Any) -> None:
    from tessera.errors import JobAlreadyRunningError

    request = image_request(rgb_byte)
    loaded = load_image.handler(request, context)  # the first execution is in progress
    with pytest.raises(JobAlreadyRunningError, match="already running"):
        load_image.handler(request, context)  # EventBridge delivered the event twice
    cause = json.dumps({"errorType": "JobAlreadyRunningError", "errorMessage": "job job-1 is already running"})
    record_failure.handler({"input": request, "error": {"Error": "JobAlreadyRunningError", "Cause": cause}}, context)
    assert account.job("job-1")["job_status"] == "IN_PROGRESS", "the duplicate must not mark the running job FAILED"
    for region in loaded["regions"]:
        process_region.handler({"job": loaded["job"], "region": region}, context)
    assert aggregate.handler({"job": loaded["job"]}, context)["status"] == "SUCCESS"
    job = account.job("job-1")
    assert job["region_success"] == job["region_count"] == 1 and job["submissions"] == 1


def test_bands_a_tile_format_cannot_carry_fail_the_job_early(account: Account, data_dir: Path, context: Any) -> None:
    request = image_request(data_dir / "RGBA.uint16.tif", imageProcessorTileFormat="JPEG")
    request["imageProcessor"] = {"name": "http://127.0.0.1:9/invocations", "type": "HTTP_ENDPOINT"}
    with pytest.raises(InvalidRequestError, match=r"imageProcessorTileFormat JPEG .* 4 bands"):
        load_image.handler(request, context)


def test_tiles_too_small_for_a_region_item_fail_with_the_field_named(
    account: Account, rgb_byte: Path, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.pipeline import load

    monkeypatch.setattr(load, "MAX_TILES_PER_REGION", 10)
    with pytest.raises(InvalidRequestError, match=r"imageProcessorTileSize 128 gives \d+ tiles per region"):
        load_image.handler(image_request(rgb_byte, imageProcessorTileSize=128, imageProcessorTileOverlap=0), context)


def test_a_region_out_of_time_saves_its_progress_and_goes_on(account: Account, rgb_byte: Path, context: Any) -> None:
    from tessera.errors import RegionTimeBudgetError
    from tessera.pipeline import process_region as run_region
    from tessera.pipeline.services import build_services
    from tessera.requests import JobSpec
    from tessera.tiling import ImageRegion

    request = image_request(rgb_byte, imageProcessorTileSize=256, imageProcessorTileOverlap=16)
    loaded = load_image.handler(request, context)
    job, (region,) = JobSpec.model_validate(loaded["job"]), loaded["regions"]
    services = build_services()
    clock = iter([100.0, 100.0, 100.0, 30.0])  # the budget runs out after the fourth tile
    with pytest.raises(RegionTimeBudgetError, match="4 of 12 tiles done"):
        run_region(job, ImageRegion.from_osml(region), services, seconds_left=lambda: next(clock, 0.0))
    (saved,) = account.regions(job.image_id)
    assert saved["region_status"] == "IN_PROGRESS" and saved["succeeded_tile_count"] == 4
    assert account.job("job-1")["region_success"] == 0, "an unfinished region is not counted"
    reply = run_region(job, ImageRegion.from_osml(region), services, seconds_left=lambda: 900.0)
    assert reply["status"] == "SUCCESS" and reply["features"] == 12 and reply["tiles"] == 8
    result = aggregate.handler({"job": loaded["job"]}, context)
    assert result["feature_count"] == 12, "no tile was lost or run twice"
    assert account.job("job-1")["region_success"] == 1


def test_nitf_features_carry_osmls_source_metadata(
    account: Account, rgb_byte: Path, context: Any, tmp_path: Path
) -> None:
    import rasterio.shutil

    nitf = tmp_path / "scene.ntf"
    with rasterio.open(rgb_byte) as src:
        rasterio.shutil.copy(src, nitf, driver="NITF", FTITLE="Harbour survey", ICAT="VIS", IDATIM="20240517093000")
    assert run_job(image_request(nitf), context)[2]["status"] == "SUCCESS"
    body = account.s3.get_object(Bucket="results-bucket", Key="results/job-1.geojson")["Body"].read()
    (source,) = json.loads(body)["features"][0]["properties"]["sourceMetadata"]
    assert source == {
        "location": str(nitf),
        "format": "NITF",
        "category": "VIS",
        "sourceId": "HARBOUR SURVEY",
        "sourceDT": "2024-05-17T09:30:00Z",
    }
