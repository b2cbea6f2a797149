"""Load the image named by the job's trigger and split it into regions (the state machine's first task)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._metrics import emit
from tessera.handlers._runtime import logger, services, tracer
from tessera.pipeline import load_job
from tessera.requests import ImageRequest


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start the job; return the job and its regions for the Map state."""
    started = time.monotonic()
    reply = load_job(event, services(), validate=lambda message: parse(event=message, model=ImageRequest))
    job = reply["job"]
    logger.set_correlation_id(job["job_id"])
    emit(
        "TileGeneration",
        model_name=job["model_name"],
        input_format=reply["input_format"],
        duration_s=time.monotonic() - started,
        invocations=reply["region_count"],
    )
    logger.info("job loaded", extra={"regions": reply["region_count"]})
    return reply
