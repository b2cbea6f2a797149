"""Region results in S3: each region's features as GeoJSON lines, written as the region finishes.

Step Functions caps a state payload at 256 KB, so features never travel through the state machine: the
region step writes them here and the aggregate step reads them back by the key in the region table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


class RegionResults:
    """Reads and writes the features of one region at a time."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "jobs/") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def key_for(self, job_id: str, region_key: str) -> str:
        """Where a region's features are kept."""
        safe = region_key.replace(" ", "").replace("(", "").replace(")", "_").strip("_")
        return f"{self.prefix}{job_id}/regions/{safe}.geojsonl"

    def write_region_list(self, job_id: str, regions: Sequence[list[list[int]]]) -> str:
        """Store the job's region list (a JSON array) for the Distributed Map's ItemReader; return its key."""
        key = f"{self.prefix}{job_id}/regions.json"
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=json.dumps(regions).encode(), ContentType="application/json"
        )
        return key

    def write(self, key: str, features: Sequence[dict[str, Any]]) -> None:
        """Store a region's features (one GeoJSON feature per line)."""
        body = "\n".join(json.dumps(f, separators=(",", ":")) for f in features).encode()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/geo+json-seq")

    def read_lines(self, key: str) -> Iterator[bytes]:
        """The features of one region, each as its JSON text."""
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for line in body.iter_lines():
            if line:
                yield line

    def read(self, key: str) -> Iterator[dict[str, Any]]:
        """The features of one region."""
        for line in self.read_lines(key):
            yield json.loads(line)
