"""The S3 sink: one GeoJSON FeatureCollection per job at ``prefix/<jobId>.geojson`` (OSML's key).

The collection is streamed: features are serialized one at a time into parts of a multipart upload, so
a job with a million features never holds its whole GeoJSON text in memory.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tessera.errors import SinkError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

PART_BYTES = 16 * 1024 * 1024  # S3 parts must be at least 5 MiB, except the last


def feature_collection(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}


class StreamingUpload:
    """Bytes written in order become one S3 object: a single PUT if small, a multipart upload if not."""

    def __init__(self, client: S3Client, bucket: str, key: str, content_type: str, part_bytes: int = PART_BYTES):
        self.client, self.bucket, self.key, self.content_type = client, bucket, key, content_type
        self.part_bytes = part_bytes
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        """Append bytes; full parts are uploaded as they fill."""
        self.buffer += data
        if len(self.buffer) >= self.part_bytes:
            self._upload_part()

    def _upload_part(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )["UploadId"]
        number = len(self.parts) + 1
        etag = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=bytes(self.buffer)
        )["ETag"]
        self.parts.append({"ETag": etag, "PartNumber": number})
        self.buffer.clear()

    def close(self) -> None:
        """Finish the object."""
        if self.upload_id is None:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), ContentType=self.content_type
            )
            return
        if self.buffer:
            self._upload_part()
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        """Drop what was uploaded (after a failure)."""
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class S3GeoJSONSink:
    """Writes a job's features to S3 as one FeatureCollection."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "", part_bytes: int = PART_BYTES) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = part_bytes

    def key_for(self, job_id: str) -> str:
        """The object key of a job's FeatureCollection."""
        return posixpath.join(self.prefix, f"{job_id}.geojson")

    def write(self, job_id: str, features: Iterable[dict[str, Any]]) -> str:
        """Stream the features into the job's FeatureCollection; return the ``s3://`` URL.

        Raises:
            SinkError: naming the bucket and key when S3 refuses the write or a feature is not valid JSON.
        """
        key = self.key_for(job_id)
        upload = StreamingUpload(self.client, self.bucket, key, "application/geo+json", self.part_bytes)
        try:
            upload.write(b'{"type":"FeatureCollection","features":[')
            for index, feature in enumerate(features):
                text = json.dumps(feature, separators=(",", ":"), allow_nan=False)
                upload.write((b"," if index else b"") + text.encode())
            upload.write(b"]}")
            upload.close()
        except ValueError as err:
            upload.abort()
            raise SinkError(f"features for s3://{self.bucket}/{key} are not valid JSON: {err}") from None
        except (ClientError, BotoCoreError) as err:
            with contextlib.suppress(ClientError, BotoCoreError):  # the write's own error is the one to report
                upload.abort()
            raise SinkError(f"cannot write features to s3://{self.bucket}/{key}: {err}") from None
        return f"s3://{self.bucket}/{key}"
