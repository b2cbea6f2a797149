"""What starts a job: an S3 upload event, a JSON ImageRequest in S3, an OSML ImageRequest message from
the SQS queue (delivered by EventBridge Pipes as a batch of one record), or an ImageRequest given directly.

The state machine's input is whatever started it. This module turns each form into an ImageRequest
message (a dict in OSML's format) without validating it; :func:`~tessera.requests.parse_image_request`
does that next.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable
from typing import Any

from tessera.errors import InvalidRequestError

#: Reads an S3 object's bytes: ``(bucket, key) -> bytes``.
ObjectReader = Callable[[str, str], bytes]


def is_s3_event(event: Any) -> bool:
    """True for an EventBridge "Object Created" event from S3."""
    return isinstance(event, dict) and event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict)


def upload_job_id(bucket: str, key: str, etag: str) -> str:
    """The job id of an image upload: the file's stem plus a digest of where and what it is.

    The same bytes uploaded to the same key give the same job id, so a duplicate delivery of the event
    (EventBridge is at-least-once) re-submits the same job instead of starting a second one.

    Example:
        >>> upload_job_id("imagery", "images/scene 1.tif", "abc")
        'scene-1-4671e5579277'
    """
    stem = posixpath.splitext(posixpath.basename(key))[0]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)[:64] or "image"
    digest = hashlib.sha256(f"s3://{bucket}/{key}#{etag}".encode()).hexdigest()[:12]
    return f"{safe}-{digest}"


def request_from_event(
    event: Any,
    *,
    read_object: ObjectReader,
    request_prefix: str,
    default_model: str,
) -> dict[str, Any]:
    """The ImageRequest message that ``event`` stands for.

    Raises:
        InvalidRequestError: for an event that is neither an S3 upload nor an ImageRequest, or a request
            object that is not JSON.
    """
    if is_s3_event(event):
        bucket = event["detail"]["bucket"]["name"]
        key = event["detail"]["object"]["key"]
        if key.startswith(request_prefix) and key.endswith(".json"):
            return _request_object(bucket, key, read_object)
        etag = str(event["detail"]["object"].get("etag") or event["detail"]["object"].get("eTag") or "")
        return {
            "jobId": upload_job_id(bucket, key, etag),
            "jobName": posixpath.basename(key),
            "imageUrls": [f"s3://{bucket}/{key}"],
            "imageProcessor": {"name": default_model, "type": "BUILTIN"},
        }
    if is_sqs_batch(event):
        return _sqs_request(event)
    if isinstance(event, dict) and isinstance(event.get("imageRequest"), dict):
        return dict(event["imageRequest"])
    if isinstance(event, dict) and ("jobId" in event or "imageUrls" in event):
        return dict(event)
    raise InvalidRequestError(
        "the job input is neither an S3 upload event nor an ImageRequest (expected keys jobId, imageUrls, "
        "imageProcessor)"
    )


def is_sqs_batch(event: Any) -> bool:
    """True for the array of SQS records that EventBridge Pipes delivers."""
    return isinstance(event, list) and bool(event) and all(isinstance(r, dict) and "body" in r for r in event)


def _sqs_request(records: list[dict[str, Any]]) -> dict[str, Any]:
    if len(records) != 1:
        raise InvalidRequestError(
            f"the queue delivered {len(records)} messages at once; the pipe's batch size must be 1"
        )
    try:
        data = json.loads(records[0]["body"])
    except (TypeError, json.JSONDecodeError) as err:
        raise InvalidRequestError(f"the queue message {records[0].get('messageId', '')} is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"the queue message must hold a JSON object, not {type(data).__name__}")
    return data


def _request_object(bucket: str, key: str, read_object: ObjectReader) -> dict[str, Any]:
    try:
        data = json.loads(read_object(bucket, key))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidRequestError(f"s3://{bucket}/{key} is not a JSON ImageRequest: {err}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"s3://{bucket}/{key} must hold a JSON object, not {type(data).__name__}")
    data.setdefault("jobId", upload_job_id(bucket, key, ""))
    return data
