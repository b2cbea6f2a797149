"""The Catch path: record a job (or one region) as FAILED with a message a user can read."""

from __future__ import annotations

import json
from typing import Any

from tessera.errors import TesseraError
from tessera.pipeline.services import Services
from tessera.requests import JobSpec
from tessera.requests.events import request_from_event
from tessera.state import RequestStatus
from tessera.tiling import ImageRegion


def _user_errors() -> set[str]:
    """Names of TesseraError and all its subclasses: their messages are meant for users as they are."""
    names, todo = set(), [TesseraError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def error_message(error: dict[str, Any] | None) -> str:
    """A one-line message from a Step Functions error object (``Error`` and ``Cause``), never a traceback.

    Example:
        >>> error_message({"Error": "ImageReadError", "Cause": '{"errorMessage": "cannot open x.tif"}'})
        'cannot open x.tif'
    """
    if not error:
        return "the job failed"
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause") or ""
    try:
        detail = json.loads(cause) if isinstance(cause, str) and cause.startswith("{") else {"errorMessage": cause}
    except json.JSONDecodeError:
        detail = {"errorMessage": cause}
    text = str(detail.get("errorMessage") or "").strip().splitlines()
    first = text[0] if text else ""
    if name in _user_errors() and first:
        return first
    return f"{name}: {first}" if first else name


def _job_of(event: dict[str, Any], services: Services) -> tuple[str, str]:
    """The failed job's id and image id, from the step input whatever it was."""
    if isinstance(event.get("job"), dict):
        job = JobSpec.model_validate(event["job"])
        return job.job_id, job.image_id
    try:
        message = request_from_event(
            event.get("input", event),
            read_object=services.read_object,
            request_prefix=services.settings.request_prefix,
            default_model=services.settings.default_model,
        )
    except TesseraError:
        return "unknown", "unknown"
    job_id = str(message.get("jobId") or "unknown")
    urls = message.get("imageUrls") or [""]
    return job_id, f"{job_id}:{urls[0] if isinstance(urls, list) and urls else ''}"


def record_failure(event: dict[str, Any], services: Services) -> dict[str, Any]:
    """Record the failure the Catch delivered in ``event["error"]``.

    Inside the Map (the event has a ``region``) only that region is marked FAILED and counted, so the
    other regions go on; otherwise the whole job is marked FAILED and its status published.
    """
    message = error_message(event.get("error"))
    if (event.get("error") or {}).get("Error") == "JobAlreadyRunningError":
        # A duplicate execution: the running one owns the job's record; leave it alone.
        return {"status": "DUPLICATE", "message": message}
    if isinstance(event.get("region"), list) and isinstance(event.get("job"), dict):
        job = JobSpec.model_validate(event["job"])
        region = ImageRegion.from_osml(event["region"])
        services.regions.fail(job, region, message)
        services.jobs.count_region(job.job_id, RequestStatus.FAILED, succeeded=0, failed=0, skipped=0)
        return {"status": RequestStatus.FAILED.value, "message": message}
    job_id, image_id = _job_of(event, services)
    if job_id != "unknown":
        services.jobs.end(job_id, RequestStatus.FAILED, message, image_id=image_id)
    services.status.publish(RequestStatus.FAILED, job_id, message, image_id=image_id)
    return {"job_id": job_id, "status": RequestStatus.FAILED.value, "message": message}
