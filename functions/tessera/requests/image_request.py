"""OSML's ImageRequest (v2 and v3 fields), validated with pydantic.

The message is accepted exactly as an OSML client sends it (camelCase keys). Every validation problem
becomes one :class:`~tessera.errors.InvalidRequestError` whose message lists each bad field by its
OSML name and says what was wrong.

Choices where OSML's docs and code disagree (documented in docs/image-request.md):

* tile size and overlap may be omitted; the stack's defaults then apply (OSML's code rejects a
  missing value although its docs give defaults);
* ``NMS`` accepts ``skipBoxThreshold`` and ``sigma`` and ignores them (OSML's code raises a TypeError
  on the documented example);
* an empty ``outputs`` list means "the stack's results bucket" instead of a job that fails at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from tessera.errors import InvalidRequestError


class ModelInvokeMode(StrEnum):
    """How the model is reached: OSML's two modes plus models that run inside the region Lambda."""

    SM_ENDPOINT = "SM_ENDPOINT"
    HTTP_ENDPOINT = "HTTP_ENDPOINT"
    BUILTIN = "BUILTIN"


class TileFormat(StrEnum):
    """Encoding of the tile bytes sent to the model."""

    NITF = "NITF"
    JPEG = "JPEG"
    PNG = "PNG"
    GTIFF = "GTIFF"


class TileCompression(StrEnum):
    """Compression inside the tile format."""

    NONE = "NONE"
    JPEG = "JPEG"
    J2K = "J2K"
    LZW = "LZW"


_VALID_COMPRESSIONS: dict[TileFormat, set[TileCompression]] = {
    TileFormat.NITF: {TileCompression.NONE, TileCompression.JPEG, TileCompression.J2K},
    TileFormat.GTIFF: {TileCompression.NONE, TileCompression.JPEG, TileCompression.LZW},
    TileFormat.JPEG: {TileCompression.NONE, TileCompression.JPEG},
    TileFormat.PNG: {TileCompression.NONE},
}


class OutputFormat(StrEnum):
    """What an S3 output writes: OSML's GeoJSON FeatureCollection, or GeoParquet (Tessera's extension)."""

    GEOJSON = "GEOJSON"
    GEOPARQUET = "GEOPARQUET"


class DistillationAlgorithm(StrEnum):
    """Duplicate removal across tile and region seams."""

    NMS = "NMS"
    SOFT_NMS = "SOFT_NMS"


class _Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class S3Output(_Message):
    """One file per job at ``s3://bucket/prefix/<jobId>.geojson`` (a FeatureCollection) or ``.parquet``.

    ``format`` is Tessera's extension to OSML's message: ``GEOPARQUET`` asks for a GeoParquet file; OSML
    clients omit it and get GeoJSON.
    """

    type: Literal["S3"]
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    role: str | None = Field(default=None, pattern=r"^arn:")
    format: OutputFormat = OutputFormat.GEOJSON


class KinesisOutput(_Message):
    """One record per feature, partition key ``jobId``."""

    type: Literal["Kinesis"]
    stream: str = Field(min_length=1)
    batch_size: int | None = Field(default=None, alias="batchSize", gt=0, le=500)
    assumed_role: str | None = Field(default=None, alias="assumedRole", pattern=r"^arn:")


Output = Annotated[S3Output | KinesisOutput, Field(discriminator="type")]


class ImageProcessor(_Message):
    """The model: a SageMaker endpoint name, an HTTP URL, or a built-in model name."""

    name: str = Field(min_length=1)
    type: ModelInvokeMode = ModelInvokeMode.SM_ENDPOINT
    assumed_role: str | None = Field(default=None, alias="assumedRole", pattern=r"^arn:")


class DistillationParameters(_Message):
    """``postProcessing[].algorithm``: OSML's defaults (iou 0.75, skip 0.0001, sigma 0.1)."""

    algorithm_type: DistillationAlgorithm = Field(default=DistillationAlgorithm.NMS, alias="algorithmType")
    iou_threshold: float = Field(default=0.75, alias="iouThreshold", ge=0.0, le=1.0)
    skip_box_threshold: float = Field(default=0.0001, alias="skipBoxThreshold", ge=0.0, le=1.0)
    sigma: float = Field(default=0.1, gt=0.0)


class PostProcessingStep(_Message):
    """One post-processing step; only ``FEATURE_DISTILLATION`` exists."""

    step: Literal["FEATURE_DISTILLATION"]
    algorithm: DistillationParameters = Field(default_factory=DistillationParameters)


