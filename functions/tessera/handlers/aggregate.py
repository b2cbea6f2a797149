"""Deduplicate the job's features and write them to its outputs (the state machine's last task)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._runtime import logger, metrics, services, tracer
from tessera.pipeline import aggregate_job
from tessera.requests import JobSpec


@logger.inject_lambda_context(correlation_id_path="job.job_id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Aggregate ``event["job"]``; reply with its final status and outputs."""
    job = JobSpec.model_validate(event["job"])
    reply = aggregate_job(job, services())
    metrics.add_dimension(name="Operation", value="FeatureAggregation")
    metrics.add_metric(name="Features", unit=MetricUnit.Count, value=reply["feature_count"])
    logger.info("job aggregated", extra={"result": reply})
    return reply
