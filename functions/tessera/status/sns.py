"""Publish job status to SNS with OSML's message body and attributes, so OSML consumers keep working."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tessera.state import RequestStatus

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
else:
    SNSClient = Any


def status_message(
    status: RequestStatus,
    job_id: str,
    message: str,
    *,
    image_id: str,
    processing_duration: float | None = None,
) -> tuple[str, dict[str, dict[str, str]]]:
    """OSML's body ``StatusMonitor update: <status> <jobId>: <msg>`` and its string attributes.

    Example:
        >>> body, attrs = status_message(RequestStatus.SUCCESS, "j1", "done", image_id="j1:a.tif")
        >>> body, attrs["image_status"]["StringValue"]
        ('StatusMonitor update: SUCCESS j1: done', 'SUCCESS')
    """
    attributes = {
        "status": status.value,
        "image_status": status.value,
        "job_id": job_id,
        "image_id": image_id,
    }
    if processing_duration is not None:
        attributes["processing_duration"] = str(processing_duration)
    body = f"StatusMonitor update: {status.value} {job_id}: {message}"
    return body, {k: {"DataType": "String", "StringValue": v or "-"} for k, v in attributes.items()}


def region_status_message(
    status: RequestStatus,
    job_id: str,
    message: str,
    *,
    image_id: str,
    region_id: str,
    failed_tiles: list[list[list[int]]],
    processing_duration: float | None = None,
) -> tuple[str, dict[str, dict[str, str]]]:
    """OSML's region status message: the job's attributes plus ``region_id`` and ``failed_tiles``.

    Example:
        >>> body, attrs = region_status_message(RequestStatus.PARTIAL, "j1", "1 tile failed", image_id="j1:a.tif",
        ...                                     region_id="(0, 0)(512, 512)-j1", failed_tiles=[[[0, 0], [512, 512]]])
        >>> attrs["failed_tiles"]["StringValue"], "image_status" in attrs
        ('[[[0, 0], [512, 512]]]', False)
    """
    body, attributes = status_message(
        status, job_id, message, image_id=image_id, processing_duration=processing_duration
    )
    del attributes["image_status"]
    attributes["region_id"] = {"DataType": "String", "StringValue": region_id}
    attributes["failed_tiles"] = {"DataType": "String", "StringValue": str(failed_tiles)}
    return body, attributes


class StatusPublisher:
    """Publishes job status (and, with ``regions``, each region's) to one SNS topic; without a topic it does
    nothing."""

    def __init__(self, client: SNSClient | None, topic_arn: str, *, regions: bool = False) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.regions = regions

    def publish(
        self,
        status: RequestStatus,
        job_id: str,
        message: str,
        *,
        image_id: str,
        processing_duration: float | None = None,
    ) -> None:
        """Publish one status message."""
        if not self.topic_arn or self.client is None:
            return
        body, attributes = status_message(
            status, job_id, message, image_id=image_id, processing_duration=processing_duration
        )
        self.client.publish(TopicArn=self.topic_arn, Message=body, MessageAttributes=attributes)

    def publish_region(self, status: RequestStatus, job_id: str, message: str, **details: Any) -> None:
        """Publish one region's status (see :func:`region_status_message`) when region messages are on."""
        if not self.topic_arn or self.client is None or not self.regions:
            return
        body, attributes = region_status_message(status, job_id, message, **details)
        self.client.publish(TopicArn=self.topic_arn, Message=body, MessageAttributes=attributes)
