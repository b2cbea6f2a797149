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


class StatusPublisher:
    """Publishes job status to one SNS topic; a publisher without a topic does nothing."""

    def __init__(self, client: SNSClient | None, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

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
