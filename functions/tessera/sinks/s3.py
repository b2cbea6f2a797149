"""The S3 sink: one GeoJSON FeatureCollection per job at ``prefix/<jobId>.geojson`` (OSML's key).

The collection is streamed: features are serialized one at a time into parts of a multipart upload
(:mod:`tessera.sinks.upload`), so a job with a million features never holds its whole GeoJSON text in memory.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

from tessera.errors import SinkError
from tessera.sinks.upload import PART_BYTES, S3Client, streaming_upload


def feature_collection(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}


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
        with streaming_upload(self.client, self.bucket, key, "application/geo+json", self.part_bytes) as upload:
            upload.write(b'{"type":"FeatureCollection","features":[')
            for index, feature in enumerate(features):
                try:
                    text = json.dumps(feature, separators=(",", ":"), allow_nan=False)
                except ValueError as err:
                    raise SinkError(f"features for s3://{self.bucket}/{key} are not valid JSON: {err}") from None
                upload.write((b"," if index else b"") + text.encode())
            upload.write(b"]}")
        return f"s3://{self.bucket}/{key}"
