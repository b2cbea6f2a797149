"""The Lambda layers built by ``layers/build.py``: GDAL (rasterio, shapely, numpy, libexpat), Powertools, ONNX."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.X86_64
#: The folders under ``layers_dir`` (the layers ``layers/build.py`` builds).
LAYER_NAMES = ("gdal", "powertools", "onnx", "tiles")


class PythonLayers(Construct):
    """One LayerVersion per built layer folder (``<layers_dir>/gdal``, ``/powertools``, ``/onnx``).

    Every function attaches :attr:`all` (gdal, powertools); the functions that run or check models inside
    Lambda (load, region) add :attr:`onnx`, whose onnxruntime uses the gdal layer's numpy.

    The folders are asset paths, so tests can point them at empty stand-ins and skip copying 130 MB.
    """

    def __init__(self, scope: Construct, construct_id: str, *, layers_dir: Path) -> None:
        super().__init__(scope, construct_id)
        missing = [name for name in LAYER_NAMES if not (layers_dir / name).is_dir()]
        if missing:
            raise FileNotFoundError(f"layer folders {missing} are missing under {layers_dir}: run `make layers` first")
        self.gdal = lambda_.LayerVersion(
            self,
            "Gdal",
            code=lambda_.Code.from_asset(str(layers_dir / "gdal")),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="rasterio with its bundled GDAL, shapely, numpy, libexpat (layers/gdal/requirements.txt)",
        )
        self.powertools = lambda_.LayerVersion(
            self,
            "Powertools",
            code=lambda_.Code.from_asset(str(layers_dir / "powertools")),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Powertools for AWS Lambda with parser and tracer (layers/powertools/requirements.txt)",
        )
        self.onnx = lambda_.LayerVersion(
            self,
            "Onnx",
            code=lambda_.Code.from_asset(str(layers_dir / "onnx")),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="onnxruntime for the onnx model; numpy from the gdal layer (layers/onnx/requirements.txt)",
        )

        self.tiles = lambda_.LayerVersion(
            self,
            "Tiles",
            code=lambda_.Code.from_asset(str(layers_dir / "tiles")),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="rio-tiler, rio-cogeo, morecantile, pyproj for the tile server (layers/tiles/requirements.txt)",
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        """The layers every function attaches, in order (the model-running functions add :attr:`onnx`)."""
        return [self.gdal, self.powertools]
