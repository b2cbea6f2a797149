"""The pieces every Tessera construct builds the same way: functions, logged state machines, upload rules.

One place decides the runtime, tracing and log retention of every function and state machine, and how an
S3 upload is matched, so the pipeline and the tile server cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.layers import ARCHITECTURE, RUNTIME, PythonLayers

#: The image files whose upload starts work (matched in either case).
IMAGE_SUFFIXES = (".tif", ".tiff", ".ntf", ".nitf", ".jp2", ".png", ".jpg", ".jpeg")
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
        log_group=log_group(scope, f"{name}Logs"),
        description=f"Tessera {name}",
        **extra,  # type: ignore[arg-type]
    )


def log_group(scope: Construct, name: str) -> logs.LogGroup:
    """A log group kept one month and removed with the stack."""
    return logs.LogGroup(scope, name, retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY)


def logged_state_machine(
    scope: Construct, name: str, definition: sfn.IChainable, timeout: Duration
) -> sfn.StateMachine:
    """A standard state machine that logs every event with its data and traces with X-Ray."""
    return sfn.StateMachine(
        scope,
        name,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        logs=sfn.LogOptions(
            destination=log_group(scope, f"{name}Logs"), level=sfn.LogLevel.ALL, include_execution_data=True
        ),
        tracing_enabled=True,
        timeout=timeout,
    )


def image_key_patterns(prefix: str) -> list[dict[str, str]]:
    """EventBridge wildcard matchers for image files under ``prefix``."""
    return [{"wildcard": f"{prefix}*{suffix}"} for suffix in (*IMAGE_SUFFIXES, *(s.upper() for s in IMAGE_SUFFIXES))]


def upload_rule(
    scope: Construct,
    name: str,
    *,
    bucket: s3.IBucket,
    keys: list[dict[str, str]],
    machine: sfn.IStateMachine,
    description: str,
) -> events.Rule:
    """An EventBridge rule: an object created in ``bucket`` under one of ``keys`` starts ``machine``."""
    return events.Rule(
        scope,
        name,
        description=description,
        event_pattern=events.EventPattern(
            source=["aws.s3"],
            detail_type=["Object Created"],
            detail={"bucket": {"name": [bucket.bucket_name]}, "object": {"key": keys}},
        ),
        targets=[targets.SfnStateMachine(machine)],
    )


@dataclass
class FunctionFactory:
    """Makes a construct's functions alike: one code asset, the layers ``FUNCTION_LAYERS`` gives each by
    name, and a shared environment (which a function may extend)."""

    scope: Construct
    code_dir: Path
    layers: PythonLayers
    environment: Mapping[str, str]
    code: lambda_.Code = field(init=False)

    def __post_init__(self) -> None:
        self.code = lambda_.Code.from_asset(str(self.code_dir), exclude=ASSET_EXCLUDES)

    def __call__(
        self,
        name: str,
        handler: str,
        memory: int,
        timeout: Duration,
        *,
        environment: Mapping[str, str] | None = None,
        **extra: object,
    ) -> lambda_.Function:
        """The function ``name`` running ``tessera.handlers.<handler>``."""
        return python_function(
            self.scope,
            name,
            code=self.code,
            handler=handler,
            layers=self.layers.for_function(name),
            memory=memory,
            timeout=timeout,
            environment={**self.environment, **(environment or {})},
            **extra,
        )
