"""Record a failed job or region (the target of every Catch in the state machine)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._runtime import logger, services, tracer
from tessera.pipeline import record_failure


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Mark the job (or the region, inside the Map) FAILED with a readable message."""
    reply = record_failure(event, services())
    logger.warning("failure recorded", extra={"failure": reply})
    return reply
