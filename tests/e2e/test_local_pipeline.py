"""The synthesized state machine, run in the emulator with the real handlers (the embedded default)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer

from infra.local import LocalPipeline

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    with LocalPipeline(work_dir=tmp_path_factory.mktemp("local")) as local:
        yield local


def footprint_lonlat(path: Path) -> shapely.Polygon:
    """The image footprint in lon/lat, computed independently with pyproj along densified edges."""
    with rasterio.open(path) as src:
        transform, crs, width, height = src.transform, src.crs, src.width, src.height
    steps = np.linspace(0, 1, 50)
    cols = np.concatenate([steps * width, np.full(50, width), (1 - steps) * width, np.zeros(50)])
    rows = np.concatenate([np.zeros(50), steps * height, np.full(50, height), (1 - steps) * height])
    xs, ys = transform @ (cols, rows)
    lon, lat = Transformer.from_crs(crs.to_wkt(), "EPSG:4326", always_xy=True).transform(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


def test_upload_runs_the_pipeline_end_to_end(pipeline: LocalPipeline, rgb_byte: Path, tmp_path: Path) -> None:
    run = pipeline.wait(pipeline.upload_image(rgb_byte))
    assert run.execution_status == "SUCCEEDED"
    assert run.job_status == "SUCCESS"
    files = pipeline.collect(run, tmp_path)
    features = json.loads(files["features"].read_text())["features"]
    job = json.loads(files["job"].read_text())
    assert job["tile_count"] > 1
    assert len(features) == job["tile_count"], "centerpoint gives one feature per tile"
    footprint = footprint_lonlat(rgb_byte)
    for feature in features:
        point = shapely.geometry.shape(feature["geometry"])
        assert footprint.contains(point), feature["id"]
        assert footprint.contains(
            shapely.Point(feature["properties"]["center_longitude"], feature["properties"]["center_latitude"])
        )
    regions = json.loads(files["regions"].read_text())
    assert [r["region_status"] for r in regions] == ["SUCCESS"]
    history = json.loads(files["execution"].read_text())["history"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered[:4] == ["Start", "LoadImage", "ManyRegions?", "ProcessRegions"] and "Aggregate" in entered


@pytest.fixture(scope="module")
def small_regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    """The stack with 300-pixel regions and a Distributed Map above 4 regions, so a small image takes that path."""
    from infra.local.template import synthesize

    work = tmp_path_factory.mktemp("small-regions")
    template = synthesize(context={"tessera:regionSize": 300, "tessera:inlineRegionLimit": 4}, outdir=work / "synth")
    with LocalPipeline(template, work_dir=work, workers=2) as local:
        yield local


def test_regions_run_in_parallel_and_every_region_is_recorded(small_regions: LocalPipeline, rgb_byte: Path) -> None:
    request = {
        "jobId": "many-regions",
        "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
        "imageProcessorTileSize": 128,
        "imageProcessorTileOverlap": 8,
    }
    run = small_regions.wait(small_regions.submit_request(request, image=rgb_byte))
    assert run.job_status == "SUCCESS"
    job = run.job or {}
    regions = small_regions.regions(job)
    assert len(regions) == job["region_count"] >= 6
    assert all(r["region_status"] == "SUCCESS" for r in regions)
    assert sum(r["total_tiles"] for r in regions) == job["tile_count"]
    # RGB.byte.tif has nodata corners: those tiles are skipped, every other tile gives one feature.
    assert job["tiles_skipped"] > 0
    assert job["feature_count"] == job["tile_count"] - job["tiles_skipped"] == job["tiles_succeeded"]
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in small_regions.history(run)
        if e["type"] == "MapStateEntered" or "stateEnteredEventDetails" in e
    ]
    assert "ProcessManyRegions" in entered and "ProcessRegions" not in entered, "more regions than the inline limit"
    intervals = sorted((r["start_time"], r["end_time"]) for r in regions)
    most_at_once = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert most_at_once >= 2, "the Map must run regions concurrently (two worker processes)"


def test_a_bad_image_fails_the_job_with_a_clear_message(pipeline: LocalPipeline, tmp_path: Path) -> None:
    bogus = tmp_path / "broken.tif"
    bogus.write_bytes(b"this is not a GeoTIFF")
    run = pipeline.wait(pipeline.upload_image(bogus))
    assert run.execution_status == "FAILED"
    assert run.job_status == "FAILED"
    message = (run.job or {}).get("message", "")
    assert "cannot open image" in message and "broken.tif" in message
    assert "Traceback" not in message


def test_an_invalid_request_fails_naming_the_field(pipeline: LocalPipeline, rgb_byte: Path) -> None:
    request = {
        "jobId": "bad-tiles",
        "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
        "imageProcessorTileSize": 256,
        "imageProcessorTileOverlap": 300,
    }
    run = pipeline.wait(pipeline.submit_request(request, image=rgb_byte))
    assert run.job_status == "FAILED"
    assert "imageProcessorTileOverlap" in (run.job or {}).get("message", "")


def test_cli_writes_results_and_exit_status(tmp_path: Path, rgb_byte: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "infra.local", "run", str(rgb_byte), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "SUCCESS"
    assert "regions 1/1" in done.stderr
    collection = json.loads(Path(summary["files"]["features"]).read_text())
    assert len(collection["features"]) == summary["tiles"] > 0
    for name in ("job.json", "regions.json", "execution.json"):
        assert (out / name).is_file()

    bogus = tmp_path / "broken.tif"
    bogus.write_bytes(b"nope")
    failed = subprocess.run(
        [sys.executable, "-m", "infra.local", "run", str(bogus), "--out", str(tmp_path / "failed")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "FAILED"


def test_osml_message_on_the_queue_starts_a_job(pipeline: LocalPipeline, rgb_byte: Path) -> None:
    image = f"s3://{pipeline.image_bucket}/uploads/queued.tif"
    pipeline.s3.put_object(Bucket=pipeline.image_bucket, Key="uploads/queued.tif", Body=rgb_byte.read_bytes())
    message = {
        "jobName": "from-the-queue",
        "jobId": "queued-1",
        "imageUrls": [image],
        "outputs": [{"type": "S3", "bucket": pipeline.results_bucket, "prefix": "osml/"}],
        "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
        "imageProcessorTileSize": 512,
        "imageProcessorTileOverlap": 32,
        "imageProcessorTileFormat": "NITF",
        "imageProcessorTileCompression": "NONE",
    }
    run = pipeline.wait(pipeline.send_message(message))
    assert run.job_status == "SUCCESS", (run.job or {}).get("message")
    body = pipeline.s3.get_object(Bucket=pipeline.results_bucket, Key="osml/queued-1.geojson")["Body"].read()
    assert len(json.loads(body)["features"]) == 4


def test_a_geoparquet_output_is_collected_beside_the_geojson(
    pipeline: LocalPipeline, rgb_byte: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    results = pipeline.results_bucket
    request = {
        "jobId": "two-formats",
        "outputs": [
            {"type": "S3", "bucket": results, "prefix": "tables/", "format": "GEOPARQUET"},
            {"type": "S3", "bucket": results, "prefix": "geojson/"},
        ],
        "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
        "imageProcessorTileSize": 512,
        "imageProcessorTileOverlap": 32,
    }
    run = pipeline.wait(pipeline.submit_request(request, image=rgb_byte))
    assert run.job_status == "SUCCESS", (run.job or {}).get("message")
    files = pipeline.collect(run, tmp_path)
    features = json.loads(files["features"].read_text())["features"]
    assert files["geoparquet"] == tmp_path / "two-formats.parquet"
    table = pq.read_table(files["geoparquet"], use_threads=False)  # threaded reads can abort at exit
    assert table.column("id").to_pylist() == [f["id"] for f in features] and len(features) == 4
    assert json.loads(table.schema.metadata[b"geo"])["columns"]["geometry"]["geometry_types"] == ["Point"]


def test_invalid_queue_message_fails_the_job_naming_the_field(pipeline: LocalPipeline) -> None:
    run = pipeline.wait(pipeline.send_message({"jobId": "queued-bad", "imageUrls": [], "imageProcessor": {}}))
    assert run.execution_status == "FAILED"
    message = (run.job or {}).get("message", "")
    assert "imageUrls" in message and "imageProcessor.name" in message


def test_an_image_replaced_under_the_same_key_is_read_anew(
    pipeline: LocalPipeline, rgb_byte: Path, tmp_path: Path
) -> None:
    """Warm workers must not serve a replaced object from GDAL's /vsis3 cache."""
    small = tmp_path / "small.tif"
    with rasterio.open(rgb_byte) as src:
        profile = {**src.profile, "width": 300, "height": 200}
        with rasterio.open(small, "w", **profile) as dst:
            dst.write(src.read(window=((0, 200), (0, 300))))
    key = "images/replaced.tif"
    first = pipeline.wait(pipeline.upload_image(rgb_byte, key=key))
    second = pipeline.wait(pipeline.upload_image(small, key=key))
    assert (first.job or {})["image"]["width"] == 791
    assert (second.job or {})["image"]["width"] == 300
