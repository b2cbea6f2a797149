"""A deterministic synthetic maritime scene with ground truth: sea, coast, land, ships with wakes, clouds.

:func:`generate_scene` draws everything from one seed (numpy's PCG64), so the same seed and size give the
same pixels and the same ships on every machine with the same numpy. The scene is built in layers:

* **sea**: a deep-water colour with large-scale variation, a directional swell, fine texture, lighter
  shallow water near the coast and a few whitecaps (specks far smaller than any ship);
* **land**: a coastline along one side of the image (a fractal curve) and sometimes an island, a sand
  beach, fields (Voronoi cells of vegetation and soil colours) with texture, and roads. There are no
  buildings: the scene is for ship detection;
* **ships** of three kinds (boats 10-22 m, vessels 25-60 m, ships 70-120 m) at random headings, kept
  clear of the coast, the image edge, thick cloud and each other; a pointed bow, a superstructure or
  cockpit, containers on some ships, a shadow, and for moving ones a turbulent wake and Kelvin arms;
* **clouds**: soft, semi-transparent, with their shadows;

then a mild optical blur, sensor noise and quantization to 8 bits (or 12 bits stored in uint16).

:func:`write_scene` writes the image as a tiled, compressed GeoTIFF in UTM (EPSG:32633 at 0.5 m by
default), as a NITF whose only geolocation is an RPC00B TRE fitted to the same ground (checked against
the exact transformation after writing), the ground truth as GeoJSON (each ship's oriented rectangle in
image pixels as ``imageGeometry`` and in lon/lat as ``geometry``, with heading and length), and an
ImageRequest suited to the scene (tile overlap larger than the largest ship).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.rpc import RPC
from rasterio.transform import RPCTransformer
from rasterio.warp import transform as warp_transform

from tessera.evaluation.accuracy import haversine_m

Float = npt.NDArray[np.float32]
Float64 = npt.NDArray[np.float64]

SHIP_CLASS = "ship"
WGS84 = CRS.from_epsg(4326)
#: The RPC00B polynomial terms that do not involve height, in the TRE's order (1, L, P, LP, L², P², L³, LP², L²P, P³).
_RPC_TERMS = (0, 1, 2, 4, 7, 8, 11, 12, 14, 15)
_FIXED_DATE = "20260101000000"
_KELVIN = math.radians(19.47)

_SEA_DEEP = np.array([18.0, 42.0, 62.0], dtype=np.float32)
_SEA_SHALLOW = np.array([42.0, 96.0, 100.0], dtype=np.float32)
_SAND = np.array([188.0, 174.0, 140.0], dtype=np.float32)
_ROAD = np.array([140.0, 138.0, 130.0], dtype=np.float32)
_CLOUD = np.array([238.0, 240.0, 244.0], dtype=np.float32)
_LAND = np.array(
    [[34, 58, 30], [66, 104, 48], [112, 108, 66], [124, 98, 74], [78, 88, 52], [96, 120, 60]], dtype=np.float32
)
_DECKS = np.array(
    [[226, 226, 222], [186, 189, 192], [172, 96, 76], [96, 146, 104], [136, 154, 178], [204, 190, 150]],
    dtype=np.float32,
)
_CONTAINERS = np.array(
    [[206, 84, 62], [70, 128, 196], [222, 202, 86], [96, 172, 96], [232, 232, 232], [200, 120, 60]], dtype=np.float32
)
# kind: (probability, length range in metres, length/beam range, speed range in knots)
_KINDS: dict[str, tuple[float, tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "boat": (0.35, (10.0, 22.0), (2.8, 3.6), (5.0, 25.0)),
    "vessel": (0.40, (25.0, 60.0), (4.0, 5.5), (5.0, 16.0)),
    "ship": (0.25, (70.0, 120.0), (5.5, 7.0), (8.0, 16.0)),
}
MAX_SHIP_LENGTH_M = 120.0


@dataclass(frozen=True)
class SceneConfig:
    """What to generate.

    Attributes:
        size: width and height in pixels.
        seed: the random seed; everything follows from it.
        resolution: ground sample distance in metres.
        epsg: the projected CRS of the GeoTIFF (a UTM zone).
        origin: easting and northing of the image's upper-left corner.
        bits: 8 (uint8) or 16 (12-bit values in uint16).
        ships: number of ships (default: one per 250,000 pixels, at least 4).
        clouds: number of clouds (default: 1 to 3).
    """

    size: int = 3000
    seed: int = 0
    resolution: float = 0.5
    epsg: int = 32633
    origin: tuple[float, float] = (560_000.0, 4_820_000.0)
    bits: int = 8
    ships: int | None = None
    clouds: int | None = None

    @property
    def transform(self) -> Affine:
        """The GeoTIFF's geotransform (north up)."""
        return Affine(self.resolution, 0.0, self.origin[0], 0.0, -self.resolution, self.origin[1])

    @property
    def max_ship_px(self) -> float:
        """The largest ship extent (its diagonal) in pixels."""
        return math.hypot(MAX_SHIP_LENGTH_M, MAX_SHIP_LENGTH_M / 5.5) / self.resolution


