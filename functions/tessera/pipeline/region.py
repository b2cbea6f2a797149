"""Step 2 (once per region, in parallel): run the model on every tile and keep the features in S3."""

from __future__ import annotations

import logging
from typing import Any

from tessera.detections import geolocate_features, refine_tile_features
from tessera.errors import TesseraError
from tessera.geo import sensor_model_for
from tessera.imagery import open_image, read_tile
from tessera.inference import Detector, detector_for
from tessera.pipeline.services import Services
from tessera.requests import JobSpec
from tessera.state import region_status
from tessera.state.dynamodb import region_id
from tessera.tiling import ImageRegion, generate_tiles

logger = logging.getLogger(__name__)

Tile = list[list[int]]


def _detect(detector: Detector, data: Any, tile: ImageRegion) -> list[dict[str, Any]]:
    """The tile's features in image pixels; any failure of the model becomes a TesseraError."""
    try:
        return refine_tile_features(detector.detect(data), tile)
    except TesseraError:
        raise
    except Exception as err:  # a model's own bug fails its tile, never the region
        logger.exception("model %s failed on tile %s", detector.name, tile.region_key)
        raise TesseraError(
            f"model {detector.name} failed on tile {tile.region_key}: {type(err).__name__}: {err}"
        ) from err


def process_region(job: JobSpec, region: ImageRegion, services: Services) -> dict[str, Any]:
    """Detect, refine and geolocate the features of one region; record its outcome.

    A tile that fails is listed in ``failed_tiles`` with the region PARTIAL (or FAILED if all failed);
    a tile with no valid pixel is skipped (counted, never sent to the model). On a re-submitted job, tiles that
    succeeded before are not run again and their features are kept.
    """
    tiles = generate_tiles(region, (job.tile_size, job.tile_size), (job.tile_overlap, job.tile_overlap))
    item = services.regions.start(job, region, len(tiles))
    done = {ImageRegion.from_osml(t) for t in item.get("succeeded_tiles") or []}
    features_key = services.results.key_for(job.job_id, region.region_key)
    features = list(services.results.read(features_key)) if done and item.get("features_key") else []
    detector = detector_for(job)
    succeeded: list[Tile] = [t.to_osml() for t in tiles if t in done]
    failed: list[Tile] = []
    messages: list[str] = []
    skipped = 0
    new_features: list[dict[str, Any]] = []
    with open_image(job.image_url) as dataset:
        model = sensor_model_for(dataset)
        for tile in tiles:
            if tile in done:
                continue
            data = read_tile(dataset, tile)
            if data.is_empty:
                skipped += 1
                continue
            try:
                new_features.extend(_detect(detector, data, tile))
            except TesseraError as err:
                failed.append(tile.to_osml())
                messages.append(err.message)
                continue
            succeeded.append(tile.to_osml())
    geolocate_features(new_features, model)
    features.extend(new_features)
    services.results.write(features_key, features)
    status = region_status(len(tiles), len(failed))
    message = "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
    services.regions.complete(
        job.image_id,
        region_id(region, job.job_id),
        status,
        succeeded=succeeded,
        failed=failed,
        skipped=skipped,
        feature_count=len(features),
        features_key=features_key,
        started_ms=item.get("start_time"),
        message=message,
    )
    services.jobs.count_region(job.job_id, status, succeeded=len(succeeded), failed=len(failed), skipped=skipped)
    return {
        "region_id": region_id(region, job.job_id),
        "status": status.value,
        "features": len(features),
        "failed_tiles": len(failed),
    }
