"""The collaborators every step needs, built once per Lambda cold start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tessera.requests import JobSpec
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
    session: Any = None

    @property
    def elevation(self) -> dict[str, Any]:
        """How RPC sensor models find ground height: a DEM (GDAL path) if configured, else height 0."""
        from tessera.geo.sensor_models import elevation_options

        return elevation_options(self.settings.elevation_model)

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
        status=StatusPublisher(
            session.client("sns") if settings.status_topic_arn else None,
            settings.status_topic_arn,
            regions=settings.region_status,
        ),
        session=session,
    )


def assumed_session(session: Any, role_arn: str, purpose: str) -> Any:
    """A boto3 session with the credentials of ``role_arn`` (STS AssumeRole).

    Raises:
        InvalidRequestError: when the role cannot be assumed, naming the role.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from tessera.errors import InvalidRequestError

    try:
        credentials = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=f"tessera-{purpose}")[
            "Credentials"
        ]
    except (ClientError, BotoCoreError) as err:
        raise InvalidRequestError(f"cannot assume role {role_arn} for {purpose}: {err}") from None
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )


def model_session(services: Services, job: JobSpec) -> Any:
    """The session that invokes the job's model (assuming ``imageProcessor.assumedRole`` if set)."""
    if job.model_role and services.session is not None:
        return assumed_session(services.session, job.model_role, "model")
    return services.session


def gdal_credentials(services: Services, job: JobSpec) -> dict[str, str]:
    """GDAL options that read the image with ``imageReadRole``'s credentials (none without a role)."""
    if not job.image_read_role or services.session is None:
        return {}
    credentials = assumed_session(services.session, job.image_read_role, "image-read").get_credentials()
    frozen = credentials.get_frozen_credentials()
    return {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        "AWS_SESSION_TOKEN": frozen.token or "",
    }
