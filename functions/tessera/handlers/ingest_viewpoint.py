"""Ingest a viewpoint (the ingest state machine's task): COG, statistics, sidecars, READY."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.geo.sensor_models import elevation_options
from tessera.handlers._runtime import logger, tracer
from tessera.viewpoints.service import ViewpointService


@cache
def viewpoints() -> ViewpointService:
    """The AWS-backed viewpoint service (no workflow starter: ingest is already running in one)."""
    import boto3

    from tessera.settings import ViewpointSettings
    from tessera.state.viewpoints import ViewpointTable

    settings = ViewpointSettings.from_env()
    session = boto3.session.Session()
    table = ViewpointTable(session.resource("dynamodb").Table(settings.viewpoint_table), settings.retention_days)
    return ViewpointService(settings, table, session.client("s3"))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Build the viewpoint's artifacts and mark it READY; errors go to the workflow's Retry/Catch."""
    service = viewpoints()
    item = service.run_ingest(event, elevation=elevation_options(service.settings.elevation_model))
    logger.info("viewpoint ready", extra={"viewpoint_id": item["viewpoint_id"], "timings": item.get("timings")})
    return {"viewpoint_id": item["viewpoint_id"], "viewpoint_status": item["viewpoint_status"]}
