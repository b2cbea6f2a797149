"""``onnx``: a user's YOLO-style ONNX detector, run with onnxruntime inside the region Lambda.

Parameters come from ``imageProcessorParameters`` (``CustomAttributes`` ``key=value`` pairs are read too,
the direct keys win):

* ``model_uri`` (required): ``s3://bucket/key`` or a local path of the ``.onnx`` file. An S3 model is
  downloaded to ``/tmp`` once per ETag.
* ``input_size`` (640): the model's square input side ``S``.
* ``class_names``: a list or a comma-separated string; class ``i`` without a name is ``class_i``.
* ``score_threshold`` (0.25) and ``iou_threshold`` (0.45, the per-tile NMS of
  :func:`tessera.distillation.nms`, per class).
* ``normalization``: ``0-1`` (default: 8-bit values / 255; other types are first scaled to 8 bits as
  :func:`tessera.imagery.encoding.to_8bit` does) or ``0-255`` (the 8-bit values as they are).
* ``channels`` (3): the first ``channels`` bands; fewer bands are completed by repeating the last one
  (a 1-band tile becomes grey RGB).
* ``output_layout``: ``auto`` (default), ``yolov8`` ``(1, 4 + nc, N)``, ``yolov8-transposed``
  ``(1, N, 4 + nc)`` or ``yolov5`` ``(1, N, 5 + nc)`` (objectness times class score). ``auto`` tells
  them apart by shape and, when ``class_names`` are given, by ``nc``.

**Preprocessing** is a plain (non-letterbox) bilinear resize of the tile to ``S x S`` with pixel-centre
alignment, numpy only. Its continuous inverse is exact: a model coordinate ``x`` is tile pixel
``x * width / S`` (and ``y * height / S``), so boxes are scaled back per axis. Nodata pixels are zero.

The ``onnxruntime.InferenceSession`` is cached per process, keyed by ``model_uri`` (and the S3 ETag),
so warm invocations reuse it; onnxruntime is imported only when a session is made. Construction only
validates the parameters (``load`` runs it to check the request); a model that cannot be read or run
raises :class:`~tessera.errors.ModelError`, which fails the tile.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.distillation.nms import nms
from tessera.errors import InvalidRequestError, ModelError
from tessera.imagery import TileData
from tessera.imagery.encoding import to_8bit

LAYOUTS = ("auto", "yolov8", "yolov8-transposed", "yolov5")
NORMALIZATIONS = ("0-1", "0-255")
MODEL_DIR = Path(tempfile.gettempdir()) / "tessera-models"

_SESSIONS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _parameter(parameters: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    raw = parameters.get(name, default)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"imageProcessorParameters.{name}: {raw!r} is not a {kind.__name__}",
            field=f"imageProcessorParameters.{name}",
        ) from None
    return value


def _class_names(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [name.strip() for name in raw.split(",") if name.strip()]
    if isinstance(raw, (list, tuple)):
        return [str(name) for name in raw]
    raise InvalidRequestError(
        f"imageProcessorParameters.class_names: expected a list or a comma-separated string, got {raw!r}",
        field="imageProcessorParameters.class_names",
    )


def resize_bilinear(image: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """``(bands, h, w)`` resized to ``(bands, size, size)``, bilinear with pixel centres aligned.

    Example:
        >>> resize_bilinear(np.arange(4, dtype=np.float32).reshape(1, 2, 2), 4)[0, 0].tolist()
        [0.0, 0.25, 0.75, 1.0]
    """

    def axis(length: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        source = np.clip((np.arange(size) + 0.5) * (length / size) - 0.5, 0, length - 1)
        low = np.floor(source).astype(np.intp)
        high = np.minimum(low + 1, length - 1)
        return low, high, (source - low).astype(np.float32)

    _, height, width = image.shape
    r0, r1, wr = axis(height)
    c0, c1, wc = axis(width)
    rows = image[:, r0, :] * (1 - wr)[None, :, None] + image[:, r1, :] * wr[None, :, None]
    out = rows[:, :, c0] * (1 - wc)[None, None, :] + rows[:, :, c1] * wc[None, None, :]
    return out.astype(np.float32)


def decode(
    output: npt.ArrayLike, layout: str = "auto", num_classes: int | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Boxes ``(n, 4)`` as ``cx, cy, w, h``, scores and class indices from a YOLO output.

    ``num_classes`` (the number of class names, if any) only helps ``auto`` tell the layouts apart.

    Raises:
        ModelError: for an output that fits no layout, or an ambiguous one.

    Example:
        >>> boxes, scores, classes = decode(np.array([[[16.0], [16.0], [32.0], [32.0], [0.9]]]), "yolov8")
        >>> boxes.tolist(), scores.tolist(), classes.tolist()
        ([[16.0, 16.0, 32.0, 32.0]], [0.9], [0])
    """
    array = np.asarray(output, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] != 1:
        raise ModelError(f"onnx: expected a YOLO output shaped (1, A, B), got {array.shape}")
    _, a, b = array.shape
    if layout == "auto":
        layout = _guess_layout(a, b, num_classes)
    if layout == "yolov8":
        array = array.transpose(0, 2, 1)
    rows = array[0]
    width = rows.shape[1]
    if width < 5:
        raise ModelError(f"onnx: output {tuple(np.shape(output))} has too few values per box for {layout}")
    if layout == "yolov5":
        objectness = rows[:, 4:5]
        class_scores = rows[:, 5:] * objectness if width > 5 else objectness
    else:
        class_scores = rows[:, 4:]
    classes = class_scores.argmax(axis=1).astype(np.int64)
    scores = class_scores[np.arange(len(rows)), classes]
    return rows[:, :4].copy(), scores, classes


