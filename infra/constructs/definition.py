"""The state machine: Load → Map over regions (each with its own Catch) → Aggregate, with a Catch everywhere.

::

                   ┌─► ProcessRegions (inline Map, MaxConcurrency N) ─────────┐
    LoadImage ──► ManyRegions? ─► ProcessManyRegions (Distributed Map, S3) ──┴─► Aggregate ──► JobSucceeded?
        │            each iteration: ProcessRegion ─(Catch)─► RecordRegionFailure        │
        └────────────────────(Catch on every step)────────► RecordJobFailure ─► JobFailed (Fail)

Up to ``inline_region_limit`` regions travel in the payload to an inline Map. More go through a
Distributed Map that reads the region list the load step wrote to S3: an inline Map's iterations count
against the execution's 25,000 history events (about 7 events per region) and its items against the
256 KB payload, while each Distributed Map child has its own history.

Every Lambda task retries Lambda service errors and throttling with exponential backoff and full jitter.
A region whose Lambda still fails is recorded FAILED inside the Map iteration, so the other regions go
on and the job's outcome never depends on ``ToleratedFailurePercentage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
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
        max_attempts=10,
        backoff_rate=2.0,
        max_delay=Duration.seconds(60),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def _region_iteration(scope: object, functions: PipelineFunctions, suffix: str = "") -> tasks.LambdaInvoke:
    """One region: process it, or record it FAILED when its Lambda gives up (the Catch inside the Map)."""
    process_region = _invoke(scope, f"ProcessRegion{suffix}", functions.region)
    # A region that saved its progress before the Lambda's deadline goes on in a new invocation.
    process_region.add_retry(
        errors=["RegionTimeBudgetError"], interval=Duration.seconds(1), max_attempts=50, backoff_rate=1.0
    )
    process_region.add_catch(
        _invoke(scope, f"RecordRegionFailure{suffix}", functions.failure),
        errors=["States.ALL"],
        result_path="$.error",
    )
    return process_region


REGION_SELECTOR = {"job.$": "$.job", "region.$": "$$.Map.Item.Value"}


def build_definition(
    scope: object,
    functions: PipelineFunctions,
    *,
    map_concurrency: int,
    inline_region_limit: int,
    results_bucket: s3.IBucket,
    distributed_concurrency: int = 100,
) -> sfn.IChainable:
    """The chain of states; see the module docstring for its shape."""
    job_failed = sfn.Fail(scope, "JobFailed", cause="The job failed; its record in the job table says why.")  # type: ignore[arg-type]
    record_job_failure = _invoke(scope, "RecordJobFailure", functions.failure, result_path="$.failure").next(job_failed)

    def catch_job(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
        task.add_catch(record_job_failure, errors=["States.ALL"], result_path="$.error")
        return task

    load = catch_job(_invoke(scope, "LoadImage", functions.load))
    # Whatever started the execution (an S3 event, an ImageRequest, a batch of SQS records from the pipe)
    # becomes {"input": ...}, an object, so that every Catch can add "error" to it.
    start = sfn.Pass(scope, "Start", parameters={"input.$": "$"})  # type: ignore[arg-type]
    regions = sfn.Map(
        scope,  # type: ignore[arg-type]
        "ProcessRegions",
        items_path="$.regions",
        item_selector=REGION_SELECTOR,
        max_concurrency=map_concurrency,
        result_path=sfn.JsonPath.DISCARD,
    )
    regions.item_processor(_region_iteration(scope, functions))
    regions.add_catch(record_job_failure, errors=["States.ALL"], result_path="$.error")
    many_regions = sfn.DistributedMap(
        scope,  # type: ignore[arg-type]
        "ProcessManyRegions",
        item_reader=sfn.S3JsonItemReader(bucket=results_bucket, key=sfn.JsonPath.string_at("$.regions_key")),
        item_selector=REGION_SELECTOR,
        max_concurrency=distributed_concurrency,
        result_path=sfn.JsonPath.DISCARD,
        map_execution_type=sfn.StateMachineType.STANDARD,
    )
    many_regions.item_processor(_region_iteration(scope, functions, "InChild"))
    many_regions.add_catch(record_job_failure, errors=["States.ALL"], result_path="$.error")
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
    regions.next(aggregate)
    many_regions.next(aggregate)
    aggregate.next(outcome)
    split = (
        sfn.Choice(scope, "ManyRegions?")  # type: ignore[arg-type]
        .when(sfn.Condition.number_greater_than("$.region_count", inline_region_limit), many_regions)
        .otherwise(regions)
    )
    return start.next(load).next(split)
