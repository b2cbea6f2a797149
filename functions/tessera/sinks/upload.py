"""Streaming an S3 object: bytes written in order go up as parts of a multipart upload as they fill.

The S3 outputs (GeoJSON and GeoParquet) share it, so neither ever holds a whole job's output in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tessera.errors import SinkError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

PART_BYTES = 16 * 1024 * 1024  # S3 parts must be at least 5 MiB, except the last


class StreamingUpload:
    """Bytes written in order become one S3 object: a single PUT if small, a multipart upload if not.

    It is also a minimal writable binary file (``write``, ``tell``, ``flush``, ``closed``), so a library that
    writes to a file object (pyarrow's ``PythonFile``) can stream into it.
    """

    def __init__(self, client: S3Client, bucket: str, key: str, content_type: str, part_bytes: int = PART_BYTES):
        self.client, self.bucket, self.key, self.content_type = client, bucket, key, content_type
        self.part_bytes = part_bytes
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        """Append bytes; full parts are uploaded as they fill. Returns the number of bytes taken.

        Raises:
            ValueError: when the upload is already closed or aborted.
        """
        if self.closed:
            raise ValueError(f"the upload of s3://{self.bucket}/{self.key} is closed")
        self.buffer += data
        self.position += len(data)
        if len(self.buffer) >= self.part_bytes:
            self._upload_part()
        return len(data)

    def tell(self) -> int:
        """Bytes written so far (the object's size once closed)."""
        return self.position

    def flush(self) -> None:
        """Nothing to do: parts go up when they are full, the rest when the upload is closed."""

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
        if self.closed:
            return
        if self.upload_id is None:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), ContentType=self.content_type
            )
        else:
            if self.buffer:
                self._upload_part()
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        self.closed = True

    def abort(self) -> None:
        """Drop what was uploaded (after a failure)."""
        self.closed = True
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


@contextlib.contextmanager
def streaming_upload(
    client: S3Client, bucket: str, key: str, content_type: str, part_bytes: int = PART_BYTES
) -> Iterator[StreamingUpload]:
    """A :class:`StreamingUpload` that is finished when the block ends and aborted when it raises.

    Raises:
        SinkError: naming the bucket and key when S3 refuses the write; any other error from the block
            propagates unchanged (after the abort).
    """
    upload = StreamingUpload(client, bucket, key, content_type, part_bytes)
    try:
        yield upload
        upload.close()
    except BaseException as err:
        with contextlib.suppress(ClientError, BotoCoreError):  # the write's own error is the one to report
            upload.abort()
        if isinstance(err, (ClientError, BotoCoreError)):
            raise SinkError(f"cannot write features to s3://{bucket}/{key}: {err}") from None
        raise
