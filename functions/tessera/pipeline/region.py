"""Step 2 (once per region, in parallel): run the model on every tile and keep the features in S3."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from rasterio.io import DatasetReader

from tessera.detections import geolocate_features, refine_tile_features, source_metadata
from tessera.errors import RegionTimeBudgetError, TesseraError
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


@dataclass
class _Progress:
    """What a region's tiles gave so far."""

    succeeded: list[Tile] = field(default_factory=list)
    failed: list[Tile] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    skipped: list[ImageRegion] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False


def _run_tiles(
    job: JobSpec,
    dataset: DatasetReader,
    todo: list[ImageRegion],
    detector: Detector,
    workers: int,
    model: SensorModel | None,
    out_of_time: Callable[[], bool],
) -> _Progress:
    """Run the detector over the tiles still to do, stopping early when the time budget runs out."""
    progress = _Progress()
    remote = job.model_invoke_mode is not ModelInvokeMode.BUILTIN
    corner_model = model if remote and job.tile_format is TileFormat.NITF else None
    readable = _readable_tiles(dataset, todo, progress.skipped, corner_model)
    for tile, found, error in _outcomes(detector, readable, workers):
        if found is None:
            progress.failed.append(tile.to_osml())
            progress.messages.append(error or "failed")
        else:
            progress.succeeded.append(tile.to_osml())
            progress.features.extend(found)
        if out_of_time():
            progress.stopped = True
            break
    return progress


def process_region(
    job: JobSpec,
    region: ImageRegion,
    services: Services,
    seconds_left: Callable[[], float] | None = None,
    reserve_seconds: float = 60.0,
) -> dict[str, Any]:
    """Detect, refine and geolocate the features of one region; record its outcome.

    A tile that fails is listed in ``failed_tiles`` with the region PARTIAL (or FAILED if all failed);
    a tile with no valid pixel is skipped (counted, never sent to the model). On a re-submitted job,
    tiles that succeeded before are not run again and their features are kept.

    When ``seconds_left()`` (the Lambda's remaining time) drops below ``reserve_seconds``, the region saves
    the tiles done so far and their features, and raises :class:`RegionTimeBudgetError`; the state machine
    retries the region, which goes on from there. A region is never lost to the Lambda timeout.

    Raises:
        RegionTimeBudgetError: after saving progress, when the time budget ran out.
    """
    tiles = generate_tiles(region, (job.tile_size, job.tile_size), (job.tile_overlap, job.tile_overlap))
    item = services.regions.start(job, region, len(tiles))
    rid = region_id(region, job.job_id)
    done = {ImageRegion.from_osml(t) for t in item.get("succeeded_tiles") or []}
    features_key = services.results.key_for(job.job_id, region.region_key)
    features = list(services.results.read(features_key)) if done and item.get("features_key") else []
    detector = detector_for(job, model_session(services, job))
    workers = 1 if job.model_invoke_mode is ModelInvokeMode.BUILTIN else services.settings.tile_workers
    with open_image(job.image_url, **gdal_credentials(services, job)) as dataset:
        input_format = dataset.driver.upper()
        source = source_metadata(dataset.driver, dataset.tags(), job.image_url)
        model = sensor_model_for(dataset, **services.elevation)
        todo = [t for t in tiles if t not in done]
        progress = _run_tiles(
            job,
            dataset,
            todo,
            detector,
            workers,
            model,
            lambda: seconds_left is not None and seconds_left() < reserve_seconds,
        )
    succeeded = [t.to_osml() for t in tiles if t in done] + progress.succeeded
    failed, messages, skipped, new_features = progress.failed, progress.messages, progress.skipped, progress.features
    geolocate_features(new_features, model)
    if source:
        for feature in new_features:
            feature["properties"]["sourceMetadata"] = [source]
    features.extend(new_features)
    services.results.write(features_key, features)
    if progress.stopped:
        left = len(tiles) - len(succeeded)
        note = f"{len(succeeded)} of {len(tiles)} tiles done; going on in a new invocation ({left} left)"
        services.regions.checkpoint(job.image_id, rid, succeeded=succeeded, features_key=features_key, message=note)
        raise RegionTimeBudgetError(f"region {rid}: {note}")
    status = region_status(len(tiles) - len(skipped), len(failed))
    message = "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
    done_item = services.regions.complete(
        job.image_id,
        rid,
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