@dataclass(frozen=True)
class Ship:
    """One ship: centre in image pixels, size in pixels, heading in degrees clockwise from north (image up)."""

    id: str
    kind: str
    x: float
    y: float
    length: float
    beam: float
    heading: float
    speed: float

    @property
    def axes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Unit vectors (x, y) towards the bow and towards starboard, in image pixels."""
        theta = math.radians(self.heading)
        return (math.sin(theta), -math.cos(theta)), (math.cos(theta), math.sin(theta))

    def corners(self) -> Float64:
        """The oriented rectangle (bow starboard, bow port, stern port, stern starboard), closed, in pixels."""
        (bx, by), (sx, sy) = self.axes
        half_l, half_b = self.length / 2, self.beam / 2
        ring = [
            (self.x + bx * u + sx * v, self.y + by * u + sy * v)
            for u, v in ((half_l, half_b), (half_l, -half_b), (-half_l, -half_b), (-half_l, half_b))
        ]
        return np.array([*ring, ring[0]], dtype=np.float64)

    def polygon(self) -> shapely.Polygon:
        """The oriented rectangle as a shapely polygon in image pixels."""
        return shapely.Polygon(self.corners())

    def frame(self, xs: Float, ys: Float) -> tuple[Float, Float]:
        """Coordinates of pixel points in the ship's frame: ``u`` towards the bow, ``v`` towards starboard."""
        (bx, by), (sx, sy) = self.axes
        dx, dy = xs - np.float32(self.x), ys - np.float32(self.y)
        return (dx * bx + dy * by).astype(np.float32), (dx * sx + dy * sy).astype(np.float32)

    @property
    def wake_length(self) -> float:
        """Length of the turbulent wake behind the stern, in pixels (0 when at anchor)."""
        return 0.0 if self.speed <= 0 else min(self.length * (1.0 + self.speed / 4.0), 600.0)


@dataclass
class Scene:
    """A generated scene: pixels ``(3, size, size)``, georeference, ships (the ground truth)."""

    config: SceneConfig
    pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]
    ships: list[Ship]
    crs: CRS = field(init=False)

    def __post_init__(self) -> None:
        self.crs = CRS.from_epsg(self.config.epsg)

    @property
    def transform(self) -> Affine:
        """The geotransform."""
        return self.config.transform


# ---------------------------------------------------------------------------------------------- noise


def _spectral_noise(rng: np.random.Generator, h: int, w: int, wavelength: float, spread: float = 0.5) -> Float:
    """Gaussian noise band-limited around ``wavelength`` pixels (isotropic), unit standard deviation."""
    white = rng.standard_normal((h, w), dtype=np.float32)
    spectrum = np.fft.rfft2(white)
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    centre = 1.0 / wavelength
    gain = (
        np.exp(-0.5 * ((radius - centre) / (spread * centre)) ** 2)
        if spread < 1
        else np.exp(-0.5 * (radius / centre) ** 2)
    )
    field_ = np.fft.irfft2(spectrum * gain, s=(h, w)).astype(np.float32)
    return field_ / max(float(field_.std()), 1e-6)


def _swell(rng: np.random.Generator, h: int, w: int) -> Float:
    """A directional swell: wavelengths of 30-60 px around one random direction, unit standard deviation."""
    white = rng.standard_normal((h, w), dtype=np.float32)
    spectrum = np.fft.rfft2(white)
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    direction = rng.uniform(0, math.pi)
    k0 = 1.0 / rng.uniform(30.0, 60.0)
    along = fx * math.cos(direction) + fy * math.sin(direction)
    across = -fx * math.sin(direction) + fy * math.cos(direction)
    gain = np.exp(-0.5 * ((np.abs(along) - k0) / (0.25 * k0)) ** 2) * np.exp(-0.5 * (across / (0.35 * k0)) ** 2)
    field_ = np.fft.irfft2(spectrum * gain, s=(h, w)).astype(np.float32)
    return field_ / max(float(field_.std()), 1e-6)


