"""Run the model over one region's tiles (one Map iteration)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._metrics import emit
from tessera.handlers._runtime import logger, services, tracer
from tessera.pipeline import process_region
from tessera.requests import JobSpec
from tessera.tiling import ImageRegion


@logger.inject_lambda_context(correlation_id_path="job.job_id", log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process ``event["region"]`` of ``event["job"]``; reply with the region's status and counts."""
    job = JobSpec.model_validate(event["job"])
    started = time.monotonic()
    reply = process_region(
        job,
        ImageRegion.from_osml(event["region"]),
        services(),
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    dims = {"model_name": job.model_name, "input_format": reply["input_format"]}
    failed = reply["status"] == "FAILED"
    emit("RegionProcessing", **dims, duration_s=time.monotonic() - started, invocations=1, errors=int(failed))
    emit("TileProcessing", **dims, invocations=reply["tiles"], errors=reply["failed_tiles"])
    logger.info("region processed", extra={"region": reply})
    return reply
