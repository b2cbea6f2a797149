"""The ``onnx`` built-in model: loading, preprocessing and YOLO decoding, with real ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tessera.errors import InvalidRequestError, ModelError
from tessera.imagery import TileData
from tessera.inference import BUILTIN_MODELS
from tessera.inference.onnx import ONNXDetector, decode, resize_bilinear
from tessera.tiling import ImageRegion
from tests.unit.onnx_models import constant_detector, grid_detector

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def grid_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return grid_detector(tmp_path_factory.mktemp("models") / "grid.onnx", size=640)


def tile_of(pixels: npt.NDArray[np.generic]) -> TileData:
    if pixels.ndim == 2:
        pixels = pixels[None]
    valid = np.ones(pixels.shape[1:], dtype=bool)
    return TileData(tile=ImageRegion(0, 0, pixels.shape[2], pixels.shape[1]), pixels=pixels, valid=valid)


def bright_square(
    bands: int = 3, dtype: type = np.uint8, size: int = 512, where: tuple[int, int, int, int] = (200, 300, 260, 360)
) -> npt.NDArray[np.generic]:
    """A dark tile with a bright square rows ``r0:r1``, columns ``c0:c1``."""
    high = np.iinfo(dtype).max
    pixels = np.full((bands, size, size), high // 20, dtype=dtype)
    r0, c0, r1, c1 = where
    pixels[:, r0:r1, c0:c1] = high
    return pixels


def assert_found_square(features: list[dict], where: tuple[int, int, int, int] = (200, 300, 260, 360)) -> None:
    r0, c0, r1, c1 = where
    assert features, "the bright square was not detected"
    for feature in features:
        x1, y1, x2, y2 = feature["properties"]["imageBBox"]
        assert x1 < c1 and x2 > c0 and y1 < r1 and y2 > r0, f"box {[x1, y1, x2, y2]} misses the square"
        assert feature["properties"]["featureClasses"][0]["iri"] == "bright"
        ring = feature["properties"]["imageGeometry"]["coordinates"][0]
        assert ring[0] == [x1, y1] and ring[2] == [x2, y2] and ring[-1] == ring[0]
    xs = [c for f in features for c in f["properties"]["imageBBox"][0::2]]
    ys = [c for f in features for c in f["properties"]["imageBBox"][1::2]]
    # The cells touching the square cover it, within a cell (32 model pixels = 25.6 tile pixels).
    assert min(xs) <= c0 and max(xs) >= c1 and min(ys) <= r0 and max(ys) >= r1
    assert c0 - min(xs) < 25.6 + 1 and max(xs) - c1 < 25.6 + 1
    assert r0 - min(ys) < 25.6 + 1 and max(ys) - r1 < 25.6 + 1


def detector(model: Path, **parameters: object) -> ONNXDetector:
    return ONNXDetector({"model_uri": str(model), "class_names": "bright", **parameters})


def test_registered_as_builtin() -> None:
    assert BUILTIN_MODELS["onnx"] is ONNXDetector


def test_bright_square_is_detected_where_it_is(grid_model: Path) -> None:
    features = detector(grid_model).detect(tile_of(bright_square()))
    assert_found_square(features)
    assert all(f["properties"]["featureClasses"][0]["score"] == pytest.approx(1.0) for f in features)


def test_resize_inversion_is_exact_for_a_cell_aligned_square(grid_model: Path) -> None:
    """Input 640 and a 640 tile: no resize, the cells are the tile's own 32-pixel cells."""
    features = detector(grid_model).detect(tile_of(bright_square(size=640, where=(64, 96, 96, 128))))
    assert [f["properties"]["imageBBox"] for f in features] == [[96.0, 64.0, 128.0, 96.0]]
    features = detector(grid_model).detect(tile_of(bright_square(size=1280, where=(128, 192, 192, 256))))
    assert [f["properties"]["imageBBox"] for f in features] == [[192.0, 128.0, 256.0, 192.0]]


def test_dark_tile_gives_nothing(grid_model: Path) -> None:
    assert detector(grid_model).detect(tile_of(np.full((3, 512, 512), 12, dtype=np.uint8))) == []


def test_sixteen_bit_and_single_band_tiles(grid_model: Path) -> None:
    assert_found_square(detector(grid_model).detect(tile_of(bright_square(dtype=np.uint16))))
    assert_found_square(detector(grid_model).detect(tile_of(bright_square(bands=1))))
    assert_found_square(detector(grid_model).detect(tile_of(bright_square(bands=4, dtype=np.uint16))))


def test_score_threshold(grid_model: Path) -> None:
    pixels = bright_square()
    pixels[:, 200:260, 300:360] = 128  # score ~0.5
    assert_found_square(detector(grid_model).detect(tile_of(pixels)))
    assert detector(grid_model, score_threshold=0.6).detect(tile_of(pixels)) == []
    assert_found_square(detector(grid_model, score_threshold="0.4").detect(tile_of(pixels)))


