"""OSML's ``sourceMetadata``: where a feature's image came from, read from NITF header fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def nitf_datetime(idatim: str) -> str | None:
    """NITF's ``CCYYMMDDhhmmss`` as ISO 8601 UTC (``1996-12-17T10:26:30Z``), or None if it is not one.

    Example:
        >>> nitf_datetime("19961217102630")
        '1996-12-17T10:26:30Z'
    """
    try:
        return datetime.strptime(idatim.strip(), "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def source_metadata(driver: str, tags: Mapping[str, str], location: str) -> dict[str, Any] | None:
    """``{location, format, category, sourceId, sourceDT}`` for a NITF image; None for other formats.

    Example:
        >>> source_metadata("NITF", {"NITF_ICAT": "VIS", "NITF_FTITLE": "Airfield", "NITF_IDATIM": "19961217102630"},
        ...                 "s3://b/i.ntf")["sourceDT"]
        '1996-12-17T10:26:30Z'
    """
    if driver.upper() != "NITF":
        return None
    metadata: dict[str, Any] = {"location": location, "format": "NITF"}
    if tags.get("NITF_ICAT"):
        metadata["category"] = tags["NITF_ICAT"].strip()
    if tags.get("NITF_FTITLE"):
        metadata["sourceId"] = tags["NITF_FTITLE"].strip()
    when = nitf_datetime(tags.get("NITF_IDATIM", ""))
    if when:
        metadata["sourceDT"] = when
    return metadata
