"""The Tessera stack: storage, tracking, layers and the image pipeline, composed."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import TesseraConfig
from infra.constructs import (
    ImagePipeline,
    ImageryBuckets,
    ModelEndpoint,
    PythonLayers,
    RequestQueue,
    TileServer,
    TrackingTables,
)
from infra.nag import acknowledge_findings


class TesseraStack(Stack):
    """Everything one deployment of Tessera needs."""

    def __init__(self, scope: Construct, construct_id: str, *, config: TesseraConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        self.buckets = ImageryBuckets(self, "Storage", retention_days=config.retention_days)
        self.tables = TrackingTables(self, "Tracking")
        self.layers = PythonLayers(self, "Layers", layers_dir=config.path(config.layers_dir))
        self.pipeline = ImagePipeline(
            self,
            "Pipeline",
            config=config,
            buckets=self.buckets,
            tables=self.tables,
            layers=self.layers,
            code_dir=config.path(config.functions_dir),
        )
        self.requests = RequestQueue(self, "Requests", state_machine=self.pipeline.state_machine)
        self.tile_server = TileServer(
            self,
            "Tiles",
            config=config,
            buckets=self.buckets,
            layers=self.layers,
            code_dir=config.path(config.functions_dir),
        )
        for name, value in {
            "ImageBucket": self.buckets.images.bucket_name,
            "ResultsBucket": self.buckets.results.bucket_name,
            "JobTable": self.tables.jobs.table_name,
            "RegionTable": self.tables.regions.table_name,
            "StateMachineArn": self.pipeline.state_machine.state_machine_arn,
            "StatusTopicArn": self.pipeline.status_topic.topic_arn,
            "ImageRequestQueueUrl": self.requests.queue.queue_url,
            "TileApiUrl": self.tile_server.api.url or "",
            "ViewpointTable": self.tile_server.table.table_name,
            "ViewpointBucket": self.tile_server.bucket.bucket_name,
            "IngestStateMachineArn": self.tile_server.ingest_state_machine.state_machine_arn,
        }.items():
            CfnOutput(self, name, value=value)
        self.model_endpoint: ModelEndpoint | None = None
        if config.model_image_uri:
            self.model_endpoint = ModelEndpoint(
                self, "Models", image_uri=config.model_image_uri, instance_type=config.model_instance_type
            )
            CfnOutput(self, "ModelEndpointName", value=self.model_endpoint.endpoint_name)
        acknowledge_findings(self)
