"""Per-band statistics at full resolution, streamed block by block, with the 2%/98% DRA set points.

rio-tiler computes statistics on a read capped at 1024 pixels (approximate); OSML asks GDAL for
approximate statistics too. Here every valid pixel counts: integer bands of up to 16 bits are counted
exactly (one bin per value), so their percentiles are exact; other types take a first pass for the range
and a fine histogram in the second. Memory stays one block plus the histograms.

The result has rio-tiler's ``BandStatistics`` shape (min, max, mean, count, sum, std, median,
percentile_2, percentile_98, histogram, valid_percent, masked_pixels, valid_pixels), plus ``dra``:
OSML's dynamic range adjustment for the band.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from rasterio.io import DatasetReader
from rasterio.windows import Window

#: Bins of the histogram of a float (or wide integer) band: fine enough for percentiles to 1/65536 of the range.
FLOAT_BINS = 65536
#: Bins of the histogram reported to clients (rio-tiler's default is 10; 256 draws a useful curve).
REPORTED_BINS = 256
#: OSML's DRA: set points at these fractions of the cumulative histogram...
DRA_LOW, DRA_HIGH = 0.02, 0.98
#: ...then widened by these fractions of their span, and clamped to the band's actual range.
DRA_WIDEN_LOW, DRA_WIDEN_HIGH = 0.2, 0.4


def blocks(dataset: DatasetReader, rows: int = 1024) -> Iterator[Window]:
    """Full-width strips of ``rows`` rows covering the image (large sequential reads, bounded memory)."""
    for row in range(0, dataset.height, rows):
        yield Window(0, row, dataset.width, min(rows, dataset.height - row))


def valid_pixels(dataset: DatasetReader, window: Window) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The window's pixels and where they are valid (the dataset mask, and not NaN for floats)."""
    pixels = dataset.read(window=window)
    valid = np.broadcast_to(dataset.dataset_mask(window=window) > 0, pixels.shape[1:])
    masks = np.repeat(valid[np.newaxis], pixels.shape[0], axis=0)
    if np.issubdtype(pixels.dtype, np.floating):
        masks &= np.isfinite(pixels)
    return pixels, masks


def _exact_counts(dtype: np.dtype[Any]) -> tuple[int, int] | None:
    """``(offset, bins)`` for integer types counted one bin per value, None for the others."""
    if np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max) - int(info.min) + 1
    return None


@dataclass
class _Band:
    """Running sums and a histogram of one band."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = np.inf
    high: float = -np.inf
    counts: npt.NDArray[np.int64] | None = None
    edges: npt.NDArray[np.float64] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def add_moments(self, values: npt.NDArray[Any]) -> None:
        if values.size == 0:
            return
        as_float = values.astype(np.float64)
        self.count += int(values.size)
        self.total += float(as_float.sum())
        self.squares += float(np.square(as_float).sum())
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))


def _percentile(counts: npt.NDArray[np.int64], edges: npt.NDArray[np.float64], fraction: float) -> float:
    """The value below which ``fraction`` of the pixels fall, from a histogram (lower bin edge)."""
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, fraction * cumulative[-1], side="left"))
    return float(edges[min(index, len(edges) - 2)])


def dra_range(low: float, high: float, minimum: float, maximum: float) -> tuple[float, float]:
    """OSML's dynamic range: the 2%/98% set points widened by 20%/40% of their span, within the band's range.

    Example:
        >>> dra_range(20.0, 220.0, 0.0, 255.0)
        (0.0, 255.0)
        >>> dra_range(100.0, 110.0, 0.0, 255.0)
        (98.0, 114.0)
    """
    span = high - low
    return max(minimum, low - DRA_WIDEN_LOW * span), min(maximum, high + DRA_WIDEN_HIGH * span)


def _reported(band: _Band) -> tuple[list[int], list[float]]:
    """The histogram rebinned to at most :data:`REPORTED_BINS` bins over the band's actual range."""
    assert band.counts is not None and band.edges is not None
    if band.count == 0:
        return [], []
    positions = np.clip(band.edges[:-1], band.low, band.high)  # each fine bin's lower edge, within the range
    bins = min(REPORTED_BINS, max(1, int(band.high - band.low) + 1)) if band.extra.get("integer") else REPORTED_BINS
    upper = band.high if band.high > band.low else band.low + 1
    counts, edges = np.histogram(positions, bins=bins, range=(band.low, upper), weights=band.counts)
    return [int(c) for c in counts], [float(e) for e in edges]


def _summary(band: _Band, total_pixels: int) -> dict[str, Any]:
    if band.count == 0:
        return {"count": 0, "valid_pixels": 0, "masked_pixels": total_pixels, "valid_percent": 0.0}
    assert band.counts is not None and band.edges is not None
    mean = band.total / band.count
    p2, p98 = (_percentile(band.counts, band.edges, f) for f in (DRA_LOW, DRA_HIGH))
    histogram = _reported(band)
    return {
        "min": band.low,
        "max": band.high,
        "mean": mean,
        "count": band.count,
        "sum": band.total,
        "std": float(np.sqrt(max(band.squares / band.count - mean * mean, 0.0))),
        "median": _percentile(band.counts, band.edges, 0.5),
        "percentile_2": p2,
        "percentile_98": p98,
        "histogram": [histogram[0], histogram[1]],
        "valid_percent": round(100.0 * band.count / total_pixels, 4) if total_pixels else 0.0,
        "masked_pixels": total_pixels - band.count,
        "valid_pixels": band.count,
        "dra": list(dra_range(p2, p98, band.low, band.high)),
    }


def band_statistics(dataset: DatasetReader, rows: int = 1024) -> dict[str, dict[str, Any]]:
    """Statistics of every band over all of its valid pixels, keyed ``b1``, ``b2``... as in rio-tiler."""
    dtype = np.dtype(dataset.dtypes[0])
    exact = _exact_counts(dtype)
    bands = [_Band() for _ in range(dataset.count)]
    for band in bands:
        band.extra["integer"] = bool(np.issubdtype(dtype, np.integer))
    if exact is not None:
        offset, size = exact
        for band in bands:
            band.counts = np.zeros(size, np.int64)
            band.edges = np.arange(offset, offset + size + 1, dtype=np.float64)
    for window in blocks(dataset, rows):
        pixels, masks = valid_pixels(dataset, window)
        for index, band in enumerate(bands):
            values = pixels[index][masks[index]]
            band.add_moments(values)
            if exact is not None and values.size:
                assert band.counts is not None
                band.counts += np.bincount((values.astype(np.int64) - exact[0]).ravel(), minlength=exact[1])
    if exact is None:  # second pass: a fine histogram over each band's now known range
        for band in bands:
            high = band.high if band.high > band.low else band.low + 1.0
            band.edges = np.linspace(band.low if band.count else 0.0, high if band.count else 1.0, FLOAT_BINS + 1)
            band.counts = np.zeros(FLOAT_BINS, np.int64)
        for window in blocks(dataset, rows):
            pixels, masks = valid_pixels(dataset, window)
            for index, band in enumerate(bands):
                values = pixels[index][masks[index]]
                if values.size:
                    assert band.edges is not None and band.counts is not None
                    counts, _ = np.histogram(values, bins=band.edges)
                    band.counts += counts
    total = dataset.width * dataset.height
    return {f"b{index + 1}": _summary(band, total) for index, band in enumerate(bands)}
