"""The viewpoint service: the API's and the ingest step's one entry point to tables, S3 and the workflow.

AWS adapters are passed in (a boto3 S3 client, a Step Functions client), so the same code runs on
Lambda, in the local emulator and in tests against moto.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from tessera.errors import ImageReadError, TesseraError, TransientStorageError, ViewpointNotReadyError
from tessera.requests.events import is_s3_event, upload_job_id
from tessera.settings import ViewpointSettings
from tessera.state.viewpoints import ViewpointTable
from tessera.viewpoints.ingest import ingest
from tessera.viewpoints.models import ViewpointCreate, ViewpointStatus

#: The JSON documents ingest writes beside the COG, by name (their S3 object names).
DOCUMENTS = {
    "metadata": "metadata.json",
    "bounds": "bounds.json",
    "info": "info.geojson",
    "statistics": "statistics.json",
}

_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "503", "500"}


#: What S3 calls raise: API errors, transport errors, and boto3's wrapper around a failed managed upload.
STORAGE_ERRORS = (ClientError, BotoCoreError, S3UploadFailedError)


def _storage_error(err: Exception, action: str) -> TesseraError:
    """An S3 failure as a user-facing error: transient ones (and failed uploads) are retried by the workflow."""
    if isinstance(err, ClientError):  # S3UploadFailedError and transport errors are always worth a retry
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404"):  # an artifact gone: the viewpoint was deleted or is being re-made
            return ImageReadError(f"cannot {action}: it no longer exists")
        if code not in _TRANSIENT_CODES:
            return TesseraError(f"cannot {action}: {code} {err.response.get('Error', {}).get('Message', '')}".strip())
    return TransientStorageError(f"cannot {action} (will retry): {err}")


@dataclass
class ViewpointService:
    """Create, read, change and delete viewpoints; run their ingest; read their artifacts."""

    settings: ViewpointSettings
    table: ViewpointTable
    s3: Any
    start_execution: Callable[[str, dict[str, Any]], str] | None = None
    _documents: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict, repr=False)

    # -- artifacts -------------------------------------------------------------------------------------
    def key(self, viewpoint_id: str, name: str) -> str:
        """The S3 key of one of a viewpoint's artifacts."""
        return f"{self.settings.viewpoint_prefix}{viewpoint_id}/{name}"

    def cog_path(self, item: dict[str, Any]) -> str:
        """The GDAL path of a READY viewpoint's COG.

        Each ingest writes its COG under a new name, so GDAL's /vsis3 caches in a warm Lambda can never
        serve blocks of an earlier ingest of the same viewpoint.
        """
        return f"/vsis3/{self.settings.viewpoint_bucket}/{item['cog_key']}"

    def document(self, item: dict[str, Any], name: str) -> dict[str, Any]:
        """One of the JSON sidecars of a READY viewpoint (cached per viewpoint version in a warm Lambda)."""
        cache_key = (item["viewpoint_id"], int(item.get("version", 0)), name)
        if cache_key not in self._documents:
            try:
                body = self.s3.get_object(
                    Bucket=self.settings.viewpoint_bucket, Key=self.key(item["viewpoint_id"], DOCUMENTS[name])
                )["Body"].read()
            except STORAGE_ERRORS as err:
                raise _storage_error(err, f"read the {name} of viewpoint {item['viewpoint_id']}") from None
            if len(self._documents) > 256:
                self._documents.clear()
            self._documents[cache_key] = json.loads(body)
        return self._documents[cache_key]

    def _delete_artifacts(self, viewpoint_id: str) -> None:
        prefix = self.key(viewpoint_id, "")
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.settings.viewpoint_bucket, Prefix=prefix):
                objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objects:
                    self.s3.delete_objects(Bucket=self.settings.viewpoint_bucket, Delete={"Objects": objects})
        except STORAGE_ERRORS as err:
            raise _storage_error(err, f"delete the artifacts of viewpoint {viewpoint_id}") from None

    # -- lifecycle -------------------------------------------------------------------------------------
    def create(self, request: ViewpointCreate) -> tuple[dict[str, Any], bool]:
        """Record the viewpoint and start its ingest; an existing id is returned unchanged (idempotent).

        If the workflow cannot be started the viewpoint is FAILED with the reason (never left REQUESTED).
        """
        item, created = self.table.create(request)
        if created and self.start_execution is not None:
            try:
                self.start_execution(request.viewpoint_id, {"viewpoint_id": request.viewpoint_id})
            except (ClientError, BotoCoreError) as err:
                item = self.table.fail(request.viewpoint_id, f"cannot start the ingest workflow: {err}")
        return item, created

    def request_from_upload(self, event: dict[str, Any]) -> ViewpointCreate:
        """The viewpoint an S3 upload under the upload prefix stands for (same bytes, same key: same id)."""
        bucket = event["detail"]["bucket"]["name"]
        key = event["detail"]["object"]["key"]
        etag = str(event["detail"]["object"].get("etag", ""))
        return ViewpointCreate(
            viewpoint_id=upload_job_id(bucket, key, etag),
            viewpoint_name=key.rsplit("/", 1)[-1],
            bucket_name=bucket,
            object_key=key,
            range_adjustment=self.settings.default_range_adjustment,  # type: ignore[arg-type]
        )

    def require_ready(self, viewpoint_id: str) -> dict[str, Any]:
        """The item of a viewpoint that can serve pixels.

        Raises:
            ViewpointNotFoundError: no such viewpoint.
            ViewpointNotReadyError: still REQUESTED/PROCESSING, or FAILED (with its error).
        """
        item = self.table.require(viewpoint_id)
        status = item["viewpoint_status"]
        if status == ViewpointStatus.READY:
            return item
        if status == ViewpointStatus.FAILED:
            raise ViewpointNotReadyError(
                f"viewpoint {viewpoint_id} FAILED: {item.get('error_message', 'no message')}", status
            )
        raise ViewpointNotReadyError(f"viewpoint {viewpoint_id} is {status}; try again when it is READY", status)

    def delete(self, viewpoint_id: str) -> dict[str, Any]:
        """Delete the viewpoint's item and artifacts (an ingest still running finds it gone and cleans up)."""
        item = self.table.delete(viewpoint_id)
        self._delete_artifacts(viewpoint_id)
        return item

    # -- ingest ----------------------------------------------------------------------------------------
    def run_ingest(self, event: dict[str, Any], elevation: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ingest step: PROCESSING, build and upload the artifacts, READY. Returns the READY item.

        Raises:
            ImageReadError: for an image that cannot be shown (the workflow records FAILED).
            TransientStorageError: for S3 failures worth a retry.
            ViewpointStateError: when the viewpoint was deleted or failed meanwhile.
        """
        if is_s3_event(event):
            request = self.request_from_upload(event)
            self.table.create(request)
            viewpoint_id = request.viewpoint_id
        else:
            viewpoint_id = str(event["viewpoint_id"])
        current = self.table.get(viewpoint_id)
        if current is not None and current["viewpoint_status"] == ViewpointStatus.READY:
            return current  # a duplicate event or execution: the viewpoint is already made
        item = self.table.start_processing(viewpoint_id)
        source = f"/vsis3/{item['bucket_name']}/{item['object_key']}"
        workdir = Path(tempfile.mkdtemp(prefix=f"viewpoint-{viewpoint_id}-"))
        try:
            result = ingest(source, workdir, name=item["viewpoint_name"], elevation=elevation)
            cog_key = self.key(viewpoint_id, f"image-{item['processing_started_time']}.tif")
            self._delete_artifacts(viewpoint_id)  # what an earlier, interrupted attempt left
            self._upload(viewpoint_id, cog_key, result.cog, result.documents)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        try:
            return self.table.ready(viewpoint_id, image=result.image, timings=result.timings, cog_key=cog_key)
        except TesseraError:
            self._delete_artifacts(viewpoint_id)  # deleted while ingesting: leave nothing behind
            raise

    def _upload(self, viewpoint_id: str, cog_key: str, cog: Path, documents: dict[str, dict[str, Any]]) -> None:
        bucket = self.settings.viewpoint_bucket
        try:
            self.s3.upload_file(str(cog), bucket, cog_key, ExtraArgs={"ContentType": "image/tiff"})
            for name, document in documents.items():
                self.s3.put_object(
                    Bucket=bucket,
                    Key=self.key(viewpoint_id, DOCUMENTS[name]),
                    Body=json.dumps(document, allow_nan=False, default=str).encode(),
                    ContentType="application/geo+json" if name == "info" else "application/json",
                )
        except STORAGE_ERRORS as err:
            raise _storage_error(err, f"write the artifacts of viewpoint {viewpoint_id}") from None

    def record_failure(self, viewpoint_id: str, message: str) -> dict[str, Any] | None:
        """Mark FAILED (the workflow's Catch); None if the viewpoint is gone or already final."""
        try:
            return self.table.fail(viewpoint_id, message)
        except TesseraError:
            return None


