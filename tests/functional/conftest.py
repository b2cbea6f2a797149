"""The stack's tables, buckets and topic in moto (in-process), and the handlers wired to them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.worker import LocalLambdaContext
from tessera.handlers import _runtime, aggregate, load_image, process_region
from tessera.state.dynamodb import create_tables, plain


@dataclass
class Account:
    """Handles on the emulated resources."""

    s3: Any
    dynamodb: Any
    sqs: Any
    status_queue_url: str
    images: str = "images-bucket"
    results: str = "results-bucket"

    def job(self, job_id: str) -> dict[str, Any]:
        return plain(self.dynamodb.Table("jobs").get_item(Key={"job_id": job_id})["Item"])

    def regions(self, image_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        return plain(self.dynamodb.Table("regions").query(KeyConditionExpression=Key("image_id").eq(image_id))["Items"])

    def status_messages(self) -> list[dict[str, Any]]:
        """SNS status messages delivered to the subscribed queue, oldest first."""
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.status_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.status_queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def account(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    with mock_aws():
        s3 = boto3.client("s3")
        dynamodb = boto3.resource("dynamodb")
        sqs = boto3.client("sqs")
        sns = boto3.client("sns")
        for bucket in ("images-bucket", "results-bucket", "other-output"):
            s3.create_bucket(Bucket=bucket)
        create_tables(dynamodb, "jobs", "regions")
        topic = sns.create_topic(Name="status")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="status")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        for name, value in {
            "TESSERA_JOB_TABLE": "jobs",
            "TESSERA_REGION_TABLE": "regions",
            "TESSERA_RESULTS_BUCKET": "results-bucket",
            "TESSERA_STATUS_TOPIC_ARN": topic,
            "TESSERA_TILE_SIZE": "256",
            "TESSERA_TILE_OVERLAP": "16",
        }.items():
            monkeypatch.setenv(name, value)
        _runtime.services.cache_clear()
        yield Account(s3=s3, dynamodb=dynamodb, sqs=sqs, status_queue_url=queue_url)
        _runtime.services.cache_clear()


@pytest.fixture
def context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test")


def run_job(request: dict[str, Any], context: Any) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Run load → every region → aggregate, as the state machine does; return the three replies."""
    loaded = load_image.handler(request, context)
    regions = [
        process_region.handler({"job": loaded["job"], "region": region}, context) for region in loaded["regions"]
    ]
    result = aggregate.handler({"job": loaded["job"]}, context)
    return loaded, regions, result


def run(request: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run a whole job; return the aggregate step's reply."""
    return run_job(request, context)[2]


def write_geotiff(path: Any, pixels: Any) -> Any:
    """Write ``(bands, rows, cols)`` pixels as a GeoTIFF in UTM 33N at 0.5 m; return the path."""
    import rasterio
    from rasterio.transform import from_origin

    bands, height, width = pixels.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": str(pixels.dtype),
        "crs": "EPSG:32633",
        "transform": from_origin(500000, 4000000, 0.5, 0.5),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return path
