"""Viewpoint ingest against a moto server: COG, statistics, sidecars and the guarded status changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import MaskFlags
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_validate

from tessera.errors import ImageReadError, ViewpointStateError
from tessera.handlers import record_viewpoint_failure
from tessera.viewpoints.models import ViewpointCreate
from tests.viewpoints.conftest import SOURCE_BUCKET, VIEWPOINT_BUCKET, TileServer


def _document(server: TileServer, item: dict, name: str) -> dict:
    return server.service.document(item, name)


def test_ingest_writes_a_valid_cog_in_the_same_pixel_grid(tile_server: TileServer, rgb_byte: Path) -> None:
    item = tile_server.ingest(rgb_byte, "landsat")
    assert item["viewpoint_status"] == "READY"
    assert item["attempts"] == 1 and "expire_time" not in item and item["processing_duration"] >= 0
    assert set(item["timings"]) >= {"cog_s", "statistics_s", "total_s"}
    path = tile_server.service.cog_path(item)
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        assert cog_validate(path, quiet=True)[0]
        with rasterio.open(path) as cog, rasterio.open(rgb_byte) as source:
            assert (cog.width, cog.height, cog.count) == (source.width, source.height, source.count)
            assert cog.overviews(1), "internal overviews"
            assert cog.block_shapes[0] == (512, 512)
            assert np.array_equal(cog.read(), source.read())
            # rio-cogeo's add_mask: nodata became an internal mask with the same valid pixels
            assert np.array_equal(cog.dataset_mask() > 0, source.dataset_mask() > 0)


def test_statistics_are_exact_at_full_resolution(tile_server: TileServer, rgb_byte: Path) -> None:
    item = tile_server.service.table.get("landsat") or tile_server.ingest(rgb_byte, "landsat")
    stats = _document(tile_server, item, "statistics")["image_statistics"]
    with rasterio.open(rgb_byte) as source:
        pixels, valid = source.read(), source.dataset_mask() > 0
    for band in range(3):
        values = pixels[band][valid]
        b = stats[f"b{band + 1}"]
        assert b["count"] == values.size and b["valid_pixels"] == values.size
        assert (b["min"], b["max"]) == (values.min(), values.max())
        assert b["mean"] == pytest.approx(values.mean())
        assert b["std"] == pytest.approx(values.std(), rel=1e-6)
        # exact percentiles: the value at 2 % and 98 % of the sorted valid pixels
        ordered = np.sort(values)
        assert b["percentile_2"] == ordered[int(np.ceil(0.02 * values.size)) - 1]
        assert b["percentile_98"] == ordered[int(np.ceil(0.98 * values.size)) - 1]
        assert sum(b["histogram"][0]) == values.size
        low, high = b["dra"]
        assert values.min() <= low <= b["percentile_2"] and b["percentile_98"] <= high <= values.max()


def test_sidecars_describe_the_image(tile_server: TileServer, rgb_byte: Path) -> None:
    item = tile_server.service.table.get("landsat") or tile_server.ingest(rgb_byte, "landsat")
    with rasterio.open(rgb_byte) as source:
        expected = transform_bounds(source.crs, "EPSG:4326", *source.bounds)
        width, height = source.width, source.height
    assert _document(tile_server, item, "bounds") == {"bounds": [0, 0, width, height]}
    info = _document(tile_server, item, "info")
    feature = info["features"][0]
    assert feature["id"] == "RGB.byte.tif" and feature["properties"]["sensor_model"] == "AFFINE"
    ring = np.array(feature["geometry"]["coordinates"][0])
    assert ring[0].tolist() == ring[-1].tolist()
    assert ring[:, 0].min() == pytest.approx(expected[0], abs=1e-6) and ring[:, 1].max() == pytest.approx(expected[3])
    metadata = _document(tile_server, item, "metadata")
    assert metadata["metadata"]["AREA_OR_POINT"] == "Area" and metadata["crs"] == "EPSG:32618"


def test_rpc_image_keeps_its_rpcs_and_footprint(tile_server: TileServer, data_dir: Path, tmp_path: Path) -> None:
    # the RPC VRT references RGB.byte.tif beside it: make it one file the ingest can read from S3
    single = tmp_path / "rpc.tif"
    with rasterio.open(data_dir / "RGB.byte.rpc.vrt") as vrt:
        rasterio.shutil.copy(vrt, single, driver="GTiff")
        rpcs = vrt.rpcs
    item = tile_server.ingest(single, "rpc-scene")
    assert item["image"]["has_rpc"] and item["image"]["crs"] is None
    with rasterio.open(tile_server.service.cog_path(item)) as cog, rasterio.open(single) as source:
        # GDAL's COG driver keeps the RPCs; nodata became an internal mask, as on the rio-cogeo path
        assert cog.mask_flag_enums[0] == [MaskFlags.per_dataset] and cog.nodata is None
        assert np.array_equal(cog.dataset_mask() > 0, source.dataset_mask() > 0)
        assert np.array_equal(cog.read(), source.read())
        assert cog.rpcs is not None
        assert cog.rpcs.line_num_coeff == pytest.approx(rpcs.line_num_coeff)
        assert (cog.rpcs.long_off, cog.rpcs.lat_off) == pytest.approx((rpcs.long_off, rpcs.lat_off))
    feature = _document(tile_server, item, "info")["features"][0]
    assert feature["properties"]["sensor_model"] == "RPC"
    ring = np.array(feature["geometry"]["coordinates"][0])
    assert len(ring) == 65  # 16 points per edge through the RPC model, closed
    transformer = rasterio.transform.RPCTransformer(rpcs)
    lon, lat = transformer.xy(0, 0, zs=0, offset="ul")
    assert ring[0] == pytest.approx([lon, lat], abs=1e-6)


def test_sixteen_bit_image_gets_dra_from_its_histogram(tile_server: TileServer, data_dir: Path) -> None:
    item = tile_server.ingest(data_dir / "RGBA.uint16.tif", "rgba16", range_adjustment="DRA")
    assert item["image"]["dtype"] == "uint16" and item["image"]["band_count"] == 4
    stats = _document(tile_server, item, "statistics")["image_statistics"]
    assert stats["b1"]["valid_percent"] == pytest.approx(48.86, abs=0.01)  # alpha → mask


def test_a_bad_image_fails_with_a_message_and_never_becomes_ready(tile_server: TileServer, tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.tif"
    bad.write_text("this is text, not a TIFF")
    with pytest.raises(ImageReadError, match="cannot open image"):
        tile_server.ingest(bad, "broken")
    # the workflow's Catch hands the error to the failure function
    error = {"Error": "ImageReadError", "Cause": json.dumps({"errorMessage": "cannot open image x: not a TIFF"})}
    reply = record_viewpoint_failure.handler({"viewpoint_id": "broken", "error": error}, _context())
    assert reply["viewpoint_status"] == "FAILED"
    item = tile_server.service.table.get("broken")
    assert item["viewpoint_status"] == "FAILED" and item["error_message"] == "cannot open image x: not a TIFF"
    assert item["expire_time"] > item["created_time"] // 1000  # a real TTL
    with pytest.raises(ViewpointStateError, match="is FAILED; it cannot become READY"):
        tile_server.service.table.ready("broken")
    listed = tile_server.s3.list_objects_v2(Bucket=VIEWPOINT_BUCKET, Prefix="viewpoints/broken/")
    assert listed.get("KeyCount", 0) == 0


def test_missing_object_fails_the_viewpoint(tile_server: TileServer) -> None:
    request = ViewpointCreate(
        viewpoint_id="missing", viewpoint_name="m", bucket_name=SOURCE_BUCKET, object_key="nothing/here.tif"
    )
    tile_server.service.create(request)
    with pytest.raises(ImageReadError, match=r"cannot open image /vsis3/imagery/nothing/here\.tif"):
        tile_server.service.run_ingest({"viewpoint_id": "missing"})


def test_create_is_idempotent(tile_server: TileServer) -> None:
    request = ViewpointCreate(viewpoint_id="twice", viewpoint_name="a", bucket_name=SOURCE_BUCKET, object_key="k.tif")
    first, created = tile_server.service.create(request)
    again, created_again = tile_server.service.create(request.model_copy(update={"viewpoint_name": "b"}))
    assert created and not created_again
    assert again["viewpoint_name"] == "a" and again["created_time"] == first["created_time"]


def test_deleted_while_ingesting_leaves_nothing(tile_server: TileServer, rgb_byte: Path) -> None:
    key = tile_server.upload(rgb_byte, "uploads/gone.tif")
    tile_server.service.create(
        ViewpointCreate(viewpoint_id="gone", viewpoint_name="g", bucket_name=SOURCE_BUCKET, object_key=key)
    )
    original = tile_server.service.table.ready

    def deleted_meanwhile(viewpoint_id: str, **attributes: object) -> dict:
        tile_server.service.table.delete(viewpoint_id)
        return original(viewpoint_id, **attributes)

    tile_server.service.table.ready = deleted_meanwhile  # type: ignore[method-assign]
    try:
        with pytest.raises(ViewpointStateError, match="was deleted"):
            tile_server.service.run_ingest({"viewpoint_id": "gone"})
    finally:
        tile_server.service.table.ready = original  # type: ignore[method-assign]
    listed = tile_server.s3.list_objects_v2(Bucket=VIEWPOINT_BUCKET, Prefix="viewpoints/gone/")
    assert listed.get("KeyCount", 0) == 0


def test_upload_event_creates_and_ingests(tile_server: TileServer, rgb_byte: Path) -> None:
    key = tile_server.upload(rgb_byte, "viewpoints/drop/landsat.tif")
    etag = tile_server.s3.head_object(Bucket=SOURCE_BUCKET, Key=key)["ETag"].strip('"')
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": SOURCE_BUCKET}, "object": {"key": key, "etag": etag}},
    }
    item = tile_server.service.run_ingest(event)
    assert item["viewpoint_status"] == "READY" and item["viewpoint_name"] == "landsat.tif"
    assert item["range_adjustment"] == "DRA" and item["viewpoint_id"].startswith("landsat-")


def _context() -> object:
    from infra.local.worker import LocalLambdaContext

    return LocalLambdaContext(function_name="RecordViewpointFailure")


def test_a_failed_upload_is_transient_and_retried_by_the_workflow(tile_server: TileServer, rgb_byte: Path) -> None:
    """boto3's managed upload wraps a 503 in S3UploadFailedError: it must reach Step Functions as a retryable
    TransientStorageError (the workflow's Retry names it), not as an unknown error that fails the viewpoint."""
    from boto3.exceptions import S3UploadFailedError

    from tessera.errors import TransientStorageError

    key = tile_server.upload(rgb_byte, "uploads/flaky.tif")
    tile_server.service.create(
        ViewpointCreate(viewpoint_id="flaky", viewpoint_name="f", bucket_name=SOURCE_BUCKET, object_key=key)
    )
    real_upload = tile_server.s3.upload_file

    def slow_down(*args: object, **kwargs: object) -> None:
        raise S3UploadFailedError("Failed to upload: An error occurred (SlowDown) when calling PutObject")

    tile_server.s3.upload_file = slow_down
    try:
        with pytest.raises(TransientStorageError, match="will retry"):
            tile_server.service.run_ingest({"viewpoint_id": "flaky"})
    finally:
        tile_server.s3.upload_file = real_upload
    assert tile_server.service.table.get("flaky")["viewpoint_status"] == "PROCESSING"
    retried = tile_server.service.run_ingest({"viewpoint_id": "flaky"})  # the workflow's next attempt
    assert retried["viewpoint_status"] == "READY" and retried["attempts"] == 2


def test_a_duplicate_upload_event_leaves_a_ready_viewpoint_as_it_is(tile_server: TileServer, rgb_byte: Path) -> None:
    key = tile_server.upload(rgb_byte, "viewpoints/again/landsat.tif")
    etag = tile_server.s3.head_object(Bucket=SOURCE_BUCKET, Key=key)["ETag"].strip('"')
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": SOURCE_BUCKET}, "object": {"key": key, "etag": etag}},
    }
    first = tile_server.service.run_ingest(event)
    again = tile_server.service.run_ingest(event)
    assert again["viewpoint_status"] == "READY" and again["version"] == first["version"]
    assert again["cog_key"] == first["cog_key"]
