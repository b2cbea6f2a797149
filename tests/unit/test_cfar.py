"""The CFAR ship detector on synthetic arrays: finds bright objects, not noise; nodata, 16-bit, one band."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import shapely

from tessera.errors import ModelError
from tessera.imagery import TileData
from tessera.inference import BUILTIN_MODELS
from tessera.inference.cfar import CFARDetector, CFARParameters, background, intensity
from tessera.tiling import ImageRegion

SHIPS = [  # centre x, y, length, width, heading (degrees), brightness above the sea
    (200.0, 150.0, 120.0, 20.0, 30.0, 120.0),
    (420.0, 380.0, 40.0, 10.0, 100.0, 90.0),
    (150.0, 420.0, 24.0, 7.0, 0.0, 70.0),
]


def ship_polygon(x: float, y: float, length: float, width: float, heading: float) -> shapely.Polygon:
    theta = math.radians(heading)
    bow, side = np.array([math.sin(theta), -math.cos(theta)]), np.array([math.cos(theta), math.sin(theta)])
    corners = [
        np.array([x, y]) + bow * u * length / 2 + side * v * width / 2 for u, v in ((1, 1), (1, -1), (-1, -1), (-1, 1))
    ]
    return shapely.Polygon(corners)


def sea(size: int = 512, seed: int = 1, mean: float = 50.0, sigma: float = 4.0) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).normal(mean, sigma, (size, size))


def paint(image: npt.NDArray[np.float64], ships: list[tuple[float, ...]]) -> list[shapely.Polygon]:
    """Add each ship's brightness to the pixels whose centre lies in its rectangle."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    polygons = []
    for x, y, length, width, heading, bright in ships:
        polygon = ship_polygon(x, y, length, width, heading)
        image[shapely.contains_xy(polygon, xs + 0.5, ys + 0.5)] += bright
        polygons.append(polygon)
    return polygons


def tile_of(
    pixels: npt.NDArray[np.generic], valid: npt.NDArray[np.bool_] | None = None, row: int = 0, col: int = 0
) -> TileData:
    data = pixels if pixels.ndim == 3 else pixels[None]
    mask = np.ones(data.shape[1:], dtype=bool) if valid is None else valid
    return TileData(tile=ImageRegion(row, col, data.shape[2], data.shape[1]), pixels=data, valid=mask)


def best_iou(feature: dict, polygons: list[shapely.Polygon]) -> float:
    found = shapely.geometry.shape(feature["properties"]["imageGeometry"])
    return max(found.intersection(p).area / found.union(p).area for p in polygons)