def _guess_layout(a: int, b: int, num_classes: int | None) -> str:
    if num_classes is not None:
        matches = [
            name
            for name, fits in (
                ("yolov8", a == 4 + num_classes),
                ("yolov8-transposed", b == 4 + num_classes),
                ("yolov5", b == 5 + num_classes),
            )
            if fits
        ]
        if len(matches) == 1:
            return matches[0]
    elif a < b and a > 4:
        return "yolov8"
    raise ModelError(
        f"onnx: cannot tell the layout of an output shaped (1, {a}, {b}); set imageProcessorParameters."
        f"output_layout to one of {', '.join(LAYOUTS[1:])} (or give class_names)"
    )


def _local_model(uri: str) -> tuple[Path, str]:
    """The model file on disk and its cache tag (the S3 ETag, or the file's mtime and size)."""
    if not uri.startswith("s3://"):
        path = Path(uri)
        if not path.is_file():
            raise ModelError(f"onnx: model file {uri} does not exist")
        stat = path.stat()
        return path, f"{stat.st_mtime_ns}:{stat.st_size}"
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ModelError(f"onnx: model_uri {uri} is not s3://bucket/key")
    s3 = boto3.client("s3")
    try:
        etag = str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
        path = MODEL_DIR / f"{hashlib.sha256(f'{uri}:{etag}'.encode()).hexdigest()[:32]}.onnx"
        if not path.is_file():
            MODEL_DIR.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
            s3.download_file(bucket, key, str(partial))
            partial.replace(path)
    except (ClientError, BotoCoreError) as exc:
        raise ModelError(f"onnx: cannot read model {uri}: {exc}") from None
    return path, etag


def inference_session(uri: str) -> Any:
    """The cached ``onnxruntime.InferenceSession`` of the model at ``uri`` (loaded on first use).

    Raises:
        ModelError: when the model cannot be found, downloaded or loaded.
    """
    path, tag = _local_model(uri)
    with _LOCK:
        session = _SESSIONS.get((uri, tag))
        if session is None:
            try:
                import onnxruntime
            except ImportError:
                raise ModelError("onnx: onnxruntime is not installed (the onnx layer is missing)") from None
            try:
                session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types for bad files
                raise ModelError(f"onnx: cannot load model {uri}: {exc}") from None
            _SESSIONS[(uri, tag)] = session
    return session


