"""Step 2 (once per region, in parallel): run the model on every tile and keep the features in S3."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from rasterio.io import DatasetReader

from tessera.detections import geolocate_features, refine_tile_features
from tessera.errors import TesseraError
from tessera.geo import SensorModel, sensor_model_for
from tessera.imagery import TileData, open_image, read_tile
from tessera.inference import Detector, detector_for
from tessera.pipeline.services import Services, gdal_credentials, model_session
from tessera.requests import JobSpec, ModelInvokeMode, TileFormat
from tessera.state import region_status
from tessera.state.dynamodb import region_id
from tessera.tiling import ImageRegion, generate_tiles

logger = logging.getLogger(__name__)

Tile = list[list[int]]
Outcome = tuple[ImageRegion, list[dict[str, Any]] | None, str | None]


def _detect(detector: Detector, data: TileData) -> Outcome:
    """The tile's features in image pixels, or the message saying why the tile failed."""
    tile = data.tile
    try:
        return tile, refine_tile_features(detector.detect(data), tile), None
    except TesseraError as err:
        return tile, None, err.message
    except Exception as err:  # a model's own bug fails its tile, never the region
        logger.exception("model %s failed on tile %s", detector.name, tile.region_key)
        return tile, None, f"model {detector.name} failed on tile {tile.region_key}: {type(err).__name__}: {err}"


def _outcomes(detector: Detector, tiles: Iterator[TileData], workers: int) -> Iterator[Outcome]:
    """Run the detector over tiles, with at most ``workers`` calls in flight (1: in this thread)."""
    if workers <= 1:
        for data in tiles:
            yield _detect(detector, data)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tile") as pool:
        pending: list[Future[Outcome]] = []
        for data in tiles:
            pending.append(pool.submit(_detect, detector, data))
            if len(pending) >= 2 * workers:  # bound the tiles held in memory, not only the calls
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _readable_tiles(
    dataset: DatasetReader, tiles: list[ImageRegion], skipped: list[ImageRegion], model: SensorModel | None
) -> Iterator[TileData]:
    """Tiles that hold data, with their corners when a sensor model gives them; empty ones go to ``skipped``."""
    for tile in tiles:
        data = read_tile(dataset, tile)
        if data.is_empty:
            skipped.append(tile)
            continue
        if model is not None:
            # IGEOLO locates the centres of the corner pixels (MIL-STD-2500C)
            left, right = tile.col + 0.5, tile.col + tile.width - 0.5
            top, bottom = tile.row + 0.5, tile.row + tile.height - 0.5
            xs, ys = [left, right, right, left], [top, top, bottom, bottom]
            lon, lat = model.image_to_world(xs, ys)
            data = replace(data, corners=tuple(zip(lon.tolist(), lat.tolist(), strict=True)))
        yield data


def process_region(job: JobSpec, region: ImageRegion, services: Services) -> dict[str, Any]:
    """Detect, refine and geolocate the features of one region; record its outcome.

    A tile that fails is listed in ``failed_tiles`` with the region PARTIAL (or FAILED if all failed);
    a tile with no valid pixel is skipped (counted, never sent to the model). On a re-submitted job,
    tiles that succeeded before are not run again and their features are kept.
    """
    tiles = generate_tiles(region, (job.tile_size, job.tile_size), (job.tile_overlap, job.tile_overlap))
    item = services.regions.start(job, region, len(tiles))
    done = {ImageRegion.from_osml(t) for t in item.get("succeeded_tiles") or []}
    features_key = services.results.key_for(job.job_id, region.region_key)
    features = list(services.results.read(features_key)) if done and item.get("features_key") else []
    detector = detector_for(job, model_session(services, job))
    workers = 1 if job.model_invoke_mode is ModelInvokeMode.BUILTIN else services.settings.tile_workers
    succeeded: list[Tile] = [t.to_osml() for t in tiles if t in done]
    failed: list[Tile] = []
    messages: list[str] = []
    skipped: list[ImageRegion] = []
    new_features: list[dict[str, Any]] = []
    with open_image(job.image_url, **gdal_credentials(services, job)) as dataset:
        input_format = dataset.driver.upper()
        model = sensor_model_for(dataset, **services.elevation)
        todo = [t for t in tiles if t not in done]
        remote = job.model_invoke_mode is not ModelInvokeMode.BUILTIN
        corner_model = model if remote and job.tile_format is TileFormat.NITF else None
        readable = _readable_tiles(dataset, todo, skipped, corner_model)
        for tile, found, error in _outcomes(detector, readable, workers):
            if found is None:
                failed.append(tile.to_osml())
                messages.append(error or "failed")
            else:
                succeeded.append(tile.to_osml())
                new_features.extend(found)
    geolocate_features(new_features, model)
    features.extend(new_features)
    services.results.write(features_key, features)
    status = region_status(len(tiles) - len(skipped), len(failed))
    message = "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
    done_item = services.regions.complete(
        job.image_id,
        region_id(region, job.job_id),
        status,
        succeeded=succeeded,
        failed=failed,
        skipped=len(skipped),
        feature_count=len(features),
        features_key=features_key,
        started_ms=item.get("start_time"),
        message=message,
    )
    services.status.publish_region(
        status,
        job.job_id,
        message or f"{len(succeeded)} tiles succeeded",
        image_id=job.image_id,
        region_id=region_id(region, job.job_id),
        failed_tiles=failed,
        processing_duration=float(done_item.get("processing_duration", 0)),
    )
    services.jobs.count_region(job.job_id, status, succeeded=len(succeeded), failed=len(failed), skipped=len(skipped))
    return {
        "region_id": region_id(region, job.job_id),
        "status": status.value,
        "features": len(features),
        "tiles": len(tiles) - len(skipped) - len(done),
        "failed_tiles": len(failed),
        "input_format": input_format,
    }
