"""Deduplicate the job's features and write them to its outputs (the state machine's last task)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._metrics import emit
from tessera.handlers._runtime import logger, services, tracer
from tessera.pipeline import aggregate_job
from tessera.requests import JobSpec


@logger.inject_lambda_context(correlation_id_path="job.job_id", log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Aggregate ``event["job"]``; reply with its final status and outputs."""
    job = JobSpec.model_validate(event["job"])
    started = time.monotonic()
    reply = aggregate_job(job, services())
    dims = {"model_name": job.model_name, "input_format": reply["input_format"]}
    emit("FeatureAggregation", **dims, duration_s=time.monotonic() - started, invocations=1)
    failed_outputs = sum(1 for o in reply["outputs"] if o["status"] == "FAILED")
    emit("FeatureDissemination", **dims, invocations=len(reply["outputs"]), errors=failed_outputs)
    emit(
        "ImageProcessing",
        **dims,
        duration_s=float(reply["processing_duration"] or 0.0),
        invocations=1,
        errors=int(reply["status"] == "FAILED"),
    )
    logger.info("job aggregated", extra={"result": reply})
    return reply
