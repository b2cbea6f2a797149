"""``cfar``: bright objects on a dark background (ships at sea), by constant false alarm rate thresholding.

**Pixels.** Every pixel is compared with its local background: the pixels of a square *training*
window of half-size ``window`` around it, less a *guard* square of half-size ``guard`` that keeps the
object out of its own background. A pixel is detected when it exceeds the background mean by ``k``
background standard deviations; in Gaussian clutter the false alarm rate is the normal tail beyond
``k`` (``k = 6``: 1e-9 a pixel). ``mode=go`` (greatest of, the default) splits the training ring into
its four sides (above, below, left, right) and takes the side with the highest ``mean + std``, so that
next to a brighter area (a coast, a cloud) the brighter side sets the threshold; ``mode=ca`` averages
the whole ring, ``mode=so`` takes the darkest side. Means and variances come from integral images
(O(1) a pixel for any window, vectorized numpy) of the tile normalized by its median and robust sigma,
pooled over ``pool x pool`` blocks.

**Censoring.** A bright object must not inflate its own background (a ship in its own training window
hides itself). Two smallest-of passes with a wide guard (``pre_guard``, ``pre_window``: wider than a
ship's beam) find *candidates*, bright against the darkest side of their surroundings; candidates and
the tile's outliers (``k`` robust sigmas above its median) that form object-sized blobs (at most
``max_length * max_width / 2`` pixels; larger ones are land or cloud, and stay) are left out of every
background. Each of the ``passes`` greatest-of passes then also leaves out what the previous detected.

**Objects.** Detections are closed (``closing``) and grouped into 8-connected components by GDAL's
polygonize (``rasterio.features.shapes``). Each is trimmed to its *core*, the pixels above half its
median contrast (never below ``k``): for a blurred object that is its edge at half maximum, and it sheds
faint attachments such as a wake. It is kept by size (``min_area`` pixels, ``min_length`` to
``max_length`` along its long axis, at most ``max_width`` across), elongation (``min_aspect`` to
``max_aspect``), rectangularity (``min_fill``: pixels over its box's area) and isolation
(``max_spread``: the candidate blob it lies on, at half its brightness, over its own area; a piece of a
beach, a road or a cloud's edge spreads far, a ship with its wake does not). The minimum rotated
rectangle of its core is the feature's ``imageGeometry`` (an oriented polygon), that rectangle's bounds
its ``imageBBox``, the class ``ship`` (``class=...`` to change), and the score ``c / (c + k)`` with ``c``
its mean contrast in background sigmas (0.5 at the threshold). ``properties.cfar`` carries the
measurements.

**Tile seams.** An object cut by a tile border gives a partial box that overlaps the neighbour tile's
whole box by less than NMS's IoU threshold, so both would survive distillation. With
``edge_objects=drop`` (the default) objects within ``border`` pixels of the tile's edge are dropped.
This needs a tile overlap larger than the largest object plus ``2 * border``: then every object lies
whole, clear of the edges, in some tile, and where it lies whole in two tiles NMS merges the two equal
boxes. The stack's default overlap (32 px) is smaller than most ships at 0.5 m: run such images with a
larger ``imageProcessorTileOverlap`` (the demo scene's request uses 288 px for ships up to 244 px), or
set ``edge_objects=keep`` and accept partial duplicates at seams. A tile cannot tell the image's edge
from a seam, so objects cut by the image's edge are dropped too (they are partial anyway).

Works on any integer or float type, one band or many (``bands=luminance``: Rec. 601 weights of the
first three bands; ``bands=max``: the brightest band; a single band as it is). Nodata pixels
(``TileData.valid``) are never detected and never part of a background.

Parameters come from ``CustomAttributes`` (``"k=5.5,min_length=10,class=vessel"``), named as the fields
of :class:`CFARParameters` (``class`` for ``feature_class``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio.features
import shapely
from affine import Affine

from tessera.errors import ModelError
from tessera.imagery import TileData

Float = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


@dataclass(frozen=True)
class CFARParameters:
    """The detector's parameters; the defaults are tuned on the synthetic scenes (0.5 m pixels)."""

    k: float = 6.0
    guard: int = 12
    window: int = 48
    mode: str = "go"
    pre_guard: int = 30
    pre_window: int = 66
    pool: int = 2
    passes: int = 3
    censor: int = 3
    closing: int = 1
    min_area: int = 40
    min_length: float = 12.0
    max_length: float = 400.0
    max_width: float = 90.0
    min_aspect: float = 2.0
    max_aspect: float = 10.0
    min_fill: float = 0.55
    max_spread: float = 3.0
    border: int = 2
    edge_objects: str = "drop"
    bands: str = "luminance"
    feature_class: str = "ship"

    @classmethod
    def from_attributes(cls, attributes: dict[str, str]) -> CFARParameters:
        """Parameters from ``CustomAttributes`` pairs; keys that are not parameters are ignored.

        Raises:
            ModelError: for a value of the wrong type or out of range.

        Example:
            >>> CFARParameters.from_attributes({"k": "5", "class": "vessel", "model_selection": "cfar"}).k
            5.0
        """
        values: dict[str, Any] = {}
        for spec in fields(cls):
            key = "class" if spec.name == "feature_class" else spec.name
            if key not in attributes:
                continue
            raw = attributes[key]
            try:
                values[spec.name] = raw if spec.type == "str" else (int(raw) if spec.type == "int" else float(raw))
            except ValueError:
                raise ModelError(f"cfar: parameter {key}={raw!r} is not a {spec.type}") from None
        params = cls(**values)
        params.check()
        return params

    def check(self) -> None:
        """Reject inconsistent values.

        Raises:
            ModelError: naming the first bad parameter.
        """
        problems = [
            (self.k <= 0, "k must be positive"),
            (self.guard < 0 or self.window <= self.guard, "window must be larger than guard (both >= 0)"),
            (self.pre_guard < 0 or self.pre_window <= self.pre_guard, "pre_window must be larger than pre_guard"),
            (self.pool < 1 or self.passes < 1, "pool and passes must be at least 1"),
            (self.mode not in ("ca", "go", "so"), "mode must be ca, go or so"),
            (self.edge_objects not in ("drop", "keep"), "edge_objects must be drop or keep"),
            (self.bands not in ("luminance", "max"), "bands must be luminance or max"),
            (min(self.closing, self.border, self.censor, self.min_area) < 0, "sizes must be >= 0"),
            (not self.feature_class, "class must not be empty"),
        ]
        for bad, message in problems:
            if bad:
                raise ModelError(f"cfar: {message}")


