"""What every handler shares: Powertools utilities and the services, built once per cold start."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger, Tracer

from tessera.pipeline.services import Services, build_services

logger = Logger(service="tessera")
tracer = Tracer(service="tessera")


@cache
def services() -> Services:
    """The AWS-backed services, created on first use (cold start), reused by warm invocations."""
    return build_services()
