"""The region step against the floor: what reading the same tiles with rasterio in a plain loop costs.

Measures, on one core, one region of a synthetic 8192 x 8192 x 3 uint8 GeoTIFF (tiled 512 x 512, UTM 18N,
uncompressed by default; ``--compress deflate`` to compare), tile 512, overlap 32 (289 tiles):

* **Tessera**: ``tessera.pipeline.region.process_region`` with the built-in ``centerpoint`` model, against
  moto in-process (``mock_aws``, tables and bucket created as ``tests/functional/conftest.py`` does), the
  image read from a local path. A warm-up run comes first (the cold run is reported on its own), and each
  timed run has a fresh job id (a re-submitted one would skip its tiles).
* **the floor**: the same tile windows read with rasterio in a plain loop, ``read`` + ``dataset_mask`` per
  tile, plus, as the floor's encode cost, each tile written as an uncompressed NITF to a rasterio
  ``MemoryFile`` (what an endpoint model would be sent). The floor without the encode is shown too.

Goal: Tessera's region time at most 1.5x the floor's (read + mask + NITF encode). The script always prints
where Tessera's time goes (timers around reading, model, geolocation, S3 put, DynamoDB writes).

Run: ``.venv/bin/python bench/bench_region.py [--quick] [--compress deflate] [--strict]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import Report, Timing, measure, run_on_one_core, seconds

TILE = 512
OVERLAP = 32
GOAL_RATIO = 1.5
JOB_TABLE, REGION_TABLE, RESULTS_BUCKET = "jobs", "regions", "results-bucket"


def write_image(path: Path, size: int, compress: str) -> None:
    """A georeferenced RGB uint8 GeoTIFF, tiled 512: smooth gradients plus noise, so that it compresses like imagery."""
    import numpy as np
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(5)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32618",
        "transform": Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_500_000.0),
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        "interleave": "pixel",
    }
    if compress != "none":
        profile["compress"] = compress
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    with rasterio.open(path, "w", **profile) as dst:
        for band, (fx, fy) in enumerate(((0.003, 0.002), (0.001, 0.004), (0.005, 0.001)), start=1):
            smooth = 100 + 60 * np.sin(cols * fx) * np.cos(rows * fy)
            noise = rng.normal(0, 12, (size, size)).astype(np.float32)
            dst.write(np.clip(smooth + noise, 0, 255).astype(np.uint8), band)


def floor(path: Path, tiles: list[Any], encode: bool) -> int:
    """Read every tile and its mask with rasterio (and encode it as NITF); returns the bytes encoded."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile
    from rasterio.windows import Window

    encoded = 0
    with rasterio.open(path) as dataset:
        for tile in tiles:
            window = Window(tile.col, tile.row, tile.width, tile.height)
            pixels = dataset.read(window=window)
            mask = dataset.dataset_mask(window=window)
            if not mask.any():
                continue
            if encode:
                bands, height, width = pixels.shape
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    with MemoryFile() as memfile:
                        with memfile.open(
                            driver="NITF", width=width, height=height, count=bands, dtype=pixels.dtype, IC="NC"
                        ) as dst:
                            dst.write(pixels)
                        encoded += len(memfile.read())
    return encoded


@contextmanager
def emulated_account() -> Iterator[Any]:
    """moto in-process with the stack's tables and results bucket; yields Tessera's services bound to them."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        os.environ[name] = "testing"
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    import boto3
    from moto import mock_aws

    from tessera.pipeline.services import build_services
    from tessera.settings import Settings
    from tessera.state.dynamodb import create_tables

    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=RESULTS_BUCKET)
        dynamodb = boto3.resource("dynamodb")
        create_tables(dynamodb, JOB_TABLE, REGION_TABLE)
        yield build_services(Settings(job_table=JOB_TABLE, region_table=REGION_TABLE, results_bucket=RESULTS_BUCKET))


def started_job(services: Any, path: Path, job_id: str) -> Any:
    """A centerpoint job on the image, validated as an ImageRequest and recorded STARTED (untimed set-up)."""
    from tessera.requests import parse_image_request
    from tessera.requests.job import job_spec_from_request

    request = {
        "jobId": job_id,
        "imageUrls": [str(path)],
        "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
        "imageProcessorTileSize": TILE,
        "imageProcessorTileOverlap": OVERLAP,
    }
    job = job_spec_from_request(
        parse_image_request(request),
        default_tile_size=TILE,
        default_tile_overlap=OVERLAP,
        region_size=services.settings.region_size,
        default_output=services.default_output,
    )
    services.jobs.start(job, request)
    return job


@contextmanager
def stage_timers(services: Any) -> Iterator[dict[str, float]]:
    """Wall-clock time spent in each of process_region's collaborators while the block runs.

    Wraps (for the block only) the functions ``tessera.pipeline.region`` calls and the methods of the
    services it is given; the product code itself is unchanged. Far less overhead than cProfile, which
    inflates moto's pure-Python request handling several times over.
    """
    import time

    from tessera.pipeline import region as region_module

    spent: dict[str, float] = {}
    restore: list[tuple[Any, str, Any, bool]] = []

    def wrap(owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        restore.append((owner, attribute, original, attribute in vars(owner)))
        setattr(owner, attribute, timed)

    wrap(region_module, "read_tile", "read tiles + masks (rasterio)")
    wrap(region_module, "_detect", "model (centerpoint) + refine features")
    wrap(region_module, "geolocate_features", "geolocate features (sensor model)")
    wrap(region_module, "sensor_model_for", "sensor model from the dataset")
    wrap(services.results, "write", "S3 put of the region's features (moto)")
    wrap(services.regions, "start", "DynamoDB: region start (moto)")
    wrap(services.regions, "complete", "DynamoDB: region complete (moto)")
    wrap(services.jobs, "count_region", "DynamoDB: job count_region (moto)")
    try:
        yield spent
    finally:
        for owner, attribute, original, own in reversed(restore):
            if own:  # a module's function: put it back
                setattr(owner, attribute, original)
            else:  # an instance attribute shadowing the class's method: remove it
                delattr(owner, attribute)


def breakdown(report: Report, services: Any, run: Callable[[], Any]) -> None:
    """Time one more ``process_region`` with stage timers and print each stage's share."""
    with stage_timers(services) as spent:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
    report.section(f"where process_region's time goes (one instrumented run, {seconds(elapsed)})")
    for label, value in spent.items():
        report.row(label, f"{seconds(value)} {value / elapsed:6.1%}")
    other = elapsed - sum(spent.values())
    report.row("everything else (open, tiling, loop, JobSpec, ...)", f"{seconds(other)} {other / elapsed:6.1%}")


