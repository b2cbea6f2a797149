"""The Lambda layers built by ``layers/build.py``: GDAL (rasterio, shapely, numpy, libexpat), Powertools, ONNX,
pyarrow (GeoParquet)."""

from __future__ import annotations

import runpy
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.X86_64
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "layers" / "build.py"

# The build script declares the layers and which function attaches which (standard library only, no build runs).
_BUILD = runpy.run_path(str(BUILD_SCRIPT), run_name="tessera_layers_build")
#: The folders under ``layers_dir`` (the layers ``layers/build.py`` builds).
LAYER_NAMES: tuple[str, ...] = tuple(_BUILD["LAYER_NAMES"])
#: Function construct id -> the names of the layers it attaches (``layers/build.py``'s ``FUNCTION_LAYERS``, whose
#: size check sums exactly these).
FUNCTION_LAYERS: dict[str, tuple[str, ...]] = dict(_BUILD["FUNCTION_LAYERS"])

_DESCRIPTIONS = {
    "gdal": "rasterio with its bundled GDAL, shapely, numpy, libexpat (layers/gdal/requirements.txt)",
    "powertools": "Powertools for AWS Lambda with parser and tracer (layers/powertools/requirements.txt)",
    "onnx": "onnxruntime for the onnx model; numpy from the gdal layer (layers/onnx/requirements.txt)",
    "parquet": "pyarrow for the GeoParquet output; numpy and shapely from the gdal layer "
    "(layers/parquet/requirements.txt)",
    "tiles": "rio-tiler, rio-cogeo, morecantile, pyproj for the tile server (layers/tiles/requirements.txt)",
}


class PythonLayers(Construct):
    """One LayerVersion per built layer folder (``<layers_dir>/gdal``, ``/powertools``, ``/onnx``, ``/parquet``).

    Each function attaches the layers :data:`FUNCTION_LAYERS` gives it (:meth:`for_function`): every function
    gdal and powertools, the functions that run or check models inside Lambda (load, region) onnx, and the
    aggregate function, which writes the outputs, parquet.

    The folders are asset paths, so tests can point them at empty stand-ins and skip copying 280 MB.
    """

    def __init__(self, scope: Construct, construct_id: str, *, layers_dir: Path) -> None:
        super().__init__(scope, construct_id)
        missing = [name for name in LAYER_NAMES if not (layers_dir / name).is_dir()]
        if missing:
            raise FileNotFoundError(f"layer folders {missing} are missing under {layers_dir}: run `make layers` first")
        self.by_name: dict[str, lambda_.ILayerVersion] = {
            name: lambda_.LayerVersion(
                self,
                name.capitalize(),  # Gdal, Powertools, Onnx, Parquet
                code=lambda_.Code.from_asset(str(layers_dir / name)),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=_DESCRIPTIONS[name],
            )
            for name in LAYER_NAMES
        }

    def for_function(self, function_id: str) -> list[lambda_.ILayerVersion]:
        """The layers the function with construct id ``function_id`` attaches, in ``FUNCTION_LAYERS``' order.

        Raises:
            KeyError: for a function ``layers/build.py`` does not list (its size would go unchecked).
        """
        return [self.by_name[name] for name in FUNCTION_LAYERS[function_id]]
