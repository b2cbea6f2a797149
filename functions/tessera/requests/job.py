"""The normalized job: an ImageRequest with every default resolved.

A :class:`JobSpec` is what travels between the pipeline's steps (in the state machine payload and in the
job table). It uses snake_case and carries nothing the steps must look up again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tessera.errors import InvalidRequestError
from tessera.requests.image_request import (
    DistillationAlgorithm,
    ImageRequest,
    KinesisOutput,
    ModelInvokeMode,
    OutputFormat,
    S3Output,
    TileCompression,
    TileFormat,
)


class OutputSpec(BaseModel):
    """One sink: ``kind`` S3 (bucket, prefix, format) or Kinesis (stream, batch_size)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    bucket: str | None = None
    prefix: str = ""
    stream: str | None = None
    batch_size: int | None = None
    role: str | None = None
    format: OutputFormat = OutputFormat.GEOJSON


class DistillationSpec(BaseModel):
    """How duplicates are removed across seams."""

    model_config = ConfigDict(frozen=True)

    algorithm: DistillationAlgorithm = DistillationAlgorithm.NMS
    iou_threshold: float = 0.75
    skip_box_threshold: float = 0.0001
    sigma: float = 0.1


class JobSpec(BaseModel):
    """Everything the load, region and aggregate steps need to know about one job."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    job_name: str | None = None
    image_url: str
    image_read_role: str | None = None
    model_name: str
    model_invoke_mode: ModelInvokeMode
    model_parameters: dict[str, Any] = {}
    model_role: str | None = None
    tile_size: int
    tile_overlap: int
    tile_format: TileFormat = TileFormat.NITF
    tile_compression: TileCompression = TileCompression.NONE
    region_size: int = 10240
    roi_wkt: str | None = None
    feature_properties: list[dict[str, Any]] = []
    outputs: list[OutputSpec]
    distillation: DistillationSpec = DistillationSpec()
    run_id: str = ""

    @property
    def fingerprint(self) -> str:
        """What a tile's features depend on besides its pixels: model, parameters and tile encoding.

        A re-submitted job reuses a tile's earlier features only when this is unchanged.
        """
        import hashlib
        import json

        basis = [
            self.model_name,
            self.model_invoke_mode.value,
            self.model_parameters,
            self.tile_size,
            self.tile_overlap,
            self.tile_format.value,
            self.tile_compression.value,
        ]
        return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def image_id(self) -> str:
        """OSML's image id: ``<jobId>:<imageUrl>`` (the region table's partition key)."""
        return f"{self.job_id}:{self.image_url}"


def job_spec_from_request(
    request: ImageRequest,
    *,
    default_tile_size: int,
    default_tile_overlap: int,
    region_size: int,
    default_output: OutputSpec,
) -> JobSpec:
    """Resolve a validated request against the stack's defaults.

    Example:
        >>> from tessera.requests import parse_image_request
        >>> req = parse_image_request({"jobId": "j", "imageUrls": ["a.tif"],
        ...                            "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"}})
        >>> job_spec_from_request(req, default_tile_size=512, default_tile_overlap=32, region_size=10240,
        ...                       default_output=OutputSpec(kind="S3", bucket="results")).tile_size
        512
    """
    tile_size = request.tile_size if request.tile_size is not None else default_tile_size
    tile_overlap = (
        request.tile_overlap if request.tile_overlap is not None else min(default_tile_overlap, tile_size - 1)
    )
    if tile_overlap >= tile_size:
        raise InvalidRequestError(
            f"imageProcessorTileOverlap ({tile_overlap}) must be smaller than imageProcessorTileSize ({tile_size})",
            field="imageProcessorTileOverlap",
        )
    if tile_size > region_size:
        raise InvalidRequestError(
            f"imageProcessorTileSize ({tile_size}) must not exceed the deployment's region size ({region_size})",
            field="imageProcessorTileSize",
        )
    outputs = [_output_spec(o) for o in request.outputs] or [default_output]
    algorithm = request.distillation
    return JobSpec(
        job_id=request.job_id,
        job_name=request.job_name,
        image_url=request.image_url,
        image_read_role=request.image_read_role,
        model_name=request.image_processor.name,
        model_invoke_mode=request.image_processor.type,
        model_parameters=request.image_processor_parameters or {},
        model_role=request.image_processor.assumed_role,
        tile_size=tile_size,
        tile_overlap=tile_overlap,
        tile_format=request.tile_format,
        tile_compression=request.tile_compression,
        region_size=region_size,
        roi_wkt=request.region_of_interest,
        feature_properties=request.feature_properties,
        outputs=outputs,
        distillation=DistillationSpec(
            algorithm=algorithm.algorithm_type,
            iou_threshold=algorithm.iou_threshold,
            skip_box_threshold=algorithm.skip_box_threshold,
            sigma=algorithm.sigma,
        ),
    )


def _output_spec(output: S3Output | KinesisOutput) -> OutputSpec:
    if isinstance(output, S3Output):
        return OutputSpec(kind="S3", bucket=output.bucket, prefix=output.prefix, role=output.role, format=output.format)
    return OutputSpec(kind="Kinesis", stream=output.stream, batch_size=output.batch_size, role=output.assumed_role)
