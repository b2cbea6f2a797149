"""The S3 sink: one GeoJSON FeatureCollection per job at ``prefix/<jobId>.geojson`` (OSML's key)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tessera.errors import SinkError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


def feature_collection(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}


class S3GeoJSONSink:
    """Writes a job's features to S3 as one FeatureCollection."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def key_for(self, job_id: str) -> str:
        """The object key of a job's FeatureCollection."""
        return posixpath.join(self.prefix, f"{job_id}.geojson")

    def write(self, job_id: str, features: Sequence[dict[str, Any]]) -> str:
        """Write the features; return the ``s3://`` URL.

        Raises:
            SinkError: naming the bucket and key when S3 refuses the write.
        """
        key = self.key_for(job_id)
        try:
            body = json.dumps(feature_collection(features), separators=(",", ":"), allow_nan=False).encode()
        except ValueError as err:
            raise SinkError(f"features for s3://{self.bucket}/{key} are not valid JSON: {err}") from None
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/geo+json")
        except (ClientError, BotoCoreError) as err:
            raise SinkError(f"cannot write features to s3://{self.bucket}/{key}: {err}") from None
        return f"s3://{self.bucket}/{key}"