def main() -> int:
    """Run the benchmark and print its report."""
    run_on_one_core()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4096 px image (81 tiles) and 3 runs instead of 5")
    parser.add_argument("--compress", choices=("none", "deflate"), default="none", help="the GeoTIFF's compression")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = parser.parse_args()
    size, repeat = (4096, 3) if args.quick else (8192, 5)

    from tessera.pipeline.region import process_region
    from tessera.tiling import ImageRegion, generate_regions, generate_tiles

    report = Report("bench_region")
    regions = generate_regions(ImageRegion(0, 0, size, size), (10240, 10240), (TILE, TILE), (OVERLAP, OVERLAP))
    region = regions[0]
    tiles = generate_tiles(region, (TILE, TILE), (OVERLAP, OVERLAP))
    report.header(
        f"image: synthetic {size} x {size} x 3 uint8 GeoTIFF, tiled {TILE}, compression {args.compress}, EPSG:32618",
        f"{len(regions)} region {tuple(region)}, tile {TILE} overlap {OVERLAP}: {len(tiles)} tiles; model centerpoint",
        "moto in-process (mock_aws); image read from a local path (page cache warm after the first read)",
    )
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as folder:
        path = Path(folder) / f"synthetic-{size}-{args.compress}.tif"
        write_image(path, size, args.compress)
        report.row("image file size", f"{path.stat().st_size / 2**20:.1f} MiB")
        floor(path, tiles, encode=True)  # warm the page cache and GDAL's drivers

        with emulated_account() as services:
            runs = iter(range(10_000))

            def fresh_job() -> Any:
                return started_job(services, path, f"bench-{next(runs)}")

            cold, reply = measure(lambda job: process_region(job, region, services), fresh_job, 1)
            if reply["status"] != "SUCCESS" or reply["features"] != len(tiles):
                report.fail(f"process_region replied {reply}")
            floor_read: list[float] = []
            floor_encode: list[float] = []
            ours: list[float] = []
            for _ in range(repeat):  # interleaved, so that drift on the machine hits all three alike
                floor_read += measure(lambda _: floor(path, tiles, encode=False), lambda: None, 1)[0].runs
                floor_encode += measure(lambda _: floor(path, tiles, encode=True), lambda: None, 1)[0].runs
                ours += measure(lambda job: process_region(job, region, services), fresh_job, 1)[0].runs
            tessera, read_only, with_encode = Timing(ours), Timing(floor_read), Timing(floor_encode)

            report.section(f"one region, {len(tiles)} tiles")
            report.row("floor: read + dataset_mask", str(read_only), f"{seconds(read_only.best / len(tiles))}/tile")
            report.row(
                "floor: read + dataset_mask + NITF encode",
                str(with_encode),
                f"{seconds(with_encode.best / len(tiles))}/tile",
            )
            report.row("Tessera process_region (warm)", str(tessera), f"{seconds(tessera.best / len(tiles))}/tile")
            report.row("Tessera process_region (first run, cold)", str(cold))
            ratio = tessera.best / with_encode.best
            report.section("ratios (best runs)")
            report.row("Tessera / floor (read + mask + NITF encode)", f"{ratio:.2f}x")
            report.row("Tessera / floor (read + mask only)", f"{tessera.best / read_only.best:.2f}x")
            report.row("Tessera median / floor median (with encode)", f"{tessera.median / with_encode.median:.2f}x")
            job = fresh_job()
            breakdown(report, services, lambda: process_region(job, region, services))
    report.goal(
        f"process_region <= {GOAL_RATIO}x the floor (read + mask + NITF encode)",
        ratio <= GOAL_RATIO,
        f"{ratio:.2f}x ({seconds(tessera.best)} / {seconds(with_encode.best)})",
    )
    return report.finish(args.strict)


if __name__ == "__main__":
    sys.exit(main())
