"""Peak memory of the region handler and of a whole local run on a 30,000 x 30,000 image.

Goal: memory bounded by the region size, not the image size: each under 2 GB while the image's pixels
take 2.7 GB. The baseline in the same run is the image's own size in memory (width x height x bands).

* region handler: ``process_region`` on one full 10,240-pixel region (centerpoint model), in a child
  process against moto in-process; its peak resident set (``ru_maxrss``).
* whole local run: ``LocalPipeline`` (the synthesized state machine in the emulator, handlers in worker
  processes) on the whole image, read from its local path; the peak resident set of each process of the
  emulator (server and workers) from ``/proc/<pid>/status`` ``VmHWM``, and their sum sampled while it runs.

The image is a tiled (512), deflate-compressed GeoTIFF written block by block (so writing it needs little
memory either); ``--quick`` uses 12,000 pixels.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report

GB = 1024**3


def write_image(path: Path, size: int) -> None:
    """A size x size x 3 uint8 GeoTIFF (UTM 33N, 0.5 m), written one 512 x 512 block at a time."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "crs": "EPSG:32633",
        "transform": from_origin(500000, 4000000, 0.5, 0.5),
        "BIGTIFF": "IF_SAFER",
    }
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 40, size=(3, 512, 512), dtype=np.uint8)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            for col in range(0, size, 512):
                h, w = min(512, size - row), min(512, size - col)
                base = np.uint8((row // 512 * 7 + col // 512 * 13) % 180)
                dst.write(noise[:, :h, :w] + base, window=Window(col, row, w, h))


def _region_child(image: str, queue: Any) -> None:
    """Run one region's handler path in this process; report its peak RSS."""
    import os

    import boto3
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="results-bucket")
        dynamodb = boto3.resource("dynamodb")
        from tessera.state.dynamodb import create_tables

        create_tables(dynamodb, "jobs", "regions")
        from tessera.pipeline import process_region
        from tessera.pipeline.services import build_services
        from tessera.requests import JobSpec, ModelInvokeMode
        from tessera.requests.job import OutputSpec
        from tessera.settings import Settings
        from tessera.tiling import ImageRegion, generate_regions

        services = build_services(Settings(job_table="jobs", region_table="regions", results_bucket="results-bucket"))
        job = JobSpec(
            job_id="memory",
            image_url=image,
            model_name="centerpoint",
            model_invoke_mode=ModelInvokeMode.BUILTIN,
            tile_size=512,
            tile_overlap=32,
            outputs=[OutputSpec(kind="S3", bucket="results-bucket")],
            run_id="r",
        )
        import rasterio

        with rasterio.open(image) as src:
            bounds = ImageRegion(0, 0, src.width, src.height)
        region = generate_regions(bounds, (10240, 10240), (512, 512), (32, 32))[0]
        started = time.monotonic()
        reply = process_region(job, region, services)
        queue.put(
            {
                "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "tiles": reply["tiles"],
                "region": list(region),
                "seconds": time.monotonic() - started,
            }
        )


def region_peak(image: Path) -> dict[str, Any]:
    """Peak RSS of one region's processing, in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_region_child, args=(str(image), queue))
    child.start()
    result = queue.get(timeout=1800)
    child.join()
    return dict(result)


def _tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *(k for kid in kids for k in _tree(kid))]


def _status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def local_run_peak(image: Path, work: Path) -> dict[str, Any]:
    """Peak memory of the emulator's processes while the synthesized state machine runs the whole image."""
    from infra.local import LocalPipeline

    peaks: dict[int, int] = {}
    total = [0]
    stop = threading.Event()
    with LocalPipeline(work_dir=work, workers=2) as pipeline:
        server = pipeline.emulator.process.pid  # type: ignore[union-attr]

        def sample() -> None:
            while not stop.is_set():
                pids = _tree(server)
                total[0] = max(total[0], sum(_status(p, "VmRSS") for p in pids))
                for p in pids:
                    peaks[p] = max(peaks.get(p, 0), _status(p, "VmHWM"))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        request = {
            "jobId": "memory",
            "imageUrls": [str(image)],
            "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"},
            "imageProcessorTileSize": 512,
            "imageProcessorTileOverlap": 32,
        }
        run = pipeline.wait(pipeline.submit_request(request), timeout=3600)
        seconds = time.monotonic() - started
        stop.set()
        sampler.join()
    job = run.job or {}
    return {
        "status": run.job_status,
        "regions": job.get("region_count"),
        "tiles": job.get("tile_count"),
        "features": job.get("feature_count"),
        "seconds": seconds,
        "peaks": peaks,
        "total": total[0],
    }


def main() -> int:
    """Run both measurements and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 12,000-pixel image instead of 30,000")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = parser.parse_args()
    size = 12_000 if args.quick else 30_000
    report = Report("bench_memory")
    image_bytes = size * size * 3
    report.header(f"image: {size:,} x {size:,} x 3 uint8 = {image_bytes / GB:.2f} GB of pixels; regions of 10,240 px")
    with tempfile.TemporaryDirectory(prefix="tessera-memory-") as tmp:
        image = Path(tmp) / "big.tif"
        started = time.monotonic()
        write_image(image, size)
        report.row(
            "image written (GeoTIFF, deflate, tiled 512)",
            f"{image.stat().st_size / GB:.2f} GB on disk",
            f"{time.monotonic() - started:.0f} s",
        )

        report.section("region handler (one 10,240-pixel region, centerpoint)")
        region = region_peak(image)
        report.row(
            "peak resident set",
            f"{region['peak'] / GB:.2f} GB",
            f"{region['tiles']} tiles in {region['seconds']:.0f} s; region {region['region']}",
        )
        report.row("peak / image pixels", f"{region['peak'] / image_bytes:.2f}x")
        report.goal("region handler peak memory < 2 GB", region["peak"] < 2 * GB, f"{region['peak'] / GB:.2f} GB")

        report.section("whole local run (synthesized state machine, emulator server + 2 workers)")
        run = local_run_peak(image, Path(tmp) / "local")
        if run["status"] != "SUCCESS" or run["tiles"] != run["features"]:
            report.fail(f"the local run ended {run['status']} with {run['features']} features for {run['tiles']} tiles")
        report.row(
            "job", str(run["status"]), f"{run['regions']} regions, {run['tiles']} tiles in {run['seconds']:.0f} s"
        )
        biggest = max(run["peaks"].values(), default=0)
        report.row(
            "peak resident set, largest process",
            f"{biggest / GB:.2f} GB",
            json.dumps({str(k): round(v / GB, 2) for k, v in run["peaks"].items()}),
        )
        report.row("peak resident set, all processes at once (sampled)", f"{run['total'] / GB:.2f} GB")
        report.row("all processes / image pixels", f"{run['total'] / image_bytes:.2f}x")
        report.goal("whole local run peak memory < 2 GB", run["total"] < 2 * GB, f"{run['total'] / GB:.2f} GB")
    return report.finish(strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
