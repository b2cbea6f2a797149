"""Record a failed viewpoint ingest (the ingest state machine's Catch): FAILED with a readable message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.handlers._runtime import logger
from tessera.handlers.ingest_viewpoint import viewpoints
from tessera.pipeline.failure import error_message


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Mark the viewpoint FAILED unless it is already READY or gone (conditional, so never a regression)."""
    service = viewpoints()
    source = event.get("input", event)
    if isinstance(source, dict) and source.get("source") == "aws.s3":
        viewpoint_id = service.request_from_upload(source).viewpoint_id
    else:
        viewpoint_id = str(source.get("viewpoint_id", "unknown"))
    message = error_message(event.get("error"))
    item = service.record_failure(viewpoint_id, message)
    logger.warning("viewpoint failed", extra={"viewpoint_id": viewpoint_id, "error": message})
    return {"viewpoint_id": viewpoint_id, "viewpoint_status": item["viewpoint_status"] if item else "UNCHANGED"}