@dataclass
class CFARMaps:
    """Per-pixel results on one tile: the detections and their contrast, the first passes' candidates."""

    detected: Mask
    contrast: Float
    candidates: Mask
    candidate_contrast: Float


def intensity(pixels: npt.NDArray[Any], bands: str = "luminance") -> npt.NDArray[np.float64]:
    """One band of brightness from ``(bands, rows, cols)`` pixels, as float64.

    Example:
        >>> intensity(np.array([[[100]], [[200]], [[50]]], dtype=np.uint8)).round(1).tolist()
        [[153.0]]
    """
    data = np.asarray(pixels)
    if data.ndim == 2:
        return data.astype(np.float64)
    if data.shape[0] == 1:
        return data[0].astype(np.float64)
    if bands == "max" or data.shape[0] < 3:
        return np.asarray(np.fmax.reduce(data.astype(np.float64), axis=0))
    return np.tensordot(_LUMA, data[:3].astype(np.float64), axes=1)


def _padded_integral(values: npt.NDArray[Any], pad: int) -> npt.NDArray[np.float64]:
    """The summed-area table (``T[i, j]`` = sum of ``values[:i, :j]``), edge-padded by ``pad``.

    Reading the padded table at ``i + pad`` gives ``T[clip(i, 0, rows)]``: windows that stick out of the
    tile are clipped to it, and every window sum is four slices.
    """
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.float64)
    np.cumsum(values, axis=0, dtype=np.float64, out=table[1:, 1:])
    np.cumsum(table[1:, 1:], axis=1, out=table[1:, 1:])
    return np.pad(table, pad, mode="edge")


