"""The viewpoint messages of OSML's tile server API (``ViewpointRequest``/``ViewpointUpdate``) and statuses."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ViewpointStatus(StrEnum):
    """Where a viewpoint is in its life: REQUESTED → PROCESSING → READY, or FAILED.

    READY is reached only from PROCESSING, and FAILED never from READY (the table enforces both with
    conditional writes), so a failure can never be overwritten by READY as in the original.
    """

    REQUESTED = "REQUESTED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class RangeAdjustment(StrEnum):
    """How pixels map to display values: the type's full range, the image's min/max, or 2%/98% DRA."""

    NONE = "NONE"
    MINMAX = "MINMAX"
    DRA = "DRA"


#: A viewpoint id is used in URLs and S3 keys: URL-safe characters only (OSML returns 422 otherwise).
VIEWPOINT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$"


class ViewpointCreate(BaseModel):
    """OSML's ``ViewpointRequest``: the image to view and how to show it."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    viewpoint_id: str = Field(pattern=VIEWPOINT_ID_PATTERN, description="URL-safe id chosen by the client")
    viewpoint_name: str = Field(min_length=1, max_length=256)
    bucket_name: str = Field(min_length=3, max_length=63)
    object_key: str = Field(min_length=1, max_length=1024)
    tile_size: int = Field(default=512, ge=64, le=4096, description="image tile size in pixels")
    range_adjustment: RangeAdjustment = RangeAdjustment.NONE


class ViewpointUpdate(BaseModel):
    """OSML's ``ViewpointUpdate``: the display settings that can change without ingesting again."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    viewpoint_id: str = Field(pattern=VIEWPOINT_ID_PATTERN)
    viewpoint_name: str | None = Field(default=None, min_length=1, max_length=256)
    tile_size: int | None = Field(default=None, ge=64, le=4096)
    range_adjustment: RangeAdjustment | None = None