def rgb(image: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    return np.clip(np.rint(np.stack([image * 0.6, image, image * 1.3])), 0, 255).astype(np.uint8)


def test_finds_bright_ships_as_oriented_boxes() -> None:
    image = sea()
    truth = paint(image, SHIPS)
    features = CFARDetector().detect(tile_of(rgb(image)))
    assert len(features) == len(SHIPS)
    for feature in features:
        props = feature["properties"]
        assert best_iou(feature, truth) > 0.7
        assert props["featureClasses"][0]["iri"] == "ship"
        assert 0.5 < props["featureClasses"][0]["score"] <= 1.0
        ring = props["imageGeometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        minx, miny, maxx, maxy = shapely.geometry.shape(props["imageGeometry"]).bounds
        assert props["imageBBox"] == pytest.approx([minx, miny, maxx, maxy])
    headings = sorted(f["properties"]["cfar"]["orientation_deg"] for f in features)
    assert headings == pytest.approx([0.0, 30.0, 100.0], abs=3)


def test_pure_noise_gives_no_detection_and_a_bounded_false_alarm_rate() -> None:
    detector = CFARDetector()
    for seed in range(3):
        tile = tile_of(np.clip(sea(768, seed=seed + 10), 0, 255).astype(np.uint8))
        assert detector.detect(tile) == []
        assert detector.maps(tile).detected.mean() < 1e-5
    lenient = CFARDetector({"CustomAttributes": "k=3,min_area=1,min_length=0,min_aspect=0,min_fill=0"})
    rate = float(lenient.maps(tile_of(sea(768, seed=5))).detected.mean())
    assert rate < 0.01, "k=3 gives about 0.1 % of Gaussian pixels, a little more after closing"


def test_nodata_is_never_detected_nor_background() -> None:
    image = sea()
    truth = paint(image, SHIPS[:2])
    valid = np.ones(image.shape, dtype=bool)
    valid[:, 300:] = False  # the second ship lies in nodata
    image[:, 300:] = 255.0  # bright nodata next to the sea must not look like an object either
    features = CFARDetector().detect(tile_of(rgb(image), valid))
    assert len(features) == 1
    assert best_iou(features[0], truth[:1]) > 0.7
    none = CFARDetector().detect(tile_of(rgb(image), np.zeros(image.shape, dtype=bool)))
    assert none == []


def test_sixteen_bit_single_band_and_float_give_the_same_ships() -> None:
    image = sea()
    truth = paint(image, SHIPS)
    eight = CFARDetector().detect(tile_of(rgb(image)))
    sixteen = CFARDetector().detect(tile_of(rgb(image).astype(np.uint16) * 16))
    single = CFARDetector().detect(tile_of(np.clip(np.rint(image), 0, 255).astype(np.uint8)))
    as_float = image.astype(np.float32)
    valid = np.ones(image.shape, dtype=bool)
    as_float[:20] = np.nan
    valid[:20] = False
    floats = CFARDetector().detect(tile_of(as_float, valid))
    for features in (eight, sixteen, single, floats):
        assert len(features) == len(SHIPS)
        assert all(best_iou(f, truth) > 0.7 for f in features)
    assert [f["properties"]["imageBBox"] for f in sixteen] == [f["properties"]["imageBBox"] for f in eight]


def test_objects_at_the_tile_edge_are_dropped_unless_asked() -> None:
    image = sea()
    paint(image, [(8.0, 256.0, 80.0, 16.0, 0.0, 100.0), (490.0, 100.0, 60.0, 12.0, 90.0, 100.0)])
    pixels = rgb(image)
    assert CFARDetector().detect(tile_of(pixels)) == []
    kept = CFARDetector({"CustomAttributes": "edge_objects=keep"}).detect(tile_of(pixels))
    assert len(kept) == 2


def test_a_bright_area_larger_than_any_ship_is_not_a_ship() -> None:
    image = sea()
    image[:, :200] += 60.0  # land
    image[:, 196:204] += 90.0  # a bright beach along its edge
    truth = paint(image, [SHIPS[1]])
    features = CFARDetector().detect(tile_of(rgb(image)))
    assert len(features) == 1
    assert best_iou(features[0], truth) > 0.7


def test_parameters_come_from_custom_attributes() -> None:
    detector = CFARDetector({"CustomAttributes": "model_selection=cfar,k=5.5,class=vessel,edge_objects=keep"})
    assert detector.params.k == 5.5
    assert detector.params.feature_class == "vessel"
    assert detector.params.edge_objects == "keep"
    assert CFARDetector().params == CFARParameters()
    with pytest.raises(ModelError, match="k="):
        CFARDetector({"CustomAttributes": "k=abc"})
    with pytest.raises(ModelError, match="window"):
        CFARDetector({"CustomAttributes": "guard=50,window=40"})
    image = sea()
    paint(image, SHIPS[:1])
    features = CFARDetector({"CustomAttributes": "class=vessel"}).detect(tile_of(rgb(image)))
    assert features[0]["properties"]["featureClasses"][0]["iri"] == "vessel"
    assert BUILTIN_MODELS["cfar"] is CFARDetector


def test_background_statistics_match_a_direct_computation() -> None:
    values = sea(64, seed=3).astype(np.float32)
    use = np.random.default_rng(4).random(values.shape) > 0.2
    for mode in ("ca", "go", "so"):
        mean, std, ok = background(values, use, 3, 9, mode)
        y, x = 30, 33
        ring = np.ones((19, 19), dtype=bool)
        ring[6:13, 6:13] = False
        window = values[y - 9 : y + 10, x - 9 : x + 10]
        keep = use[y - 9 : y + 10, x - 9 : x + 10]
        if mode == "ca":
            sample = window[ring & keep]
            assert mean[y, x] == pytest.approx(sample.mean(), rel=1e-4)
            assert std[y, x] == pytest.approx(sample.std(), rel=1e-3)
        else:
            sides = [
                window[:6][keep[:6]],
                window[13:][keep[13:]],
                window[:, :6][keep[:, :6]],
                window[:, 13:][keep[:, 13:]],
            ]
            levels = [s.mean() + s.std() for s in sides]
            chosen = sides[int(np.argmax(levels) if mode == "go" else np.argmin(levels))]
            assert mean[y, x] == pytest.approx(chosen.mean(), rel=1e-4)
        assert ok[y, x]


def test_intensity_of_one_three_and_four_bands() -> None:
    one = np.full((1, 2, 2), 7, dtype=np.uint16)
    four = np.stack([np.full((2, 2), v, dtype=np.uint8) for v in (100, 200, 50, 255)])
    assert intensity(one).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert intensity(four)[0, 0] == pytest.approx(0.299 * 100 + 0.587 * 200 + 0.114 * 50)
    assert intensity(four, "max")[0, 0] == 255.0