def test_nodata_pixels_are_not_detected(grid_model: Path) -> None:
    tile = tile_of(bright_square())
    tile.valid[200:260, 300:360] = False
    assert detector(grid_model).detect(tile) == []


def test_session_is_cached(grid_model: Path) -> None:
    first, second = detector(grid_model), detector(grid_model, score_threshold=0.9)
    first.detect(tile_of(bright_square()))
    assert first.session is second.session


def test_construction_validates_without_loading(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match=r"imageProcessorParameters\.model_uri") as raised:
        ONNXDetector({"class_names": "x"})
    assert raised.value.field == "imageProcessorParameters.model_uri"
    with pytest.raises(InvalidRequestError, match="input_size"):
        ONNXDetector({"model_uri": "m.onnx", "input_size": "big"})
    with pytest.raises(InvalidRequestError, match="output_layout"):
        ONNXDetector({"model_uri": "m.onnx", "output_layout": "yolov9"})
    missing = ONNXDetector({"model_uri": str(tmp_path / "missing.onnx")})  # no file needed to construct
    with pytest.raises(ModelError, match="does not exist"):
        missing.detect(tile_of(bright_square()))


def test_invalid_model_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load model"):
        detector(bad).detect(tile_of(bright_square()))


def test_decode_layouts() -> None:
    # two boxes, two classes: box 0 class 1 (0.8), box 1 class 0 (0.6)
    v8 = np.array([[[10, 50], [20, 60], [4, 8], [6, 10], [0.1, 0.6], [0.8, 0.2]]], dtype=np.float32)
    v5 = np.concatenate([v8[:, :4], np.full((1, 1, 2), 0.5), v8[:, 4:] * 2], axis=1).transpose(0, 2, 1)
    for output, layout in ((v8, "yolov8"), (v8.transpose(0, 2, 1), "yolov8-transposed"), (v5, "yolov5")):
        for chosen in (layout, "auto"):
            boxes, scores, classes = decode(output, chosen, 2)
            assert boxes.tolist() == [[10, 20, 4, 6], [50, 60, 8, 10]], (layout, chosen)
            assert scores == pytest.approx([0.8, 0.6]) and classes.tolist() == [1, 0]
    with pytest.raises(ModelError, match="output_layout"):
        decode(v8.transpose(0, 2, 1), "auto", None)  # (1, 2, 6): v8-transposed or v5 with 1 class
    assert decode(v8.transpose(0, 2, 1), "yolov5", None)[2].tolist() == [0, 0]  # told: one class


@pytest.mark.parametrize("layout", ["yolov8", "yolov8-transposed", "yolov5"])
def test_layouts_through_a_model(tmp_path: Path, layout: str) -> None:
    """A constant 64-pixel model's boxes come back scaled to the 128-pixel tile, in every layout."""
    rows = np.array([[16, 16, 8, 8, 0.9, 0.1], [40, 48, 16, 8, 0.2, 0.7], [8, 8, 4, 4, 0.1, 0.1]], dtype=np.float32)
    output = {
        "yolov8": rows.T[None],
        "yolov8-transposed": rows[None],
        "yolov5": np.insert(rows, 4, 1.0, axis=1)[None],
    }[layout]
    model = constant_detector(tmp_path / f"{layout}.onnx", output, size=64)
    parameters = {"model_uri": str(model), "input_size": 64, "class_names": ["car", "ship"], "output_layout": layout}
    features = ONNXDetector(parameters).detect(tile_of(np.zeros((3, 128, 128), dtype=np.uint8)))
    found = sorted((f["properties"]["imageBBox"], f["properties"]["featureClasses"][0]["iri"]) for f in features)
    assert found == [([24.0, 24.0, 40.0, 40.0], "car"), ([64.0, 88.0, 96.0, 104.0], "ship")]


def test_per_tile_nms(tmp_path: Path) -> None:
    rows = np.array([[16, 16, 8, 8, 0.9], [17, 16, 8, 8, 0.8], [40, 40, 8, 8, 0.7]], dtype=np.float32)
    model = constant_detector(tmp_path / "nms.onnx", rows.T[None], size=64)
    features = ONNXDetector({"model_uri": str(model), "input_size": 64, "output_layout": "yolov8"}).detect(
        tile_of(np.zeros((3, 64, 64), dtype=np.uint8))
    )
    assert [f["properties"]["featureClasses"][0] for f in features] == [
        {"iri": "class_0", "score": pytest.approx(0.9)},
        {"iri": "class_0", "score": pytest.approx(0.7)},
    ]


def test_resize_bilinear_keeps_a_constant_and_the_shape() -> None:
    image = np.full((2, 30, 50), 3.0, dtype=np.float32)
    assert resize_bilinear(image, 64).shape == (2, 64, 64)
    assert np.allclose(resize_bilinear(image, 64), 3.0)
