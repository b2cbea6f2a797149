"""The image pipeline: its Lambda functions, state machine, status topic and S3 trigger."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import TesseraConfig
from infra.constructs.building_blocks import FunctionFactory, image_key_patterns, logged_state_machine, upload_rule
from infra.constructs.definition import PipelineFunctions, build_definition
from infra.constructs.layers import PythonLayers
from infra.constructs.storage import ImageryBuckets, TrackingTables


class ImagePipeline(Construct):
    """Load → regions → aggregate, started by uploads to the image bucket.

    Exposes ``functions``, ``state_machine``, ``status_topic`` and ``trigger`` so an app can wire more to
    them (alarms, extra outputs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TesseraConfig,
        buckets: ImageryBuckets,
        tables: TrackingTables,
        layers: PythonLayers,
        code_dir: Path,
    ) -> None:
        super().__init__(scope, construct_id)
        self.status_topic = sns.Topic(self, "JobStatus", enforce_ssl=True, display_name="Tessera job status")
        environment = {
            "TESSERA_JOB_TABLE": tables.jobs.table_name,
            "TESSERA_REGION_TABLE": tables.regions.table_name,
            "TESSERA_RESULTS_BUCKET": buckets.results.bucket_name,
            "TESSERA_RESULT_PREFIX": config.result_prefix,
            "TESSERA_STATUS_TOPIC_ARN": self.status_topic.topic_arn,
            "TESSERA_IMAGE_PREFIX": config.image_prefix,
            "TESSERA_REQUEST_PREFIX": config.request_prefix,
            "TESSERA_DEFAULT_MODEL": config.default_model,
            "TESSERA_TILE_SIZE": str(config.tile_size),
            "TESSERA_TILE_OVERLAP": str(config.tile_overlap),
            "TESSERA_REGION_SIZE": str(config.region_size),
            "TESSERA_RETENTION_DAYS": str(config.retention_days),
            "TESSERA_TILE_WORKERS": str(config.tile_workers),
            "TESSERA_INLINE_REGION_LIMIT": str(config.inline_region_limit),
            "TESSERA_REGION_STATUS": str(config.region_status).lower(),
            "TESSERA_ELEVATION_MODEL": config.elevation_model,
            "POWERTOOLS_SERVICE_NAME": "tessera",
            "POWERTOOLS_METRICS_NAMESPACE": "Tessera",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        function = FunctionFactory(self, code_dir, layers, environment)
        # Layers per function come from layers/build.py's FUNCTION_LAYERS: load and region run detector_for (the
        # onnx model) and carry onnxruntime; aggregate writes the outputs and carries pyarrow (GeoParquet).
        self.load = function("LoadImage", "load_image", 1769, Duration.minutes(5))
        self.region = function("ProcessRegion", "process_region", config.region_memory_mb, Duration.minutes(15))
        self.aggregate = function("Aggregate", "aggregate", config.aggregate_memory_mb, Duration.minutes(15))
        self.failure = function("RecordFailure", "record_failure", 512, Duration.minutes(1))
        self._grant(buckets, tables)
        self._grant_models(config)

        definition = build_definition(
            Construct(self, "Workflow"),
            PipelineFunctions(load=self.load, region=self.region, aggregate=self.aggregate, failure=self.failure),
            map_concurrency=config.map_concurrency,
            inline_region_limit=config.inline_region_limit,
            distributed_concurrency=config.distributed_map_concurrency,
            results_bucket=buckets.results,
        )
        self.state_machine = logged_state_machine(self, "StateMachine", definition, Duration.hours(24))
        self.trigger = upload_rule(
            self,
            "UploadTrigger",
            bucket=buckets.images,
            keys=self.trigger_key_patterns(config),
            machine=self.state_machine,
            description="An image under the image prefix, or a JSON ImageRequest under the request prefix, "
            "starts a job",
        )

    @staticmethod
    def trigger_key_patterns(config: TesseraConfig) -> list[dict[str, str]]:
        """EventBridge wildcard matchers for the keys that start a job."""
        return [*image_key_patterns(config.image_prefix), {"wildcard": f"{config.request_prefix}*.json"}]

    def _grant_models(self, config: TesseraConfig) -> None:
        """SageMaker endpoints in this account and region; roles only where the deployment trusts them."""
        endpoints = Stack.of(self).format_arn(service="sagemaker", resource="endpoint", resource_name="*")
        self.region.add_to_role_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoints]))
        self.load.add_to_role_policy(iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoints]))
        streams = Stack.of(self).format_arn(service="kinesis", resource="stream", resource_name="*")
        self.aggregate.add_to_role_policy(
            iam.PolicyStatement(actions=["kinesis:PutRecords", "kinesis:DescribeStreamSummary"], resources=[streams])
        )
        buckets = [name.strip() for name in config.output_bucket_names.split(",") if name.strip()]
        if buckets:
            self.aggregate.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[f"arn:{Stack.of(self).partition}:s3:::{b}/*" for b in buckets]
                )
            )
        if config.trusted_role_arns:
            roles = [arn.strip() for arn in config.trusted_role_arns.split(",") if arn.strip()]
            for fn in (self.load, self.region, self.aggregate):  # image reads, models, outputs
                fn.add_to_role_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=roles))

    def _grant(self, buckets: ImageryBuckets, tables: TrackingTables) -> None:
        """Least privilege per function."""
        for fn in (self.load, self.region):
            buckets.images.grant_read(fn)
        buckets.results.grant_read(self.aggregate)
        buckets.results.grant_read(self.region)
        buckets.results.grant_put(self.region)
        buckets.results.grant_put(self.load)  # the region list the Distributed Map reads
        buckets.results.grant_put(self.aggregate)
        tables.jobs.grant_read_write_data(self.load)
        tables.jobs.grant_read_write_data(self.region)
        tables.jobs.grant_read_write_data(self.aggregate)
        tables.jobs.grant_read_write_data(self.failure)
        tables.regions.grant_read_write_data(self.region)
        tables.regions.grant_read_data(self.aggregate)
        tables.regions.grant_read_write_data(self.failure)
        buckets.images.grant_read(self.failure)
        for fn in (self.load, self.region, self.aggregate, self.failure):
            self.status_topic.grant_publish(fn)
        self.functions = [self.load, self.region, self.aggregate, self.failure]
