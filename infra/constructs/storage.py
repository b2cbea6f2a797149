"""Buckets and tables with secure defaults: no public access, TLS only, encryption, logging, PITR, TTL."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_s3 as s3
from constructs import Construct


def secure_bucket(scope: Construct, construct_id: str, **overrides: object) -> s3.Bucket:
    """A bucket with no public access, TLS only, S3-managed encryption and owner-enforced objects, retained."""
    props: dict[str, object] = {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": RemovalPolicy.RETAIN,
    }
    props.update(overrides)
    return s3.Bucket(scope, construct_id, **props)  # type: ignore[arg-type]


def tracked_table(
    scope: Construct, construct_id: str, partition_key: ddb.Attribute, sort_key: ddb.Attribute | None = None
) -> ddb.Table:
    """A table with on-demand capacity, point-in-time recovery, AWS-managed encryption, TTL on ``expire_time``."""
    return ddb.Table(
        scope,
        construct_id,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
        encryption=ddb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
        time_to_live_attribute="expire_time",
        removal_policy=RemovalPolicy.RETAIN,
    )


class ImageryBuckets(Construct):
    """The image bucket (EventBridge notifications on), the results bucket, and their access-log bucket.

    Region results under ``jobs/`` in the results bucket expire after ``retention_days``; the job's
    features (the outputs) are kept.
    """

    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int = 7) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = secure_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )
        self.images = secure_bucket(
            self,
            "Images",
            event_bridge_enabled=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="images/",
        )
        self.results = secure_bucket(
            self,
            "Results",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="results/",
            lifecycle_rules=[s3.LifecycleRule(prefix="jobs/", expiration=Duration.days(retention_days))],
        )


class TrackingTables(Construct):
    """The job table (``job_id``) and the region table (``image_id``/``region_id``, OSML's RegionRequestTable).

    On-demand capacity, point-in-time recovery, AWS-managed encryption and TTL on ``expire_time``.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.jobs = tracked_table(self, "Jobs", ddb.Attribute(name="job_id", type=ddb.AttributeType.STRING))
        self.regions = tracked_table(
            self,
            "Regions",
            ddb.Attribute(name="image_id", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="region_id", type=ddb.AttributeType.STRING),
        )
