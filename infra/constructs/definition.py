"""The state machine: Load → Map over regions (each with its own Catch) → Aggregate, with a Catch everywhere.

::

    LoadImage ──► ProcessRegions (Map, MaxConcurrency N) ──► Aggregate ──► JobSucceeded? ──► Done
        │            └─ ProcessRegion ─(Catch)─► RecordRegionFailure        │              └► JobFailed
        └────────────────────(Catch)──────────────► RecordJobFailure ◄──────┘
                                                          └► JobFailed (Fail)

Every Lambda task retries Lambda service errors and throttling with exponential backoff and full jitter.
A region whose Lambda still fails is recorded FAILED inside the Map iteration, so the other regions go
on and the job's outcome never depends on ``ToleratedFailurePercentage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]


@dataclass(frozen=True)
class PipelineFunctions:
    """The functions the state machine calls."""

    load: lambda_.IFunction
    region: lambda_.IFunction
    aggregate: lambda_.IFunction
    failure: lambda_.IFunction


def _invoke(
    scope: sfn.StateGraph | object, name: str, function: lambda_.IFunction, **kwargs: object
) -> tasks.LambdaInvoke:
    task = tasks.LambdaInvoke(
        scope,  # type: ignore[arg-type]
        name,
        lambda_function=function,
        payload_response_only=True,
        retry_on_service_exceptions=False,
        **kwargs,  # type: ignore[arg-type]
    )
    task.add_retry(
        errors=LAMBDA_TRANSIENT_ERRORS,
        interval=Duration.seconds(2),
        max_attempts=6,
        backoff_rate=2.0,
        max_delay=Duration.seconds(60),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def build_definition(scope: object, functions: PipelineFunctions, *, map_concurrency: int) -> sfn.IChainable:
    """The chain of states; see the module docstring for its shape."""
    job_failed = sfn.Fail(scope, "JobFailed", cause="The job failed; its record in the job table says why.")  # type: ignore[arg-type]
    record_job_failure = _invoke(scope, "RecordJobFailure", functions.failure, result_path="$.failure").next(job_failed)

    def catch_job(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
        task.add_catch(record_job_failure, errors=["States.ALL"], result_path="$.error")
        return task

    load = catch_job(_invoke(scope, "LoadImage", functions.load))
    process_region = _invoke(scope, "ProcessRegion", functions.region)
    process_region.add_catch(
        _invoke(scope, "RecordRegionFailure", functions.failure),
        errors=["States.ALL"],
        result_path="$.error",
    )
    regions = sfn.Map(
        scope,  # type: ignore[arg-type]
        "ProcessRegions",
        items_path="$.regions",
        item_selector={
            "job.$": "$.job",
            "region.$": "$$.Map.Item.Value",
        },
        max_concurrency=map_concurrency,
        result_path=sfn.JsonPath.DISCARD,
    )
    regions.item_processor(process_region)
    regions.add_catch(record_job_failure, errors=["States.ALL"], result_path="$.error")
    aggregate = catch_job(
        _invoke(
            scope,
            "Aggregate",
            functions.aggregate,
            payload=sfn.TaskInput.from_object({"job.$": "$.job"}),
            result_path="$.result",
        )
    )
    outcome = (
        sfn.Choice(scope, "JobSucceeded?")  # type: ignore[arg-type]
        .when(
            sfn.Condition.string_equals("$.result.status", "FAILED"),
            sfn.Fail(
                scope,
                "AllOutputsFailed",  # type: ignore[arg-type]
                cause="No region or output succeeded; see the job table.",
            ),
        )
        .otherwise(sfn.Succeed(scope, "Done"))  # type: ignore[arg-type]
    )
    return load.next(regions).next(aggregate).next(outcome)
