"""One error hierarchy for the whole pipeline.

Every error a user can cause or see derives from :class:`TesseraError`. Its message is written for the
user (it names the problem and, where it helps, the field or image); the pipeline records that message
on the job or region instead of a stack trace.
"""

from __future__ import annotations


class TesseraError(Exception):
    """Root of every error Tessera raises on purpose."""

    #: Short machine-readable code recorded with the message (``errorType`` in Step Functions).
    code: str = "TesseraError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidRequestError(TesseraError):
    """The image request is malformed: ``field`` names what was wrong."""

    code = "InvalidRequest"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ImageReadError(TesseraError):
    """The image cannot be opened or read."""

    code = "ImageRead"

    def __init__(self, message: str, image_url: str | None = None) -> None:
        super().__init__(message)
        self.image_url = image_url


class RegionOfInterestError(TesseraError):
    """The region of interest does not intersect the image or cannot be projected."""

    code = "RegionOfInterest"


class ModelError(TesseraError):
    """A model call failed or returned something that is not a valid detection response."""

    code = "Model"


class RegionTimeBudgetError(TesseraError):
    """A region saved its progress before the Lambda's deadline; the state machine runs it again to go on."""

    code = "RegionTimeBudget"


class SinkError(TesseraError):
    """Writing features to an output failed."""

    code = "Sink"


class JobAlreadyRunningError(TesseraError):
    """The job id is being processed by another execution (a duplicate event or submission)."""

    code = "JobAlreadyRunning"


class JobNotFoundError(TesseraError):
    """A job id was referenced that the job table does not know."""

    code = "JobNotFound"


class ViewpointNotFoundError(TesseraError):
    """No viewpoint has this id."""

    code = "ViewpointNotFound"


class ViewpointNotReadyError(TesseraError):
    """The viewpoint exists but cannot serve pixels: still being ingested, or its ingest failed."""

    code = "ViewpointNotReady"

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class ViewpointStateError(TesseraError):
    """A status change the viewpoint's life does not allow (e.g. READY after FAILED, or after a delete)."""

    code = "ViewpointState"


class TransientStorageError(TesseraError):
    """S3 failed in a way that may pass (throttling, a 5xx, a dropped connection): the step is retried."""

    code = "TransientStorage"
