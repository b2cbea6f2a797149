"""Run the model over one region's tiles (one Map iteration)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._runtime import logger, metrics, services, tracer
from tessera.pipeline import process_region
from tessera.requests import JobSpec
from tessera.tiling import ImageRegion


@logger.inject_lambda_context(correlation_id_path="job.job_id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process ``event["region"]`` of ``event["job"]``; reply with the region's status and counts."""
    job = JobSpec.model_validate(event["job"])
    reply = process_region(job, ImageRegion.from_osml(event["region"]), services())
    metrics.add_dimension(name="Operation", value="RegionProcessing")
    metrics.add_dimension(name="ModelName", value=job.model_name)
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TileErrors", unit=MetricUnit.Count, value=reply["failed_tiles"])
    logger.info("region processed", extra={"region": reply})
    return reply
