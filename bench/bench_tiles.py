"""Tile latency of the tile API against reading the same kind of tile with rio-tiler directly.

Measures, on one core, a synthetic 10,000 x 10,000 x 3 uint8 GeoTIFF (UTM 18N, gradients plus noise) made
a viewpoint by Tessera's ingest (COG with overviews, full-resolution statistics), in S3 on a moto server
on 127.0.0.1 (GDAL reads it through /vsis3, as on AWS):

* **Tessera**: ``GET /viewpoints/{id}/image/tiles/{z}/{x}/{y}.png`` through the tile API's Lambda handler
  (an API Gateway HTTP API event in, the base64 reply out): the viewpoint lookup, ETag, rio-tiler read of
  the COG and PNG encode. *Cold* is the first request after a cold start (every cache empty: service,
  viewpoint item, open COG); *warm* are the requests after it.
* **rio-tiler directly**: ``rio_tiler.io.Reader`` on the same COG, ``read(window, width, height)`` and
  ``ImageData.render("PNG")`` for the same kind of tile, in the same GDAL environment. Cold opens the
  reader first; warm reuses it.

Each method gets its own random tiles (z=0, full resolution, and z=1..3) drawn from the same
distribution, so neither reads blocks the other already pulled into GDAL's cache. Reported: p50 and p95
per method, their ratio, and ingest time. Goal: Tessera's warm p50 within 1.3x of direct rio-tiler's.

Run: ``.venv/bin/python bench/bench_tiles.py [--quick] [--strict]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from _common import Report, run_on_one_core, seconds

GOAL_RATIO = 1.3
TILE = 512


def write_image(path: Path, size: int) -> None:
    """A tiled 3-band uint8 GeoTIFF with smooth gradients and noise (compresses like real imagery)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(3)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:32618",
        "transform": from_origin(300000, 4500000, 0.5, 0.5), "tiled": True, "blockxsize": 512, "blockysize": 512,
    }
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 1024):
            rows = min(1024, size - row)
            y, x = np.mgrid[row : row + rows, 0:size]
            base = (np.sin(x / 700.0) + np.cos(y / 500.0)) * 60 + 128
            band = np.stack([base, base * 0.8 + 20, 255 - base])
            band = band + rng.normal(0, 6, band.shape)
            dst.write(np.clip(band, 0, 255).astype("uint8"), window=((row, row + rows), (0, size)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def random_tiles(size: int, count: int, seed: int) -> list[tuple[int, int, int]]:
    """Tiles (z, x, y): two thirds at full resolution, the rest at z=1..3, all inside the image."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tiles = []
    for i in range(count):
        z = 0 if i % 3 else int(rng.integers(1, 4))
        span = TILE * 2**z
        n = -(-size // span)
        tiles.append((z, int(rng.integers(0, n)), int(rng.integers(0, n))))
    return tiles


def window_of(size: int, z: int, x: int, y: int) -> tuple[Any, int, int]:
    from rasterio.windows import Window

    span = TILE * 2**z
    width, height = min(span, size - x * span), min(span, size - y * span)
    out_width, out_height = max(1, round(width * TILE / span)), max(1, round(height * TILE / span))
    return Window(x * span, y * span, width, height), out_width, out_height


def make_viewpoint(report: Report, port: int, size: int) -> str:
    """Point boto3 and GDAL at the moto server, write the image, ingest it; return the COG's GDAL path."""
    import boto3

    from infra.local.emulator import endpoint_environment
    from tessera.settings import ViewpointSettings
    from tessera.state.viewpoints import ViewpointTable, create_viewpoint_table
    from tessera.viewpoints.models import ViewpointCreate
    from tessera.viewpoints.service import ViewpointService

    os.environ.update(endpoint_environment(port))
    os.environ.update(
        {
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "TESSERA_VIEWPOINT_TABLE": "viewpoints",
            "TESSERA_VIEWPOINT_BUCKET": "viewpoint-artifacts",
        }
    )
    s3 = boto3.client("s3")
    for bucket in ("imagery", "viewpoint-artifacts"):
        s3.create_bucket(Bucket=bucket)
    dynamodb = boto3.resource("dynamodb")
    create_viewpoint_table(dynamodb, "viewpoints")
    service = ViewpointService(ViewpointSettings.from_env(), ViewpointTable(dynamodb.Table("viewpoints")), s3)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "scene.tif"
        started = time.perf_counter()
        write_image(image, size)
        report.section("set-up")
        report.row("write the source GeoTIFF", seconds(time.perf_counter() - started))
        s3.upload_file(str(image), "imagery", "scene.tif")
    service.create(
        ViewpointCreate(
            viewpoint_id="bench", viewpoint_name="scene", bucket_name="imagery", object_key="scene.tif",
            tile_size=TILE, range_adjustment="NONE",
        )
    )
    started = time.perf_counter()
    item = service.run_ingest({"viewpoint_id": "bench"})
    report.row("ingest (COG + statistics + sidecars, S3 both ways)", seconds(time.perf_counter() - started))
    for stage, value in item["timings"].items():
        report.row(f"  {stage}", seconds(float(value)))
    return service.cog_path(item)


ROOT = Path(__file__).resolve().parents[1]


def api_tile(report: Report, tile: tuple[int, int, int]) -> float:
    """Seconds for one tile through the tile API's handler (event in, reply out)."""
    from infra.local.http_api import http_event, response_parts
    from tessera.api import app as api

    z, x, y = tile
    event = http_event("GET", f"/viewpoints/bench/image/tiles/{z}/{x}/{y}.png")
    start = time.perf_counter()
    status, _, body = response_parts(api.app.resolve(event, None))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    if status != 200 or not body.startswith(b"\x89PNG"):
        report.fail(f"tile {tile}: status {status}")
    return elapsed


def direct_tile(report: Report, size: int, tile: tuple[int, int, int], reader: Any) -> float:
    """Seconds for the same kind of tile read and encoded with rio-tiler directly."""
    from tessera.tiles import readers

    window, width, height = window_of(size, *tile)
    start = time.perf_counter()
    with readers.gdal_env():
        img = reader.read(window=window, width=width, height=height)
    body = img.render(img_format="PNG", add_mask=True)
    elapsed = time.perf_counter() - start
    if not body.startswith(b"\x89PNG"):
        report.fail(f"direct tile {tile}")
    return elapsed


def latencies(report: Report, cog: str, size: int, count: int) -> tuple[float, list[float], float, list[float]]:
    """Cold and warm seconds per tile: Tessera's API, then rio-tiler directly (each on its own random tiles)."""
    from rio_tiler.io import Reader

    from tessera.api import app as api
    from tessera.tiles import readers

    ours_tiles, direct_tiles = random_tiles(size, count + 1, 1), random_tiles(size, count + 1, 2)
    readers.clear()  # cold: nothing cached in this process (the service, the item, the open COG)
    api.service.cache_clear()
    api._items.clear()
    ours_cold = api_tile(report, ours_tiles[0])
    ours = [api_tile(report, tile) for tile in ours_tiles[1:]]
    start = time.perf_counter()
    with readers.gdal_env():
        reader = Reader(cog)
    opened = time.perf_counter() - start
    direct_cold = opened + direct_tile(report, size, direct_tiles[0], reader)
    theirs = [direct_tile(report, size, tile, reader) for tile in direct_tiles[1:]]
    reader.close()
    return ours_cold, ours, direct_cold, theirs


def revalidation(report: Report) -> None:
    """A conditional request with the tile's ETag: 304 without reading pixels."""
    from infra.local.http_api import http_event
    from tessera.api import app as api

    path = "/viewpoints/bench/image/tiles/0/0/0.png"
    tag = str(api.app.resolve(http_event("GET", path), None)["headers"]["ETag"])  # type: ignore[arg-type]
    start = time.perf_counter()
    status = api.app.resolve(http_event("GET", path, headers={"If-None-Match": tag}), None)["statusCode"]  # type: ignore[arg-type]
    report.row("revalidation (If-None-Match, 304)", seconds(time.perf_counter() - start), f"status {status}")


def main() -> int:
    """Run the benchmark and print its report."""
    run_on_one_core()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4,000 px image and 60 tiles per method")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = parser.parse_args()
    size, count = (4000, 60) if args.quick else (10_000, 200)
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

    import logging

    from moto.server import ThreadedMotoServer

    warnings.simplefilter("ignore")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    report = Report("bench_tiles")
    report.header(
        f"{size} x {size} x 3 uint8 GeoTIFF made a viewpoint (COG, deflate, 512 px blocks, overviews) in S3 on a "
        "moto server; GDAL reads /vsis3 over HTTP on 127.0.0.1",
        f"{count} random tiles per method (2/3 at z=0, 1/3 at z=1..3), 512 px PNG, range adjustment NONE; one core",
    )
    from infra.local.emulator import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        cog = make_viewpoint(report, port, size)
        ours_cold, ours, direct_cold, theirs = latencies(report, cog, size, count)
        report.section("tile latency (512 px PNG)")
        report.row("Tessera API, cold (first request)", seconds(ours_cold))
        report.row("rio-tiler direct, cold (open + first tile)", seconds(direct_cold))
        for name, values in (("Tessera API, warm", ours), ("rio-tiler direct, warm", theirs)):
            report.row(f"{name} p50", seconds(percentile(values, 50)))
            report.row(f"{name} p95", seconds(percentile(values, 95)))
        ratio50 = percentile(ours, 50) / percentile(theirs, 50)
        report.row("ratio warm p50 (Tessera / rio-tiler)", f"{ratio50:.2f}x")
        report.row("ratio warm p95 (Tessera / rio-tiler)", f"{percentile(ours, 95) / percentile(theirs, 95):.2f}x")
        report.row("ratio cold (Tessera / rio-tiler)", f"{ours_cold / direct_cold:.2f}x")
        revalidation(report)
        report.goal(
            f"warm p50 within {GOAL_RATIO}x of rio-tiler",
            ratio50 <= GOAL_RATIO,
            f"{ratio50:.2f}x ({seconds(percentile(ours, 50))} vs {seconds(percentile(theirs, 50))})",
        )
    finally:
        server.stop()
    return report.finish(args.strict)


if __name__ == "__main__":
    sys.exit(main())
