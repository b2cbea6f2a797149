"""cdk-nag AwsSolutions acknowledgements: each names its finding and says why it is acceptable.

Findings are acknowledged on the narrowest construct that causes them. Ids that embed a logical id are
computed from the resources themselves, so they follow renames instead of silently going stale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import TesseraStack


def _ack(scope: IConstruct, finding: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{finding}", reason=reason))


def _logical_id(stack: Stack, token: str) -> str:
    resolved = stack.resolve(token)
    return str(resolved["Fn::GetAtt"][0] if "Fn::GetAtt" in resolved else resolved["Ref"])


def acknowledge_findings(stack: TesseraStack) -> None:
    """Acknowledge the findings that are deliberate, with their reasons."""
    pipeline = stack.pipeline
    images = _logical_id(stack, stack.buckets.images.bucket_arn)
    results = _logical_id(stack, stack.buckets.results.bucket_arn)
    _ack(
        stack,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AWSLambdaBasicExecutionRole only lets a function write its own CloudWatch Logs; it is used by the "
        "pipeline functions and by CDK's bucket-notification custom resource.",
    )
    objects = {
        images: "Images may be anywhere in the image bucket; object keys are only known at run time.",
        results: "Region results and outputs are written under job-specific keys known only at run time.",
    }
    for fn in pipeline.functions:
        _acknowledge_function(fn, objects)
    _ack(
        pipeline.region,
        "IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/*]",
        "Requests name the SageMaker endpoint to invoke; access is limited to this account and region.",
    )
    _ack(
        pipeline.load,
        "IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/*]",
        "The load step reads an endpoint's variant weights to pin one variant per job (as OSML).",
    )
    _ack(
        pipeline.aggregate,
        "IAM5[Resource::arn:<AWS::Partition>:kinesis:<AWS::Region>:<AWS::AccountId>:stream/*]",
        "Requests name the Kinesis stream their features go to; access is limited to this account and region.",
    )
    for bucket in (b.strip() for b in stack.config.output_bucket_names.split(",") if b.strip()):
        _ack(
            pipeline.aggregate,
            f"IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}/*]",
            f"Jobs write their FeatureCollection under job-specific keys in the configured output bucket {bucket}.",
        )
    if stack.model_endpoint is not None:
        role = stack.model_endpoint.role
        _ack(role, "IAM5[Resource::*]", "ecr:GetAuthorizationToken supports no resource-level permissions.")
        _ack(
            role,
            "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/"
            "Endpoints/*]",
            "SageMaker names the endpoint's log groups after the endpoint, known only once deployed.",
        )
    machine = pipeline.state_machine
    machine_id = _logical_id(stack, machine.state_machine_arn)
    executions = f'execution:{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine_id}"}}]}}]}}'
    for suffix in (":*", "/*:*"):
        _ack(
            machine,
            f"IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:{executions}{suffix}]",
            "The Distributed Map starts, describes and stops child executions of this state machine only.",
        )
    _ack(
        machine,
        f"IAM5[Resource::arn:<AWS::Partition>:s3:::<{results}>/*]",
        "The Distributed Map reads each job's region list from the results bucket under a job-specific key.",
    )
    _ack(
        machine,
        "IAM5[Resource::*]",
        "X-Ray tracing and CloudWatch Logs delivery for Step Functions support no resource-level permissions.",
    )
    _acknowledge_invokes(stack, machine, pipeline.functions)
    _acknowledge_tile_server(stack, images)


def _acknowledge_function(fn: IConstruct, objects: dict[str, str]) -> None:
    """What every Tessera function shares: the pinned runtime, X-Ray, CDK's bucket grants on our own buckets."""
    _ack(
        fn,
        "L1",
        "The runtime is pinned to python3.13 so that Lambda and local tests run the same "
        "interpreter and the same rasterio/GDAL wheels (layers/gdal/requirements.txt).",
    )
    _ack(
        fn,
        "IAM5[Resource::*]",
        "X-Ray tracing (xray:PutTraceSegments/PutTelemetryRecords) supports no resource-level permissions.",
    )
    for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "s3:DeleteObject*"):
        _ack(fn, f"IAM5[Action::{action}]", "CDK's bucket grants, scoped to this stack's own buckets.")
    for bucket, reason in objects.items():
        _ack(fn, f"IAM5[Resource::<{bucket}.Arn>/*]", reason)


def _acknowledge_invokes(stack: Stack, machine: IConstruct, functions: list[Any]) -> None:
    for fn in functions:
        _ack(
            machine,
            f"IAM5[Resource::<{_logical_id(stack, fn.function_arn)}.Arn>:*]",
            "lambda:InvokeFunction on the function's versions and aliases, as CDK grants it.",
        )


def _acknowledge_tile_server(stack: TesseraStack, images: str) -> None:
    tiles = stack.tile_server
    artifacts = _logical_id(stack, tiles.bucket.bucket_arn)
    objects = {
        images: "Viewpoint sources may be anywhere in the image bucket; keys are only known at run time.",
        artifacts: "Each viewpoint's COG and sidecars live under its own id, known only at run time.",
    }
    for fn in (tiles.ingest, tiles.failure, tiles.api_function):
        _acknowledge_function(fn, objects)
    machine = tiles.ingest_state_machine
    _acknowledge_invokes(stack, machine, [tiles.ingest, tiles.failure])
    _ack(
        machine,
        "IAM5[Resource::*]",
        "X-Ray tracing and CloudWatch Logs delivery for Step Functions support no resource-level permissions.",
    )
    if stack.config.tile_api_auth.upper() != "IAM":
        _ack(
            tiles.api,
            "APIG4",
            "tessera:tileApiAuth is NONE: this deployment serves tiles publicly by choice (e.g. behind CloudFront).",
        )
