"""One way to make a Tessera Lambda function: the runtime, architecture, tracing and a log group with retention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.layers import ARCHITECTURE, RUNTIME

#: What the function code asset leaves out.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/tests", "*.egg-info"]


def python_function(
    scope: Construct,
    name: str,
    *,
    code: lambda_.Code,
    handler: str,
    layers: Sequence[lambda_.ILayerVersion],
    memory: int,
    timeout: Duration,
    environment: Mapping[str, str],
    **extra: object,
) -> lambda_.Function:
    """A function running ``tessera.handlers.<handler>.handler`` with X-Ray tracing and a one-month log group."""
    log_group = logs.LogGroup(
        scope, f"{name}Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
    )
    return lambda_.Function(
        scope,
        name,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        code=code,
        handler=f"tessera.handlers.{handler}.handler",
        layers=list(layers),
        memory_size=memory,
        timeout=timeout,
        environment=dict(environment),
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        description=f"Tessera {name}",
        **extra,  # type: ignore[arg-type]
    )
