"""Load the image named by the job's trigger and split it into regions (the state machine's first task)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._runtime import logger, metrics, services, tracer
from tessera.pipeline import load_job


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start the job; return the job and its regions for the Map state."""
    reply = load_job(event, services())
    logger.set_correlation_id(reply["job"]["job_id"])
    metrics.add_dimension(name="Operation", value="ImageProcessing")
    metrics.add_metric(name="Regions", unit=MetricUnit.Count, value=reply["region_count"])
    logger.info("job loaded", extra={"regions": reply["region_count"]})
    return reply