class ImageRequest(_Message):
    """OSML's ImageRequest message, v2 and v3 fields."""

    job_id: str = Field(alias="jobId", min_length=1, max_length=256)
    job_name: str | None = Field(default=None, alias="jobName")
    image_urls: list[str] = Field(alias="imageUrls", min_length=1)
    outputs: list[Output] = Field(default_factory=list)
    image_processor: ImageProcessor = Field(alias="imageProcessor")
    image_processor_parameters: dict[str, Any] | None = Field(default=None, alias="imageProcessorParameters")
    tile_size: int | None = Field(default=None, alias="imageProcessorTileSize", gt=0, le=16384)
    tile_overlap: int | None = Field(default=None, alias="imageProcessorTileOverlap", ge=0)
    tile_format: TileFormat = Field(default=TileFormat.NITF, alias="imageProcessorTileFormat")
    tile_compression: TileCompression = Field(default=TileCompression.NONE, alias="imageProcessorTileCompression")
    image_read_role: str | None = Field(default=None, alias="imageReadRole", pattern=r"^arn:")
    region_of_interest: str | None = Field(default=None, alias="regionOfInterest", max_length=100_000)
    feature_properties: list[dict[str, Any]] = Field(default_factory=list, alias="featureProperties")
    post_processing: list[PostProcessingStep] = Field(default_factory=list, alias="postProcessing")

    @model_validator(mode="before")
    @classmethod
    def _legacy_output(cls, data: Any) -> Any:
        """Accept the legacy ``outputBucket``/``outputPrefix`` pair as one S3 output."""
        if isinstance(data, dict) and "outputBucket" in data and not data.get("outputs"):
            data = dict(data)
            data["outputs"] = [{"type": "S3", "bucket": data["outputBucket"], "prefix": data.get("outputPrefix", "")}]
        return data

    @field_validator("image_urls")
    @classmethod
    def _urls_not_blank(cls, urls: list[str]) -> list[str]:
        if not urls[0].strip():
            raise ValueError("the first image URL is empty")
        return urls

    @field_validator("region_of_interest")
    @classmethod
    def _roi_is_wkt(cls, wkt: str | None) -> str | None:
        if wkt is None or not wkt.strip():
            return None
        from shapely import wkt as shapely_wkt
        from shapely.errors import ShapelyError

        try:
            geometry = shapely_wkt.loads(wkt)
        except (ShapelyError, ValueError) as err:
            raise ValueError(f"not valid WKT ({err})") from None
        if geometry.is_empty or geometry.geom_type not in {"Polygon", "MultiPolygon"}:
            raise ValueError("must be a WKT Polygon or MultiPolygon in longitude/latitude")
        return wkt

    @field_validator("post_processing")
    @classmethod
    def _one_distillation(cls, steps: list[PostProcessingStep]) -> list[PostProcessingStep]:
        if len(steps) > 1:
            raise ValueError("at most one FEATURE_DISTILLATION step is allowed")
        return steps

    @field_validator("tile_overlap")
    @classmethod
    def _overlap_below_size(cls, overlap: int | None, info: ValidationInfo) -> int | None:
        size = info.data.get("tile_size")
        if overlap is not None and size is not None and overlap >= size:
            raise ValueError(f"must be smaller than imageProcessorTileSize ({size}), got {overlap}")
        return overlap

    @field_validator("tile_compression")
    @classmethod
    def _compression_fits_format(cls, compression: TileCompression, info: ValidationInfo) -> TileCompression:
        tile_format = info.data.get("tile_format")
        if tile_format is not None and compression not in _VALID_COMPRESSIONS[tile_format]:
            allowed = ", ".join(sorted(c.value for c in _VALID_COMPRESSIONS[tile_format]))
            raise ValueError(
                f"{compression.value} is not valid for imageProcessorTileFormat {tile_format.value} "
                f"(allowed: {allowed})"
            )
        return compression

    @property
    def image_url(self) -> str:
        """The image to process (OSML uses only the first URL)."""
        return self.image_urls[0]

    @property
    def distillation(self) -> DistillationParameters:
        """The distillation step's parameters, OSML's NMS 0.75 when none is given."""
        return self.post_processing[0].algorithm if self.post_processing else DistillationParameters()


def _field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location with OSML's (alias) names: ``outputs[0].bucket``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"S3", "Kinesis"}:
            continue  # discriminator tag inserted by pydantic
        else:
            path += f".{part}" if path else str(part)
    return path or "request"


Validator = Callable[[dict[str, Any]], ImageRequest]


def parse_image_request(data: Any, validate: Validator | None = None) -> ImageRequest:
    """Validate an OSML ImageRequest message.

    ``validate`` runs the model over the message (the Lambda handler passes Powertools' Parser); by
    default it is pydantic's ``ImageRequest.model_validate``. Either way, pydantic's errors become one
    :class:`InvalidRequestError`.

    Raises:
        InvalidRequestError: naming every bad field, e.g. ``imageProcessorTileSize: Input should be
            greater than 0``.

    Example:
        >>> parse_image_request({"jobId": "j1", "imageUrls": ["s3://b/i.tif"],
        ...                      "imageProcessor": {"name": "centerpoint", "type": "BUILTIN"}}).job_id
        'j1'
    """
    if not isinstance(data, dict):
        raise InvalidRequestError(f"the image request must be a JSON object, got {type(data).__name__}")
    try:
        return (validate or ImageRequest.model_validate)(data)
    except ValidationError as err:
        problems = []
        first_field = None
        for error in err.errors(include_url=False):
            field = _field_path(error["loc"])
            first_field = first_field or field
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {message}")
        raise InvalidRequestError("invalid image request: " + "; ".join(problems), field=first_field) from None
