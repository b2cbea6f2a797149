"""The OSML ImageRequest message and the normalized job it becomes."""

from tessera.requests.image_request import (
    DistillationAlgorithm,
    ImageProcessor,
    ImageRequest,
    KinesisOutput,
    ModelInvokeMode,
    OutputFormat,
    S3Output,
    TileCompression,
    TileFormat,
    parse_image_request,
)
from tessera.requests.job import JobSpec, job_spec_from_request

__all__ = [
    "DistillationAlgorithm",
    "ImageProcessor",
    "ImageRequest",
    "JobSpec",
    "KinesisOutput",
    "ModelInvokeMode",
    "OutputFormat",
    "S3Output",
    "TileCompression",
    "TileFormat",
    "job_spec_from_request",
    "parse_image_request",
]