def _smooth_grid(rng: np.random.Generator, h: int, w: int, cells: int) -> Float:
    """Bilinearly interpolated white noise on a ``cells``-wide grid: a cheap smooth field over a small crop."""
    coarse = rng.standard_normal((cells + 2, cells + 2)).astype(np.float32)
    ys = np.linspace(0.5, cells + 0.5, h, dtype=np.float32)
    xs = np.linspace(0.5, cells + 0.5, w, dtype=np.float32)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _blur(image: Float) -> Float:
    """A [1, 2, 1]/4 binomial blur along both axes of every band (the optics' point spread)."""
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = (padded[:, :-2, :] + 2 * padded[:, 1:-1, :] + padded[:, 2:, :]) * 0.25
    return ((rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) * 0.25).astype(np.float32)


# ---------------------------------------------------------------------------------------------- land


def _fractal_curve(rng: np.random.Generator, length: int, amplitude: float) -> tuple[Float64, Float64]:
    """A smooth random curve over ``0..length`` (sum of sinusoids, amplitude ∝ wavelength) and its derivative."""
    t = np.arange(length, dtype=np.float64)
    value, slope = np.zeros(length), np.zeros(length)
    for octave in range(7):
        wavelength = 1.6 * length / 2**octave
        a = amplitude * 0.55**octave * rng.uniform(0.6, 1.0)
        phase = rng.uniform(0, 2 * math.pi)
        k = 2 * math.pi / wavelength
        value += a * np.sin(k * t + phase)
        slope += a * k * np.cos(k * t + phase)
    return value, slope


