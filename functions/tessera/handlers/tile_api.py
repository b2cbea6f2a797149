"""The tile server API (API Gateway HTTP API → this function): routes in :mod:`tessera.api.app`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tessera.api.app import logger, resolve


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve the HTTP request to its route."""
    return resolve(event, context)
