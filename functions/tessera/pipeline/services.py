"""The collaborators every step needs, built once per Lambda cold start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tessera.requests.job import OutputSpec
from tessera.settings import Settings
from tessera.sinks import RegionResults
from tessera.state.dynamodb import JobTable, RegionTable
from tessera.status import StatusPublisher

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class Services:
    """Adapters at the pipeline's edges."""

    settings: Settings
    s3: S3Client
    jobs: JobTable
    regions: RegionTable
    results: RegionResults
    status: StatusPublisher

    @property
    def default_output(self) -> OutputSpec:
        """The stack's results bucket, used when a request names no output."""
        return OutputSpec(kind="S3", bucket=self.settings.results_bucket, prefix=self.settings.result_prefix)

    def read_object(self, bucket: str, key: str) -> bytes:
        """An S3 object's bytes."""
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def build_services(settings: Settings | None = None, session: Any = None) -> Services:
    """Services backed by AWS (or whatever ``AWS_ENDPOINT_URL`` points boto3 at)."""
    import boto3

    settings = settings or Settings.from_env()
    session = session or boto3.session.Session()
    dynamodb = session.resource("dynamodb")
    s3 = session.client("s3")
    return Services(
        settings=settings,
        s3=s3,
        jobs=JobTable(dynamodb.Table(settings.job_table), settings.retention_days),
        regions=RegionTable(dynamodb.Table(settings.region_table), settings.retention_days),
        results=RegionResults(s3, settings.results_bucket),
        status=StatusPublisher(session.client("sns") if settings.status_topic_arn else None, settings.status_topic_arn),
    )
