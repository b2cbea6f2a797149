"""The tile server: viewpoints ingested by a state machine, served by a Lambda behind an HTTP API.

Ingest runs as a Step Functions workflow (Ingest → Catch → RecordViewpointFailure) rather than a bare
Lambda so that transient errors are retried with backoff and jitter, every failure is recorded with its
message, and each ingest is visible in the console like a pipeline job. One Lambda does the work: a
15-minute budget with 10 GB of ephemeral storage covers the COG of images of several gigapixels.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Size
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import TesseraConfig
from infra.constructs.building_blocks import (
    FunctionFactory,
    image_key_patterns,
    log_group,
    logged_state_machine,
    upload_rule,
)
from infra.constructs.layers import PythonLayers
from infra.constructs.storage import ImageryBuckets, secure_bucket, tracked_table

#: Errors worth another attempt: S3 hiccups and the Lambda service's own transient failures.
TRANSIENT_ERRORS = [
    "TransientStorageError",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


class TileServer(Construct):
    """Viewpoint table and bucket, the ingest workflow, the tile API function and its HTTP API.

    Exposes ``table``, ``bucket``, ``ingest_state_machine``, ``api_function`` and ``api`` so an app can
    add a CloudFront distribution, alarms or a custom domain.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TesseraConfig,
        buckets: ImageryBuckets,
        layers: PythonLayers,
        code_dir: Path,
    ) -> None:
        super().__init__(scope, construct_id)
        viewpoint_id = ddb.Attribute(name="viewpoint_id", type=ddb.AttributeType.STRING)
        self.table = tracked_table(self, "Viewpoints", viewpoint_id)
        self.bucket = secure_bucket(
            self, "Artifacts", server_access_logs_bucket=buckets.access_logs, server_access_logs_prefix="viewpoints/"
        )
        environment = {
            "TESSERA_VIEWPOINT_TABLE": self.table.table_name,
            "TESSERA_VIEWPOINT_BUCKET": self.bucket.bucket_name,
            "TESSERA_VIEWPOINT_PREFIX": "viewpoints/",
            "TESSERA_VIEWPOINT_UPLOAD_PREFIX": config.viewpoint_prefix,
            "TESSERA_VIEWPOINT_RANGE_ADJUSTMENT": config.viewpoint_range_adjustment,
            "TESSERA_RETENTION_DAYS": str(config.retention_days),
            "TESSERA_CACHE_MAX_AGE": str(config.tile_cache_max_age),
            "TESSERA_ELEVATION_MODEL": config.elevation_model,
            "POWERTOOLS_SERVICE_NAME": "tessera-tiles",
            "POWERTOOLS_METRICS_NAMESPACE": "Tessera",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        function = FunctionFactory(self, code_dir, layers, environment)
        self.ingest = function(
            "IngestViewpoint", "ingest_viewpoint", 3008, Duration.minutes(15), ephemeral_storage_size=Size.gibibytes(10)
        )
        self.failure = function("RecordViewpointFailure", "record_viewpoint_failure", 512, Duration.minutes(1))
        self.ingest_state_machine = self._workflow()
        self.api_function = function(
            "TileApi",
            "tile_api",
            config.tile_api_memory_mb,
            Duration.seconds(29),  # API Gateway's integration limit is 30 s
            environment={"TESSERA_INGEST_STATE_MACHINE_ARN": self.ingest_state_machine.state_machine_arn},
        )
        self._grant(buckets)
        self.api = self._http_api(config)
        self.trigger = upload_rule(
            self,
            "UploadTrigger",
            bucket=buckets.images,
            keys=image_key_patterns(config.viewpoint_prefix),
            machine=self.ingest_state_machine,
            description="An image under the viewpoint prefix becomes a viewpoint",
        )

    def _workflow(self) -> sfn.StateMachine:
        ingest = tasks.LambdaInvoke(
            self, "Ingest", lambda_function=self.ingest, payload_response_only=True, retry_on_service_exceptions=False
        )
        ingest.add_retry(
            errors=TRANSIENT_ERRORS,
            interval=Duration.seconds(2),
            max_attempts=4,
            backoff_rate=2.0,
            jitter_strategy=sfn.JitterType.FULL,
        )
        record = tasks.LambdaInvoke(
            self,
            "RecordViewpointFailureTask",
            lambda_function=self.failure,
            payload_response_only=True,
            state_name="RecordViewpointFailure",
        )
        record.add_retry(errors=TRANSIENT_ERRORS, max_attempts=3, jitter_strategy=sfn.JitterType.FULL)
        failed = sfn.Fail(self, "ViewpointFailed", cause="the viewpoint could not be ingested; see its error_message")
        ingest.add_catch(record.next(failed), result_path="$.error")
        return logged_state_machine(
            self, "IngestStateMachine", ingest.next(sfn.Succeed(self, "ViewpointReady")), Duration.hours(2)
        )

    def _grant(self, buckets: ImageryBuckets) -> None:
        """Least privilege per function."""
        buckets.images.grant_read(self.ingest)
        self.bucket.grant_read_write(self.ingest)
        self.bucket.grant_delete(self.ingest)
        self.bucket.grant_read(self.api_function)
        self.bucket.grant_delete(self.api_function)
        self.table.grant_read_write_data(self.ingest)
        self.table.grant_read_write_data(self.failure)
        self.table.grant_read_write_data(self.api_function)
        self.ingest_state_machine.grant_start_execution(self.api_function)

    def _http_api(self, config: TesseraConfig) -> apigw.HttpApi:
        authorizer = authorizers.HttpIamAuthorizer() if config.tile_api_auth.upper() == "IAM" else None
        api = apigw.HttpApi(
            self,
            "HttpApi",
            description="Tessera tile server (OSML viewpoint routes)",
            default_integration=integrations.HttpLambdaIntegration("TileApiIntegration", self.api_function),
            default_authorizer=authorizer,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=["*"],
                allow_methods=[
                    apigw.CorsHttpMethod.GET,
                    apigw.CorsHttpMethod.HEAD,
                    apigw.CorsHttpMethod.POST,
                    apigw.CorsHttpMethod.PUT,
                    apigw.CorsHttpMethod.DELETE,
                ],
                allow_headers=["If-None-Match", "Authorization", "Content-Type"],
                expose_headers=["ETag"],
                max_age=Duration.hours(1),
            ),
        )
        access_logs = log_group(self, "ApiAccessLogs")
        stage = api.default_stage.node.default_child  # type: ignore[union-attr]
        stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(  # type: ignore[union-attr]
            destination_arn=access_logs.log_group_arn,
            format='{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":'
            '"$context.httpMethod","path":"$context.path","status":"$context.status","latencyMs":'
            '"$context.responseLatency","bytes":"$context.responseLength"}',
        )
        return api