class ONNXDetector:
    """A YOLO-style ONNX model (see the module's docstring for its parameters)."""

    name = "onnx"

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        from tessera.inference.builtin import custom_attributes

        merged: dict[str, Any] = {**custom_attributes(parameters), **(parameters or {})}
        uri = str(merged.get("model_uri") or "").strip()
        if not uri:
            raise InvalidRequestError(
                "imageProcessorParameters.model_uri: the onnx model needs the s3:// URI or path of its .onnx file",
                field="imageProcessorParameters.model_uri",
            )
        self.model_uri = uri
        self.input_size = _parameter(merged, "input_size", 640, int)
        self.score_threshold = _parameter(merged, "score_threshold", 0.25, float)
        self.iou_threshold = _parameter(merged, "iou_threshold", 0.45, float)
        self.channels = _parameter(merged, "channels", 3, int)
        self.class_names = _class_names(merged.get("class_names"))
        self.normalization = str(merged.get("normalization", "0-1"))
        self.layout = str(merged.get("output_layout", "auto"))
        for name, value, allowed in (
            ("normalization", self.normalization, NORMALIZATIONS),
            ("output_layout", self.layout, LAYOUTS),
        ):
            if value not in allowed:
                raise InvalidRequestError(
                    f"imageProcessorParameters.{name}: {value!r} is not one of {', '.join(allowed)}",
                    field=f"imageProcessorParameters.{name}",
                )
        for name, number in (("input_size", self.input_size), ("channels", self.channels)):
            if number < 1:
                raise InvalidRequestError(
                    f"imageProcessorParameters.{name}: must be positive, got {number}",
                    field=f"imageProcessorParameters.{name}",
                )
        self._session: Any = None

    @property
    def session(self) -> Any:
        """The model's inference session (cached for the process)."""
        if self._session is None:
            self._session = inference_session(self.model_uri)
        return self._session

    def preprocess(self, tile: TileData) -> npt.NDArray[np.float32]:
        """The model input ``(1, channels, S, S)`` float32 for ``tile``."""
        pixels = np.asarray(tile.pixels)
        bands = [min(i, pixels.shape[0] - 1) for i in range(self.channels)]
        selected = to_8bit(pixels[bands]).astype(np.float32)
        if self.normalization == "0-1":
            selected /= 255.0
        selected[:, ~np.asarray(tile.valid, dtype=bool)] = 0.0
        return resize_bilinear(selected, self.input_size)[None]

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """Detections in ``tile``, in tile pixels."""
        session = self.session
        try:
            output = session.run(None, {session.get_inputs()[0].name: self.preprocess(tile)})[0]
        except Exception as exc:  # onnxruntime's own errors: wrong input shape, type, ...
            raise ModelError(f"onnx: model {self.model_uri} failed on tile {tile.tile.region_key}: {exc}") from None
        boxes, scores, classes = decode(output, self.layout, len(self.class_names) or None)
        keep = scores >= self.score_threshold
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        _, height, width = tile.pixels.shape
        sx, sy = width / self.input_size, height / self.input_size
        corners = np.column_stack(
            [
                (boxes[:, 0] - boxes[:, 2] / 2) * sx,
                (boxes[:, 1] - boxes[:, 3] / 2) * sy,
                (boxes[:, 0] + boxes[:, 2] / 2) * sx,
                (boxes[:, 1] + boxes[:, 3] / 2) * sy,
            ]
        )
        corners = np.clip(corners, 0, [width, height, width, height])
        features = []
        for index in nms(corners, scores, self.iou_threshold, classes).tolist():
            x1, y1, x2, y2 = (round(float(v), 4) for v in corners[index])
            cls = int(classes[index])
            name = self.class_names[cls] if cls < len(self.class_names) else f"class_{cls}"
            polygon = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
            features.append(
                {
                    "type": "Feature",
                    "geometry": None,
                    "properties": {
                        "imageGeometry": {"type": "Polygon", "coordinates": [polygon]},
                        "imageBBox": [x1, y1, x2, y2],
                        "featureClasses": [{"iri": name, "score": round(float(scores[index]), 6)}],
                    },
                }
            )
        return features