def _rect_sum(
    table: npt.NDArray[np.float64], pad: int, rows: tuple[int, int], cols: tuple[int, int], shape: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """Sums over ``[y + rows[0], y + rows[1]) x [x + cols[0], x + cols[1])`` around every pixel ``(y, x)``."""
    h, w = shape
    (r0, r1), (c0, c1) = rows, cols

    def corner(r: int, c: int) -> npt.NDArray[np.float64]:
        return table[pad + r : pad + r + h, pad + c : pad + c + w]

    return corner(r1, c1) - corner(r0, c1) - corner(r1, c0) + corner(r0, c0)


def _windows(guard: int, window: int, mode: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Training windows as ``(rows, cols)`` offset ranges: the whole square (``ca``) or the ring's four sides."""
    g, w = guard, window
    full = (-w, w + 1)
    if mode == "ca":
        return [(full, full)]
    return [((-w, -g), full), ((g + 1, w + 1), full), (full, (-w, -g)), (full, (g + 1, w + 1))]


def _pool(values: npt.NDArray[Any], factor: int) -> npt.NDArray[np.float64]:
    """Sums over ``factor x factor`` blocks (the last partial blocks padded with zeros)."""
    h, w = values.shape
    padded = np.zeros((-(-h // factor) * factor, -(-w // factor) * factor), dtype=np.float64)
    padded[:h, :w] = values
    pooled = np.zeros((padded.shape[0] // factor, padded.shape[1] // factor), dtype=np.float64)
    for dy in range(factor):
        for dx in range(factor):
            pooled += padded[dy::factor, dx::factor]
    return pooled


def _upsample(values: npt.NDArray[Any], factor: int, shape: tuple[int, int]) -> npt.NDArray[Any]:
    if factor == 1:
        return values
    return np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)[: shape[0], : shape[1]]


def _pick(
    best: tuple[Float, Float, Float] | None, candidate: tuple[Float, Float, Float], mode: str
) -> tuple[Float, Float, Float]:
    """Keep, pixel by pixel, the window with the higher (``go``) or lower (``so``) level ``mean + std``."""
    if best is None:
        return candidate
    better = (candidate[2] < best[2] if mode == "so" else candidate[2] > best[2]) | np.isnan(best[2])
    return (
        np.where(better, candidate[0], best[0]),
        np.where(better, candidate[1], best[1]),
        np.where(better, candidate[2], best[2]),
    )


def background(
    values: Float, use: Mask, guard: int, window: int, mode: str = "go", pool: int = 1, min_fraction: float = 0.25
) -> tuple[Float, Float, Mask]:
    """Background mean and standard deviation of every pixel, from the pixels in ``use`` around it.

    ``mode="ca"`` takes the whole ring between ``guard`` and ``window``; ``mode="go"`` takes each of the
    ring's four sides and keeps the one with the highest ``mean + std``, ``mode="so"`` the lowest. A
    window counts when at least ``min_fraction`` of its pixels are in ``use``; the mask says where one
    did. With ``pool`` > 1 the sums are pooled over ``pool x pool`` blocks first (windows then snap to
    blocks, the guard rounded up) and the statistics are repeated over each block.

    Example:
        >>> mean, std, ok = background(np.arange(25.0).reshape(5, 5), np.ones((5, 5), bool), 0, 1, "ca")
        >>> float(mean[2, 2]), bool(ok[2, 2])
        (12.0, True)
    """
    full_shape = (values.shape[0], values.shape[1])
    weight = use.astype(np.float64)
    quantities = [values * weight, values * values * weight, weight]
    if pool > 1:
        quantities = [_pool(q, pool) for q in quantities]
        guard, window = -(-guard // pool), max(-(-window // pool), -(-guard // pool) + 1)
    shape = (quantities[0].shape[0], quantities[0].shape[1])
    pad = window + 1
    tables = [_padded_integral(q, pad) for q in quantities]
    guard_box = ((-guard, guard + 1), (-guard, guard + 1))
    best = None
    for rows, cols in _windows(guard, window, mode):
        total, square, count = (_rect_sum(t, pad, rows, cols, shape) for t in tables)
        area = (rows[1] - rows[0]) * (cols[1] - cols[0])
        if mode == "ca":
            total, square, count = (
                part - _rect_sum(t, pad, *guard_box, shape)
                for part, t in zip((total, square, count), tables, strict=True)
            )
            area -= (2 * guard + 1) ** 2
        safe = np.maximum(count, 1.0)
        mean = total / safe
        std = np.sqrt(np.maximum(square / safe - mean * mean, 0.0))
        level = np.where(count >= min_fraction * area * pool * pool, mean + std, np.nan)
        best = _pick(best, (mean, std, level), mode)
    assert best is not None
    mean, std, level = best
    return (
        _upsample(mean.astype(np.float32), pool, full_shape),
        _upsample(std.astype(np.float32), pool, full_shape),
        _upsample(~np.isnan(level), pool, full_shape),
    )


def _dilate(mask: Mask, radius: int) -> Mask:
    """Binary dilation by a ``(2 radius + 1)²`` square (separable maxima over shifted slices)."""
    if radius <= 0:
        return mask
    out = mask.copy()
    for axis in (0, 1):
        source = out.copy()
        length = mask.shape[axis]
        for shift in range(1, min(radius, length - 1) + 1):
            lo: list[slice] = [slice(None), slice(None)]
            hi: list[slice] = [slice(None), slice(None)]
            lo[axis], hi[axis] = slice(0, length - shift), slice(shift, length)
            out[tuple(lo)] |= source[tuple(hi)]
            out[tuple(hi)] |= source[tuple(lo)]
    return out


def _close(mask: Mask, radius: int) -> Mask:
    """Binary closing (dilation, then erosion) by a square; outside the tile counts as set for the erosion."""
    if radius <= 0:
        return mask
    return ~_dilate(~_dilate(mask, radius), radius)


def robust_scale(values: npt.NDArray[np.float64], valid: Mask) -> tuple[float, float]:
    """Median and robust sigma (1.4826 MAD) of the valid values (a sample of 200,000 at most).

    Example:
        >>> robust_scale(np.array([[1.0, 2.0, 3.0, 100.0]]), np.ones((1, 4), bool))
        (2.5, 1.4826)
    """
    sample = values[valid]
    if sample.size > 200_000:
        sample = sample[:: sample.size // 200_000]
    median = float(np.median(sample))
    return median, 1.4826 * float(np.median(np.abs(sample - median)))


def compact_blobs(mask: Mask, largest: int) -> Mask:
    """The pixels of ``mask`` in 8-connected blobs of at most ``largest`` pixels (GDAL's sieve keeps the rest)."""
    large = rasterio.features.sieve(mask.astype(np.uint8), size=largest + 1, connectivity=8).astype(bool)
    return mask & ~large


@dataclass(frozen=True)
class _Tile:
    """The tile's size, for the seam test."""

    width: int
    height: int


class CFARDetector:
    """Bright objects on a dark background (ships at sea): CFAR, connected components, oriented boxes."""

    name = "cfar"

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        from tessera.inference.builtin import custom_attributes  # builtin imports this module at its end

        self.params = CFARParameters.from_attributes(custom_attributes(parameters))

    def maps(self, tile: TileData) -> CFARMaps:
        """The CFAR test on every pixel of ``tile``.

        Values are first normalized by the tile's median and robust sigma. Two smallest-of passes with a
        wide guard find *candidates* (bright against the darkest side of their surroundings); those that
        form object-sized blobs are censored from the greatest-of passes, which give the detections.
        """
        p = self.params
        raw = intensity(tile.pixels, p.bands)
        valid = np.asarray(tile.valid, dtype=bool) & np.isfinite(raw)
        zeros = np.zeros(raw.shape, dtype=np.float32)
        if not valid.any():
            return CFARMaps(zeros > 0, zeros, zeros > 0, zeros)
        median, sigma = robust_scale(raw, valid)
        floor = (
            0.5 if np.issubdtype(tile.pixels.dtype, np.integer) else 1e-6 * max(float(np.abs(raw[valid]).max()), 1e-30)
        )
        scale = max(sigma, floor)
        values = np.where(valid, (raw - median) / scale, 0.0).astype(np.float32)
        min_std = floor / scale
        use = valid
        for _ in range(2):
            candidate_contrast = self._contrast(values, use, min_std, "so", p.pre_guard, p.pre_window)
            candidates = valid & (candidate_contrast > p.k)
            use = valid & ~_dilate(candidates, p.censor)
        compact = compact_blobs(candidates | (valid & (values > p.k)), int(p.max_length * p.max_width / 2))
        use = valid & ~_dilate(compact, p.censor)
        detected, contrast = zeros > 0, zeros
        for _ in range(p.passes):
            contrast = self._contrast(values, use, min_std, p.mode, p.guard, p.window)
            detected = valid & (contrast > p.k)
            use &= ~_dilate(detected, p.censor)
        return CFARMaps(_close(detected, p.closing) & valid, contrast, candidates, candidate_contrast)

    def _contrast(self, values: Float, use: Mask, min_std: float, mode: str, guard: int, window: int) -> Float:
        """Every pixel's excess over its background in background sigmas (0 where there is no background)."""
        mean, std, enough = background(values, use, guard, window, mode, self.params.pool)
        return np.where(enough, (values - mean) / np.maximum(std, min_std), 0.0).astype(np.float32)

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """Oriented boxes of the bright objects in ``tile`` (tile pixel coordinates)."""
        maps = self.maps(tile)
        if not maps.detected.any():
            return []
        rows, cols = maps.detected.shape
        where = _Tile(cols, rows)
        features = []
        mask = maps.detected
        for geometry, _ in rasterio.features.shapes(mask.astype(np.uint8), mask=mask, connectivity=8):
            feature = self._feature(shapely.geometry.shape(geometry), maps, where)
            if feature is not None:
                features.append(feature)
        return features

    def _touches_seam(self, bounds: tuple[float, float, float, float], tile: _Tile) -> bool:
        """True when the object comes within ``border`` pixels of the tile's edge (it may be cut there)."""
        minx, miny, maxx, maxy = bounds
        border = self.params.border
        return minx < border or miny < border or maxx > tile.width - border or maxy > tile.height - border

    def _core(self, component: shapely.Geometry, maps: CFARMaps) -> tuple[npt.NDArray[np.int64], float, float] | None:
        """The component's core (its pixels above half its median contrast): pixel corners, mean contrast, spread.

        The spread is the area of the bright blob the core lies on over the core's own area: about 1 for
        an isolated object, large for a piece of a longer bright structure (a beach, a cloud's edge).
        """
        p = self.params
        minx, miny, maxx, maxy = (int(v) for v in component.bounds)
        window = maps.contrast[miny:maxy, minx:maxx]
        rows, cols = np.nonzero(maps.detected[miny:maxy, minx:maxx])
        inside = np.zeros(window.shape, dtype=bool)
        inside[rows, cols] = shapely.contains_xy(component, cols + minx + 0.5, rows + miny + 0.5)
        if int(inside.sum()) < p.min_area:
            return None
        core = inside & (window >= max(p.k, 0.5 * float(np.median(window[inside]))))
        if int(core.sum()) < p.min_area:
            return None
        spread = self._spread(component, maps, core, (minx, miny))
        rows, cols = np.nonzero(core)
        corners = np.concatenate([np.column_stack([cols + dx, rows + dy]) for dx in (0, 1) for dy in (0, 1)])
        return corners + np.array([minx, miny]), float(window[core].mean()), spread

    def _spread(self, component: shapely.Geometry, maps: CFARMaps, core: Mask, origin: tuple[int, int]) -> float:
        """Area of the bright blob around the core over the core's area: ~1 for an isolated object.

        The blob is the core plus the connected candidate pixels at least half as bright (in candidate
        contrast) as the core's median, within twice the object's size around it. A piece of a longer
        bright structure (a beach, a road, a cloud's edge) spreads far; a ship with its wake does not.
        """
        height, width = core.shape
        col, row = origin
        margin = 2 * max(height, width)
        rows, cols = maps.candidates.shape
        y0, x0 = max(row - margin, 0), max(col - margin, 0)
        y1, x1 = min(row + height + margin, rows), min(col + width + margin, cols)
        level = 0.5 * float(np.median(maps.candidate_contrast[row : row + height, col : col + width][core]))
        bright = maps.candidates[y0:y1, x0:x1] & (maps.candidate_contrast[y0:y1, x0:x1] >= level)
        bright[row - y0 : row - y0 + height, col - x0 : col - x0 + width] |= core
        blobs = rasterio.features.shapes(
            bright.astype(np.uint8), mask=bright, connectivity=8, transform=Affine.translation(x0, y0)
        )
        area = sum(blob.area for blob in (shapely.geometry.shape(g) for g, _ in blobs) if blob.intersects(component))
        return float(area) / float(core.sum())

    def _feature(self, component: shapely.Geometry, maps: CFARMaps, tile: _Tile) -> dict[str, Any] | None:
        """The OSML feature of one connected component, or None when a filter rejects it."""
        p = self.params
        core = self._core(component, maps)
        if core is None:
            return None
        corners, contrast, spread = core
        area = len(corners) // 4
        rectangle = shapely.minimum_rotated_rectangle(shapely.MultiPoint(corners))
        ring = np.asarray(rectangle.exterior.coords)
        sides = np.hypot(*np.diff(ring[:3], axis=0).T)
        length, width = float(sides.max()), float(sides.min())
        fill = area / max(length * width, 1.0)
        rejected = (
            not p.min_length <= length <= p.max_length
            or width > p.max_width
            or not p.min_aspect * width <= length <= p.max_aspect * max(width, 1.0)
            or fill < p.min_fill
            or spread > p.max_spread
            or (p.edge_objects == "drop" and self._touches_seam(rectangle.bounds, tile))
        )
        if rejected:
            return None
        long_side = int(np.argmax(sides))
        dx, dy = ring[long_side + 1] - ring[long_side]
        return {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "imageGeometry": {"type": "Polygon", "coordinates": [[[float(x), float(y)] for x, y in ring]]},
                "imageBBox": [float(v) for v in rectangle.bounds],
                "featureClasses": [{"iri": p.feature_class, "score": round(contrast / (contrast + p.k), 4)}],
                "cfar": {
                    "contrast_sigma": round(contrast, 2),
                    "area_px": area,
                    "length_px": round(length, 2),
                    "width_px": round(width, 2),
                    "fill": round(fill, 3),
                    "orientation_deg": round(math.degrees(math.atan2(dx, -dy)) % 180.0, 2),
                },
            },
        }
