"""Range adjustment: the input range of each band from the viewpoint's whole-image statistics.

NONE keeps pixels as they are when the output format holds their type, and otherwise maps the type's
full range (floats: the band's min/max) to 8 bits. MINMAX maps the band's min/max and DRA the OSML
dynamic range (2%/98% set points widened) to 8 bits. The parameters come from ingest, at full
resolution, so neighbouring tiles always match (per-tile stretching makes seams).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tessera.errors import InvalidRequestError
from tessera.tiles.formats import ImageFormat
from tessera.viewpoints.models import RangeAdjustment

Interval = tuple[float, float]


def parse_rescale(text: str | None) -> list[Interval] | None:
    """TiTiler's ``rescale=min,max`` (one pair for every band, or ``;``-separated pairs per band).

    Example:
        >>> parse_rescale("0,3000"), parse_rescale("0,255;10,20")
        ([(0.0, 3000.0)], [(0.0, 255.0), (10.0, 20.0)])
    """
    if not text:
        return None
    intervals = []
    for pair in text.split(";"):
        try:
            low, high = (float(v) for v in pair.split(","))
        except ValueError:
            message = f"rescale '{text}' must be min,max (or min,max;min,max per band)"
            raise InvalidRequestError(message, "rescale") from None
        if not high > low:
            raise InvalidRequestError(f"rescale '{pair}': max must be greater than min", "rescale")
        intervals.append((low, high))
    return intervals


def _band_range(stats: Mapping[str, Any], adjustment: RangeAdjustment, dtype: str) -> Interval:
    if stats.get("count", 0) == 0:
        return _type_range(dtype, stats)
    if adjustment is RangeAdjustment.DRA and "dra" in stats:
        low, high = stats["dra"]
    elif adjustment in (RangeAdjustment.MINMAX, RangeAdjustment.DRA):
        low, high = stats["min"], stats["max"]
    else:
        low, high = _type_range(dtype, stats)
    if not high > low:  # a constant band shows as mid-grey, not black
        return float(low) - 0.5, float(low) + 0.5
    return float(low), float(high)


def _type_range(dtype: str, stats: Mapping[str, Any]) -> Interval:
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(np.dtype(dtype))
        return float(info.min), float(info.max)
    low, high = float(stats.get("min", 0.0)), float(stats.get("max", 1.0))
    return (low, high) if high > low else (low - 0.5, low + 0.5)


def input_ranges(
    statistics: Mapping[str, Mapping[str, Any]],
    indexes: Sequence[int],
    adjustment: RangeAdjustment,
    dtype: str,
    image_format: ImageFormat,
    rescale: list[Interval] | None = None,
) -> list[Interval] | None:
    """Per selected band, the input range mapped to 0-255; None when pixels go out unchanged.

    Example:
        >>> stats = {"b1": {"count": 9, "min": 10, "max": 4000, "dra": [100, 3000]}}
        >>> input_ranges(stats, [1], RangeAdjustment.DRA, "uint16", ImageFormat.PNG)
        [(100.0, 3000.0)]
        >>> input_ranges(stats, [1], RangeAdjustment.NONE, "uint16", ImageFormat.PNG) is None
        True
        >>> input_ranges(stats, [1], RangeAdjustment.NONE, "uint16", ImageFormat.JPEG)
        [(0.0, 65535.0)]
    """
    if rescale:
        return [rescale[i] if i < len(rescale) else rescale[-1] for i in range(len(indexes))]
    if adjustment is RangeAdjustment.NONE and image_format.holds(dtype):
        return None
    return [_band_range(statistics.get(f"b{i}", {}), adjustment, dtype) for i in indexes]
