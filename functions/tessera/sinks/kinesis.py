"""The Kinesis sink: one record per feature (a FeatureCollection of one, as OSML), partition key jobId.

Records go in PutRecords batches within Kinesis's limits (500 records, 5 MB per call, 1 MB per
record); records the stream throttled are sent again with backoff and full jitter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tessera.errors import SinkError
from tessera.inference.retry import RetryableError, with_retries

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
else:
    KinesisClient = Any

MAX_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


def batches(records: Iterable[bytes], key: str, limit: int = MAX_RECORDS) -> Iterator[list[bytes]]:
    """Split records into PutRecords calls that respect the count and size limits.

    Example:
        >>> [len(b) for b in batches([b"x"] * 1001, "job")]
        [500, 500, 1]
    """
    batch: list[bytes] = []
    size = 0
    for record in records:
        record_size = len(record) + len(key.encode())
        if batch and (len(batch) >= limit or size + record_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record_size
    if batch:
        yield batch


class KinesisSink:
    """Writes a job's features to a Kinesis data stream."""

    def __init__(self, client: KinesisClient, stream: str, batch_size: int | None = None, attempts: int = 6) -> None:
        self.client = client
        self.stream = stream
        self.batch_size = min(batch_size or MAX_RECORDS, MAX_RECORDS)
        self.attempts = attempts

    def _put(self, records: list[bytes], key: str) -> None:
        pending = records

        def attempt() -> None:
            nonlocal pending
            try:
                response = self.client.put_records(
                    StreamName=self.stream, Records=[{"Data": r, "PartitionKey": key} for r in pending]
                )
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") == "ProvisionedThroughputExceededException":
                    raise RetryableError(str(err)) from None
                raise SinkError(f"cannot write features to Kinesis stream {self.stream}: {err}") from None
            except BotoCoreError as err:
                raise RetryableError(str(err)) from None
            if response.get("FailedRecordCount"):
                pending = [r for r, out in zip(pending, response["Records"], strict=True) if "ErrorCode" in out]
                raise RetryableError(f"{len(pending)} records throttled by Kinesis stream {self.stream}")

        try:
            with_retries(attempt, attempts=self.attempts)
        except RetryableError as err:
            raise SinkError(f"{err} (gave up after {self.attempts} attempts)") from None

    def _records(self, features: Iterable[dict[str, Any]]) -> Iterator[bytes]:
        for feature in features:
            data = json.dumps({"type": "FeatureCollection", "features": [feature]}, separators=(",", ":")).encode()
            if len(data) > MAX_RECORD_BYTES:
                raise SinkError(f"feature {feature.get('id')} is {len(data)} bytes, over Kinesis's 1 MB record limit")
            yield data

    def write(self, job_id: str, features: Iterable[dict[str, Any]]) -> str:
        """Put one record per feature, streaming batches as they fill; return ``kinesis://stream``.

        Raises:
            SinkError: when the stream refuses records or a feature is larger than a Kinesis record.
        """
        for batch in batches(self._records(features), job_id, self.batch_size):
            self._put(batch, job_id)
        return f"kinesis://{self.stream}"
