"""Step 1: read the request, open the image, and split it into regions."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from tessera.errors import InvalidRequestError
from tessera.geo import sensor_model_for
from tessera.imagery import band_counts, image_info, open_image
from tessera.inference import detector_for
from tessera.inference.sagemaker import choose_variant
from tessera.pipeline.services import Services, gdal_credentials, model_session
from tessera.requests import JobSpec, ModelInvokeMode, job_spec_from_request, parse_image_request
from tessera.requests.events import request_from_event
from tessera.requests.image_request import Validator
from tessera.state import RequestStatus
from tessera.tiling import generate_regions, generate_tiles, processing_bounds


def resolve_job(event: Any, services: Services, validate: Validator | None = None) -> tuple[JobSpec, dict[str, Any]]:
    """The validated job an event stands for, and the request message it came from."""
    settings = services.settings
    if isinstance(event, dict) and set(event) == {"input"}:
        event = event["input"]  # the state machine's Start state wraps whatever started the execution
    request_message = request_from_event(
        event,
        read_object=services.read_object,
        request_prefix=settings.request_prefix,
        default_model=settings.default_model,
    )
    request = parse_image_request(request_message, validate)
    job = job_spec_from_request(
        request,
        default_tile_size=settings.tile_size,
        default_tile_overlap=settings.tile_overlap,
        region_size=settings.region_size,
        default_output=services.default_output,
    )
    return job, request_message


def pin_variant(job: JobSpec, services: Services) -> JobSpec:
    """For a SageMaker model with no ``TargetVariant``, choose one by weight, once for the whole job."""
    if job.model_invoke_mode is not ModelInvokeMode.SM_ENDPOINT or "TargetVariant" in job.model_parameters:
        return job
    session = model_session(services, job)
    if session is None:
        return job
    variant = choose_variant(session.client("sagemaker"), job.model_name)
    if variant is None:
        return job
    return job.model_copy(update={"model_parameters": {**job.model_parameters, "TargetVariant": variant}})


#: A region item lists its tiles (~28 bytes each) and must stay under DynamoDB's 400 KB item limit.
MAX_TILES_PER_REGION = 10_000


def check_tile_encoding(job: JobSpec, bands: int) -> None:
    """Fail early when the image's bands do not fit the tile format an endpoint model asked for."""
    if job.model_invoke_mode is ModelInvokeMode.BUILTIN:
        return  # built-in models take the pixels as they are
    allowed = band_counts(job.tile_format.value, job.tile_compression.value)
    if allowed is not None and bands not in allowed:
        raise InvalidRequestError(
            f"imageProcessorTileFormat {job.tile_format.value} with compression {job.tile_compression.value} "
            f"cannot carry this image's {bands} bands (it holds {sorted(allowed)}); use GTIFF or NITF",
            field="imageProcessorTileFormat",
        )


def load_job(event: Any, services: Services, validate: Validator | None = None) -> dict[str, Any]:
    """Start the job an event stands for and return the Map state's input.

    The reply carries the job, the processing bounds and the regions as pixel rectangles (a few dozen
    bytes each), never pixels or features.
    """
    job, request_message = resolve_job(event, services, validate)
    job = job.model_copy(update={"run_id": uuid.uuid4().hex[:12]})
    services.jobs.start(job, request_message)
    services.status.publish(RequestStatus.STARTED, job.job_id, "job started", image_id=job.image_id)
    job = pin_variant(job, services)
    detector_for(job, services.session)  # an unknown model fails the job now, not once per region
    with open_image(job.image_url, **gdal_credentials(services, job)) as dataset:
        info = image_info(dataset)
        model = sensor_model_for(dataset, **services.elevation)
        bounds = processing_bounds(dataset.width, dataset.height, model, job.roi_wkt)
    check_tile_encoding(job, info.band_count)
    size = (job.tile_size, job.tile_size)
    overlap = (job.tile_overlap, job.tile_overlap)
    regions = generate_regions(bounds, (job.region_size, job.region_size), size, overlap)
    per_region = [len(generate_tiles(region, size, overlap)) for region in regions]
    tiles = sum(per_region)
    if per_region and max(per_region) > MAX_TILES_PER_REGION:
        raise InvalidRequestError(
            f"imageProcessorTileSize {job.tile_size} gives {max(per_region)} tiles per region (at most "
            f"{MAX_TILES_PER_REGION}: each region records its tiles in one table item); use larger tiles",
            field="imageProcessorTileSize",
        )
    services.jobs.set_in_progress(
        job.job_id,
        region_count=len(regions),
        tile_count=tiles,
        image={**asdict(info), "sensor_model": model.name if model else "none", "bounds": bounds.to_osml()},
    )
    services.status.publish(
        RequestStatus.IN_PROGRESS,
        job.job_id,
        f"{len(regions)} regions, {tiles} tiles",
        image_id=job.image_id,
    )
    region_list = [region.to_osml() for region in regions]
    regions_key = services.results.write_region_list(job.job_id, region_list)
    inline = len(region_list) <= services.settings.inline_region_limit
    return {
        "job": job.model_dump(mode="json"),
        "bounds": bounds.to_osml(),
        "region_count": len(regions),
        "regions": region_list if inline else [],
        "regions_key": regions_key,
        "input_format": info.driver.upper(),
    }