def _sea_distance(rng: np.random.Generator, size: int) -> Float:
    """Signed distance to the coast in pixels (approximate): positive at sea, negative on land."""
    side = int(rng.integers(4))
    base = rng.uniform(0.12, 0.22) * size
    offset, slope = _fractal_curve(rng, size, 0.05 * size)
    coast = base + offset
    grid = np.arange(size, dtype=np.float32)
    across = {0: grid[:, None], 1: (size - grid)[None, :], 2: (size - grid)[:, None], 3: grid[None, :]}[side]
    along_axis = 1 if side in (0, 2) else 0
    shape = (1, size) if along_axis == 1 else (size, 1)
    coast_line = coast.astype(np.float32).reshape(shape)
    norm = np.sqrt(1 + slope**2).astype(np.float32).reshape(shape)
    distance = ((across - coast_line) / norm).astype(np.float32)
    for _ in range(int(rng.integers(0, 2 + size // 2000))):
        distance = np.minimum(distance, _island(rng, size, distance))
    return distance


def _island(rng: np.random.Generator, size: int, distance: Float) -> Float:
    """Signed distance to a random island out at sea (a blob with a wavy shore); far away outside its box."""
    radius = rng.uniform(0.03, 0.08) * size
    for _ in range(50):
        cx, cy = rng.uniform(0.15, 0.85, 2) * size
        if distance[int(cy), int(cx)] > radius + 0.12 * size:
            break
    harmonics = [(n, rng.uniform(0, 0.12), rng.uniform(0, 2 * math.pi)) for n in range(2, 7)]
    reach = int(radius * 1.4 + 300)
    x0, x1 = max(0, int(cx) - reach), min(size, int(cx) + reach)
    y0, y1 = max(0, int(cy) - reach), min(size, int(cy) + reach)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rho = np.hypot(xs - np.float32(cx), ys - np.float32(cy))
    theta = np.arctan2(ys - np.float32(cy), xs - np.float32(cx))
    shore = np.full_like(rho, radius)
    for n, a, phase in harmonics:
        shore += np.float32(radius * a) * np.cos(n * theta + np.float32(phase))
    island = np.full((size, size), np.float32(1e6), dtype=np.float32)
    island[y0:y1, x0:x1] = rho - shore
    return island


def _voronoi_labels(rng: np.random.Generator, size: int, cells: int) -> npt.NDArray[np.int64]:
    """Nearest-seed labels of ``cells`` random seeds, computed at half resolution (fields)."""
    half = (size + 1) // 2
    seeds = rng.uniform(0, half, (cells, 2)).astype(np.float32)
    ys, xs = np.mgrid[0:half, 0:half].astype(np.float32)
    best = np.full((half, half), np.inf, dtype=np.float32)
    labels = np.zeros((half, half), dtype=np.int64)
    for index, (sx, sy) in enumerate(seeds):
        d = (xs - sx) ** 2 + (ys - sy) ** 2 * 1.6
        closer = d < best
        best[closer] = d[closer]
        labels[closer] = index
    return np.repeat(np.repeat(labels, 2, axis=0), 2, axis=1)[:size, :size]


def _land(rng: np.random.Generator, size: int) -> Float:
    """Land colours: fields with texture, crossed by roads."""
    n_cells = max(8, size * size // 60_000)
    labels = _voronoi_labels(rng, size, n_cells)
    palette = _LAND[rng.integers(len(_LAND), size=n_cells)] * rng.uniform(0.9, 1.1, (n_cells, 1)).astype(np.float32)
    texture = (
        1 + 0.07 * _spectral_noise(rng, size, size, 12.0, spread=2.0) + 0.04 * _spectral_noise(rng, size, size, 3.0)
    )
    land = np.moveaxis(palette[labels], -1, 0) * texture[None]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    for _ in range(int(rng.integers(2, 5))):
        x0, y0, x1, y1 = rng.uniform(0, size, 4)
        dx, dy = x1 - x0, y1 - y0
        norm = math.hypot(dx, dy) or 1.0
        distance = np.abs((xs - np.float32(x0)) * np.float32(dy / norm) - (ys - np.float32(y0)) * np.float32(dx / norm))
        weight = np.clip(3.5 - distance, 0, 1)
        land = land * (1 - weight) + _ROAD[:, None, None] * weight
    return land.astype(np.float32)


def _sea(rng: np.random.Generator, size: int, sea_distance: Float) -> Float:
    """Sea colours: deep water, large-scale variation, swell, fine texture, shallows near the coast, whitecaps."""
    large = _spectral_noise(rng, size, size, 600.0, spread=2.0)
    swell = _swell(rng, size, size)
    fine = _spectral_noise(rng, size, size, 4.0, spread=0.8)
    shade = 1 + 0.08 * large + 0.05 * swell + 0.025 * fine
    shallow = np.exp(-np.clip(sea_distance, 0, None) / 40.0)[None]
    sea = (_SEA_DEEP[:, None, None] * (1 - shallow) + _SEA_SHALLOW[:, None, None] * shallow) * shade[None]
    for _ in range(size * size // 25_000):
        x, y = rng.uniform(2, size - 3, 2)
        sea[:, int(y) : int(y) + int(rng.integers(1, 3)), int(x) : int(x) + int(rng.integers(1, 3))] += rng.uniform(
            20, 60
        )
    return sea.astype(np.float32)


# ---------------------------------------------------------------------------------------------- clouds


def _clouds(rng: np.random.Generator, size: int, count: int) -> Float:
    """Cloud opacity in [0, 0.92]: soft fractal blobs."""
    alpha = np.zeros((size, size), dtype=np.float32)
    for _ in range(count):
        radius = rng.uniform(0.05, 0.13) * size
        cx, cy = rng.uniform(0, size, 2)
        peak = rng.uniform(0.55, 0.92)
        half = int(radius * 1.4)
        x0, x1 = max(0, int(cx) - half), min(size, int(cx) + half)
        y0, y1 = max(0, int(cy) - half), min(size, int(cy) + half)
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rho = np.hypot(xs - np.float32(cx), ys - np.float32(cy)) / np.float32(radius)
        noise = 0.35 * _smooth_grid(rng, y1 - y0, x1 - x0, 6) + 0.15 * _smooth_grid(rng, y1 - y0, x1 - x0, 16)
        a = np.clip(1.3 * (1 - rho) + noise, 0, 1) ** 1.5 * np.float32(peak)
        alpha[y0:y1, x0:x1] = 1 - (1 - alpha[y0:y1, x0:x1]) * (1 - a)
    return alpha


def _shifted(image: Float, dx: int, dy: int) -> Float:
    """``image`` moved by ``(dx, dy)`` pixels, zero filled."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = image[
        max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)
    ]
    return out


# ---------------------------------------------------------------------------------------------- ships


def _draw_ship(rng: np.random.Generator, kind: str, size: int, resolution: float) -> tuple[float, float, float]:
    """Length and beam in pixels and speed in knots of a new ship of ``kind``."""
    _, (l_min, l_max), (r_min, r_max), (s_min, s_max) = _KINDS[kind]
    length_m = rng.uniform(l_min, l_max)
    beam_m = length_m / rng.uniform(r_min, r_max)
    speed = 0.0 if rng.random() < 0.3 else rng.uniform(s_min, s_max)
    return length_m / resolution, beam_m / resolution, speed


def _zone(ship: Ship) -> shapely.Geometry:
    """The area another ship may not enter: the hull plus 20 px, and the turbulent wake."""
    zone = ship.polygon().buffer(20.0)
    if ship.wake_length > 0:
        (bx, by), (sx, sy) = ship.axes
        back = ship.length / 2 + ship.wake_length
        width = ship.beam * 1.2 + 10
        wake = shapely.Polygon(
            [
                (ship.x - bx * ship.length / 2 + sx * ship.beam, ship.y - by * ship.length / 2 + sy * ship.beam),
                (ship.x - bx * back + sx * width, ship.y - by * back + sy * width),
                (ship.x - bx * back - sx * width, ship.y - by * back - sy * width),
                (ship.x - bx * ship.length / 2 - sx * ship.beam, ship.y - by * ship.length / 2 - sy * ship.beam),
            ]
        )
        zone = zone.union(wake)
    return zone


def _place_ships(rng: np.random.Generator, config: SceneConfig, sea_distance: Float, alpha: Float) -> list[Ship]:
    """Ships at random places and headings: at sea, clear of the coast, edges, thick cloud and each other."""
    size = config.size
    count = config.ships if config.ships is not None else max(4, round(size * size / 250_000))
    kinds = list(_KINDS)
    probabilities = [_KINDS[k][0] for k in kinds]
    ships: list[Ship] = []
    zones: list[shapely.Geometry] = []
    margin = 48.0
    for _ in range(count * 300):
        if len(ships) == count:
            break
        kind = kinds[int(rng.choice(len(kinds), p=probabilities))]
        length, beam, speed = _draw_ship(rng, kind, size, config.resolution)
        x, y = rng.uniform(0, size, 2)
        ship = Ship(f"ship-{len(ships) + 1:03d}", kind, float(x), float(y), length, beam, rng.uniform(0, 360), speed)
        corners = ship.corners()
        if corners.min() < margin or corners.max() > size - margin:
            continue
        rows = np.clip(np.r_[corners[:, 1], y].astype(int), 0, size - 1)
        cols = np.clip(np.r_[corners[:, 0], x].astype(int), 0, size - 1)
        if sea_distance[rows, cols].min() < 40:
            continue
        x0, y0 = np.clip(corners.min(axis=0).astype(int) - 30, 0, size)
        x1, y1 = np.clip(corners.max(axis=0).astype(int) + 30, 0, size)
        if alpha[y0:y1, x0:x1].max() > 0.05:
            continue
        zone = _zone(ship)
        if any(zone.intersects(other) for other in zones):
            continue
        ships.append(ship)
        zones.append(zone)
    return ships


def _crop(ship: Ship, reach: float, size: int) -> tuple[int, int, int, int] | None:
    """Pixel window ``(x0, y0, x1, y1)`` around the ship extended by ``reach`` pixels, clipped to the image."""
    extent = math.hypot(ship.length, ship.beam) / 2 + reach
    x0, y0 = max(0, int(ship.x - extent)), max(0, int(ship.y - extent))
    x1, y1 = min(size, int(ship.x + extent) + 1), min(size, int(ship.y + extent) + 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _hull_coverage(
    ship: Ship, window: tuple[int, int, int, int], dx: float = 0, dy: float = 0
) -> tuple[Float, Float, Float]:
    """Fraction of each pixel covered by the hull (4x4 supersampled), and ship-frame ``u``, ``v`` at pixel centres."""
    x0, y0, x1, y1 = window
    sub = (np.arange(4, dtype=np.float32) + 0.5) / 4
    xs = (np.arange(x0, x1, dtype=np.float32)[:, None] + sub[None, :]).ravel() - np.float32(dx)
    ys = (np.arange(y0, y1, dtype=np.float32)[:, None] + sub[None, :]).ravel() - np.float32(dy)
    u, v = ship.frame(xs[None, :], ys[:, None])
    half_l, half_b = ship.length / 2, ship.beam / 2
    bow = min(0.18 * ship.length, 2.5 * ship.beam)
    taper = np.clip((half_l - u) / bow, 0, 1)
    half_width = half_b * (0.2 + 0.8 * np.sqrt(taper))
    inside = (np.abs(u) <= half_l) & (np.abs(v) <= half_width)
    coverage = inside.reshape(y1 - y0, 4, x1 - x0, 4).mean(axis=(1, 3)).astype(np.float32)
    cx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - np.float32(dx)
    cy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - np.float32(dy)
    uc, vc = ship.frame(cx, cy)
    return coverage, uc, vc


def _deck(rng: np.random.Generator, ship: Ship, u: Float, v: Float) -> Float:
    """Deck colours in the crop: a base colour, a superstructure or cockpit, and containers on some ships."""
    base = _DECKS[rng.integers(len(_DECKS))]
    deck = np.broadcast_to(base[:, None, None], (3, *u.shape)).copy()
    rel_u, rel_v = u / ship.length, np.abs(v) / ship.beam
    if ship.kind == "boat":
        cockpit = (np.abs(rel_u + 0.05) < 0.12) & (rel_v < 0.25)
        deck[:, cockpit] *= 0.78
        return deck
    bridge = (rel_u > -0.46) & (rel_u < -0.30) & (rel_v < 0.42)
    deck[:, bridge] = np.array([236.0, 236.0, 234.0], dtype=np.float32)[:, None]
    if ship.kind == "ship" and rng.random() < 0.6:
        edges = np.linspace(-0.26, 0.36, int(rng.integers(4, 9)) + 1)
        for lo, hi in itertools.pairwise(edges):
            block = (rel_u > lo + 0.006) & (rel_u < hi - 0.006) & (rel_v < 0.40)
            deck[:, block] = _CONTAINERS[rng.integers(len(_CONTAINERS))][:, None]
    return deck


def _wake(rng: np.random.Generator, ship: Ship, window: tuple[int, int, int, int]) -> Float:
    """Brightness added by the turbulent wake and the Kelvin arms behind a moving ship, over ``window``."""
    x0, y0, x1, y1 = window
    cx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    cy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    u, v = ship.frame(cx, cy)
    wake = np.float32(ship.wake_length)
    behind = -(u + np.float32(ship.length / 2))
    ahead = np.clip(behind, 0, None)
    onset = (1 - np.exp(-ahead / 3.0)) * (behind > 0)
    width = np.float32(ship.beam) * (0.45 + 0.9 * ahead / wake)
    texture = 0.7 + 0.3 * np.clip(_smooth_grid(rng, y1 - y0, x1 - x0, max(4, (x1 - x0) // 6)), -1, 1)
    turbulent = rng.uniform(10.0, 15.0) * np.exp(-ahead / (0.3 * wake)) * np.exp(-((v / width) ** 2)) * texture
    arm = np.minimum(np.abs(np.abs(v) - ahead * math.tan(_KELVIN)), 50)
    kelvin = 4.5 * np.exp(-ahead / wake) * np.exp(-((arm / 1.6) ** 2)) * (ahead < 1.2 * wake)
    return ((turbulent + kelvin) * onset).astype(np.float32)


def _render_ship(
    rng: np.random.Generator, image: Float, ship: Ship, sea: Float, shadow_dir: tuple[float, float]
) -> None:
    """Paint the ship's wake, shadow and hull into ``image`` (in place); the wake only where there is sea."""
    size = image.shape[1]
    if ship.wake_length > 0 and (window := _crop(ship, ship.wake_length + 12, size)) is not None:
        x0, y0, x1, y1 = window
        image[:, y0:y1, x0:x1] += (_wake(rng, ship, window) * sea[y0:y1, x0:x1])[None]
    height = {"boat": 1.5, "vessel": 3.0, "ship": 5.0}[ship.kind]
    window = _crop(ship, 4 + height, size)
    if window is None:
        return
    x0, y0, x1, y1 = window
    view = image[:, y0:y1, x0:x1]
    shade, _, _ = _hull_coverage(ship, window, shadow_dir[0] * height, shadow_dir[1] * height)
    view *= 1 - 0.45 * shade[None]
    coverage, u, v = _hull_coverage(ship, window)
    deck = _deck(rng, ship, u, v) * (1 + 0.03 * rng.standard_normal(u.shape, dtype=np.float32))[None]
    view *= 1 - coverage[None]
    view += deck * coverage[None]


# ---------------------------------------------------------------------------------------------- scene


def generate_scene(config: SceneConfig | None = None) -> Scene:
    """Generate the scene described by ``config`` (deterministic in its seed).

    Example:
        >>> scene = generate_scene(SceneConfig(size=400, seed=1, ships=2))
        >>> scene.pixels.shape, scene.pixels.dtype.name, len(scene.ships)
        ((3, 400, 400), 'uint8', 2)
    """
    config = config or SceneConfig()
    if config.bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {config.bits}")
    rng = np.random.default_rng(config.seed)
    size = config.size
    sea_distance = _sea_distance(rng, size)
    n_clouds = config.clouds if config.clouds is not None else int(rng.integers(1, 4))
    alpha = _clouds(rng, size, n_clouds)
    ships = _place_ships(rng, config, sea_distance, alpha)
    sea_weight = np.clip(sea_distance / 2 + 0.5, 0, 1)
    beach = np.clip((sea_distance + rng.uniform(7, 14)) / 2 + 0.5, 0, 1) * (1 - sea_weight)
    land = _land(rng, size)
    sea = _sea(rng, size, sea_distance)
    image = sea * sea_weight[None] + land * (1 - sea_weight - beach)[None] + _SAND[:, None, None] * beach[None]
    del land, sea
    azimuth = rng.uniform(0, 2 * math.pi)
    shadow_dir = (math.cos(azimuth), math.sin(azimuth))
    for ship in ships:
        _render_ship(rng, image, ship, sea_weight, shadow_dir)
    offset = rng.uniform(30, 70)
    shadow = _shifted(alpha, round(shadow_dir[0] * offset), round(shadow_dir[1] * offset))
    image *= 1 - 0.35 * shadow[None]
    image = image * (1 - alpha[None]) + _CLOUD[:, None, None] * alpha[None]
    image = _blur(image)
    image += rng.normal(0.0, 2.0, image.shape).astype(np.float32)
    if config.bits == 8:
        pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    else:
        pixels = np.clip(np.rint(image * 16), 0, 4095).astype(np.uint16)
    return Scene(config=config, pixels=pixels, ships=ships)


# ---------------------------------------------------------------------------------------------- RPC


def _lonlat(transform: Affine, crs: CRS, cols: Float64, rows: Float64) -> tuple[Float64, Float64]:
    """Exact lon/lat of pixel coordinates (GDAL's convention: (0, 0) the upper-left corner of the image)."""
    east, north = transform @ (np.asarray(cols, dtype=np.float64), np.asarray(rows, dtype=np.float64))
    lon, lat = warp_transform(crs, WGS84, np.ravel(east), np.ravel(north))
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _rpc_terms(lon_n: Float64, lat_n: Float64) -> Float64:
    """The RPC00B terms without height (``_RPC_TERMS``) of normalized longitude ``L`` and latitude ``P``."""
    ell, p = lon_n, lat_n
    return np.column_stack([np.ones_like(ell), ell, p, ell * p, ell**2, p**2, ell**3, ell * p**2, ell**2 * p, p**3])


def fit_rpc(transform: Affine, crs: CRS, width: int, height: int) -> RPC:
    """RPCs (cubic in lon/lat, denominator 1) reproducing the image's geotransform and CRS.

    Offsets and scales are rounded to the precision of the RPC00B TRE fields first, so that what a NITF
    stores is what was fitted. RPC line/sample coordinates put (0, 0) at the centre of the first pixel.
    """
    rows, cols = np.meshgrid(np.linspace(0, height, 41), np.linspace(0, width, 41), indexing="ij")
    lon, lat = _lonlat(transform, crs, cols.ravel(), rows.ravel())
    lat_off, lon_off = round(float(lat.mean()), 4), round(float(lon.mean()), 4)
    lat_scale = math.ceil(float(np.abs(lat - lat_off).max()) * 1.05e4) / 1e4
    lon_scale = math.ceil(float(np.abs(lon - lon_off).max()) * 1.05e4) / 1e4
    line_off, samp_off = float(height // 2), float(width // 2)
    line_scale, samp_scale = float(max(height // 2, 1)), float(max(width // 2, 1))
    terms = _rpc_terms((lon - lon_off) / lon_scale, (lat - lat_off) / lat_scale)
    line_n = (rows.ravel() - 0.5 - line_off) / line_scale
    samp_n = (cols.ravel() - 0.5 - samp_off) / samp_scale
    line_fit, *_ = np.linalg.lstsq(terms, line_n, rcond=None)
    samp_fit, *_ = np.linalg.lstsq(terms, samp_n, rcond=None)
    line_num, samp_num = [0.0] * 20, [0.0] * 20
    for index, term in enumerate(_RPC_TERMS):
        line_num[term] = float(f"{line_fit[index]:.6e}")
        samp_num[term] = float(f"{samp_fit[index]:.6e}")
    den = [1.0] + [0.0] * 19
    return RPC(
        height_off=0.0,
        height_scale=500.0,
        lat_off=lat_off,
        lat_scale=lat_scale,
        line_den_coeff=den,
        line_num_coeff=line_num,
        line_off=line_off,
        line_scale=line_scale,
        long_off=lon_off,
        long_scale=lon_scale,
        samp_den_coeff=den,
        samp_num_coeff=samp_num,
        samp_off=samp_off,
        samp_scale=samp_scale,
        err_bias=-1.0,
        err_rand=-1.0,
    )


def rpc_error_m(rpcs: RPC, transform: Affine, crs: CRS, width: int, height: int, steps: int = 61) -> float:
    """Largest distance in metres, over a grid of pixel positions, between the RPC and the exact geolocation."""
    rows, cols = np.meshgrid(np.linspace(0, height, steps), np.linspace(0, width, steps), indexing="ij")
    lon, lat = _lonlat(transform, crs, cols.ravel(), rows.ravel())
    rpc_lon, rpc_lat = RPCTransformer(rpcs).xy(rows.ravel(), cols.ravel(), offset="ul")
    return float(haversine_m(np.asarray(rpc_lon), np.asarray(rpc_lat), lon, lat).max())


# ---------------------------------------------------------------------------------------------- writing


def request_for(config: SceneConfig) -> dict[str, Any]:
    """An ImageRequest for the scene: CFAR, tiles whose overlap holds the largest ship whole."""
    overlap = int(math.ceil((config.max_ship_px + 16) / 32) * 32)
    return {
        "imageProcessor": {"name": "cfar", "type": "BUILTIN"},
        "imageProcessorTileSize": max(1024, 4 * overlap),
        "imageProcessorTileOverlap": overlap,
        "imageProcessorTileFormat": "GTIFF",
    }


def truth_collection(
    scene: Scene, files: dict[str, str] | None = None, rpc_error: float | None = None
) -> dict[str, Any]:
    """The ground truth as a GeoJSON FeatureCollection (lon/lat geometry, pixel ``imageGeometry``)."""
    config = scene.config
    features = []
    for ship in scene.ships:
        ring = ship.corners()
        lon, lat = _lonlat(scene.transform, scene.crs, ring[:, 0], ring[:, 1])
        centre_lon, centre_lat = _lonlat(scene.transform, scene.crs, np.array([ship.x]), np.array([ship.y]))
        minx, miny = ring.min(axis=0)
        maxx, maxy = ring.max(axis=0)
        features.append(
            {
                "type": "Feature",
                "id": ship.id,
                "geometry": {"type": "Polygon", "coordinates": [np.column_stack([lon, lat]).tolist()]},
                "properties": {
                    "featureClasses": [{"iri": SHIP_CLASS, "score": 1.0}],
                    "imageGeometry": {"type": "Polygon", "coordinates": [ring.tolist()]},
                    "imageBBox": [float(minx), float(miny), float(maxx), float(maxy)],
                    "kind": ship.kind,
                    "heading_deg": round(ship.heading, 3),
                    "length_m": round(ship.length * config.resolution, 3),
                    "beam_m": round(ship.beam * config.resolution, 3),
                    "speed_kn": round(ship.speed, 2),
                    "center_pixel": [ship.x, ship.y],
                    "center_longitude": float(centre_lon[0]),
                    "center_latitude": float(centre_lat[0]),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "scene": {
            "seed": config.seed,
            "size": config.size,
            "bits": config.bits,
            "resolution_m": config.resolution,
            "crs": f"EPSG:{config.epsg}",
            "transform": list(scene.transform)[:6],
            "ships": len(scene.ships),
            "rpc_max_error_m": rpc_error,
            "files": files or {},
        },
        "features": features,
    }


def write_scene(scene: Scene, out_dir: Path | str, name: str = "scene") -> dict[str, Path]:
    """Write ``<name>.tif`` (GeoTIFF, UTM), ``<name>.ntf`` (NITF with RPC00B), ``truth.geojson`` and ``request.json``.

    Raises:
        RuntimeError: when the NITF's RPCs, read back, miss the exact geolocation by 0.25 m or more (GDAL
            inverts RPCs to 0.1 px, 5 cm here).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bands, height, width = scene.pixels.shape
    paths = {
        "geotiff": out / f"{name}.tif",
        "nitf": out / f"{name}.ntf",
        "truth": out / "truth.geojson",
        "request": out / "request.json",
    }
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": scene.pixels.dtype.name,
        "crs": scene.crs,
        "transform": scene.transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 2,
        "photometric": "RGB",
    }
    with rasterio.open(paths["geotiff"], "w", **profile) as dst:
        dst.write(scene.pixels)
    rpcs = fit_rpc(scene.transform, scene.crs, width, height)
    plain = {k: v for k, v in profile.items() if k not in ("crs", "transform", "compress", "predictor")}
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as memory:
        with memory.open(**plain, rpcs=rpcs) as source:
            source.write(scene.pixels)
            rasterio.shutil.copy(
                source,
                paths["nitf"],
                driver="NITF",
                BLOCKXSIZE=512,
                BLOCKYSIZE=512,
                FDT=_FIXED_DATE,
                IDATIM=_FIXED_DATE,
                FTITLE="Tessera synthetic scene",
            )
        with rasterio.open(paths["nitf"]) as check:
            if check.rpcs is None:
                raise RuntimeError(f"{paths['nitf']} has no RPCs")
            error = rpc_error_m(check.rpcs, scene.transform, scene.crs, width, height)
    if error >= 0.25:
        raise RuntimeError(f"the NITF's RPCs miss the exact geolocation by {error:.3f} m")
    files = {key: path.name for key, path in paths.items()}
    paths["truth"].write_text(json.dumps(truth_collection(scene, files, round(error, 5)), indent=1))
    paths["request"].write_text(json.dumps(request_for(scene.config), indent=2))
    return paths
