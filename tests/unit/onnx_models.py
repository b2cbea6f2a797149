"""Small ONNX detectors built directly as graphs with the ``onnx`` package (dev only), for tests.

``grid_detector``: a real, input-dependent model. Input ``images`` ``(1, 3, S, S)`` float; the mean over
the channels is max-pooled over 32 x 32 cells (kernel and stride 32), which gives one score per cell;
the boxes are constants, the cells' centres with ``w = h = 32``. The output is YOLOv8's
``(1, 4 + 1, N)`` with one class (``bright``), ``N = (S / 32)**2``, cells in row-major order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CELL = 32


def grid_boxes(size: int) -> np.ndarray:
    """The constant boxes ``(4, N)``: cx, cy, w, h of each 32-pixel cell, row-major."""
    cells = size // CELL
    cy, cx = np.meshgrid(np.arange(cells) * CELL + CELL / 2, np.arange(cells) * CELL + CELL / 2, indexing="ij")
    n = cells * cells
    return np.stack([cx.ravel(), cy.ravel(), np.full(n, CELL), np.full(n, CELL)]).astype(np.float32)


def _save(graph: object, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tessera-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def grid_detector(path: Path, size: int = 640) -> Path:
    """Write the grid detector for ``size x size`` inputs to ``path``; return ``path``."""
    from onnx import TensorProto, helper, numpy_helper

    cells = size // CELL
    n = cells * cells
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("MaxPool", ["mean"], ["pooled"], kernel_shape=[CELL, CELL], strides=[CELL, CELL]),
        helper.make_node("Reshape", ["pooled", "score_shape"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    initializers = [
        numpy_helper.from_array(grid_boxes(size)[None], "boxes"),
        numpy_helper.from_array(np.array([1, 1, n], dtype=np.int64), "score_shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "grid_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, n])],
        initializer=initializers,
    )
    return _save(graph, path)


def constant_detector(path: Path, output: np.ndarray, size: int = 64) -> Path:
    """A model that ignores its ``(1, 3, size, size)`` input and answers ``output`` (any layout)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[
            numpy_helper.from_array(output.astype(np.float32), "table"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    return _save(graph, path)
