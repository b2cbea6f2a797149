"""Tests for the Lambda layers built by ``layers/build.py``.

The point: local tests and Lambda run the same rasterio/GDAL, and the layers load on the python3.13 runtime.
The built-layer tests run a separate, isolated CPython 3.13 (``-I -S -B``: no site-packages, no PYTHON* env
vars, no .pyc written into the layers) whose ``sys.path`` holds only the standard library and the layers, the
way Lambda sees ``/opt/python``, with ``LD_LIBRARY_PATH`` set to the gdal layer's ``lib/`` (Lambda's
``/opt/lib``). boto3/botocore, which the
Lambda runtime provides, come from the dev venv and are appended after the layers.

Those tests are skipped unless the layers are built (``.venv/bin/python layers/build.py``); set
``TESSERA_LAYER_DIR`` to test layers built elsewhere (default ``layers/build``). The size-check and
requirements tests at the end run without a build.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_PY = REPO_ROOT / "layers" / "build.py"
#: Same CPython as the dev venv's base and as the Lambda runtime (3.13).
LAMBDA_PYTHON = Path("/root/.pyenv/versions/3.13.0/bin/python3.13")
#: Modules the Lambda runtime provides (boto3 and its dependency closure); not shipped in any layer.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "six", "urllib3", "jmespath")
#: Shared libraries the AL2023 Lambda runtime provides (glibc, libstdc++, zlib). Anything else a layer's
#: ELF file needs must be shipped in a layer.
SYSTEM_LIBS = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "libutil.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libz.so.1",
    }
)
REQUIRED_DRIVERS = ("GTiff", "COG", "NITF", "JPEG", "PNG", "JP2OpenJPEG")


def _load_build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tessera_layers_build", BUILD_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


build = _load_build_module()


def _layer_dir() -> Path:
    path = Path(os.environ.get("TESSERA_LAYER_DIR", "layers/build"))
    return path if path.is_absolute() else REPO_ROOT / path


LAYER_DIR = _layer_dir()
LAYERS_BUILT = all((LAYER_DIR / name / "python").is_dir() for name in build.LAYER_NAMES)
requires_layers = pytest.mark.skipif(
    not LAYERS_BUILT,
    reason=f"layers not built in {LAYER_DIR}; run `python layers/build.py` or set TESSERA_LAYER_DIR",
)


def _lambda_python() -> str:
    """Return a CPython 3.13 outside any venv, or skip."""
    if LAMBDA_PYTHON.exists():
        return str(LAMBDA_PYTHON)
    if sys.version_info[:2] == (3, 13):
        return getattr(sys, "_base_executable", sys.executable)  # the base interpreter, not the venv's
    pytest.skip(f"no CPython 3.13 ({LAMBDA_PYTHON} missing and this is {sys.version.split()[0]})")


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a directory standing in for the runtime's boto3/botocore (symlinks into the dev venv)."""
    root = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            pytest.skip(f"{name} (provided by the Lambda runtime) is not installed in the test environment")
        origin = Path(spec.origin)
        src = origin.parent if origin.name == "__init__.py" else origin
        (root / src.name).symlink_to(src)
    return root


def run_in_layers(
    code: str, runtime: Path, layers: tuple[str, ...] = ("gdal", "powertools", "onnx"), *, code_dir: Path | None = None
) -> dict[str, Any]:
    """Run ``code`` in the isolated 3.13 interpreter on ``layers`` (and ``code_dir``, as Lambda's ``/var/task``);
    return the JSON it prints last."""
    prelude = "import json, sys\nsys.path[:0] = sys.argv[1:-1]\nsys.path.append(sys.argv[-1])\nout = {}\n"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LD_LIBRARY_PATH": str(LAYER_DIR / "gdal" / "lib"),
        "LD_BIND_NOW": "1",  # resolve every symbol at load time, so a too-old libexpat fails loudly
    }
    paths = [*([str(code_dir)] if code_dir else []), *(str(LAYER_DIR / name / "python") for name in layers)]
    args = [*paths, str(runtime)]
    proc = subprocess.run(
        [_lambda_python(), "-I", "-S", "-B", "-c", prelude + code + "\nprint(json.dumps(out))\n", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"layer interpreter failed:\n{proc.stdout}\n{proc.stderr}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


GDAL_PROBE = """
import numpy as np
import rasterio
import shapely
from rasterio.io import MemoryFile
from rasterio.rpc import RPC
from rasterio.transform import RPCTransformer, from_origin

mods = (np, rasterio, shapely)
out["files"] = {m.__name__: m.__file__ for m in mods}
out["versions"] = {
    "rasterio": rasterio.__version__,
    "gdal": rasterio.__gdal_version__,
    "numpy": np.__version__,
    "shapely": shapely.__version__,
    "geos": shapely.geos_version_string,
}
with rasterio.Env() as env:
    out["drivers"] = sorted(env.drivers())

data = np.arange(3 * 64 * 64, dtype="uint8").reshape(3, 64, 64)
profile = dict(
    driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs="EPSG:32633",
    transform=from_origin(500000, 4000000, 10, 10),
    tiled=True, blockxsize=32, blockysize=32, compress="deflate",
)
with MemoryFile() as mem:
    with mem.open(**profile) as dst:
        dst.write(data)
    with mem.open() as src:
        out["gtiff"] = {
            "driver": src.driver, "equal": bool((src.read() == data).all()), "epsg": src.crs.to_epsg(),
            "compression": src.compression.name.lower() if src.compression else None,
        }

den = [1.0] + [0.0] * 19
rpc = RPC(
    height_off=0, height_scale=1, lat_off=45, lat_scale=0.5, long_off=10, long_scale=0.5,
    line_off=512, line_scale=512, samp_off=512, samp_scale=512,
    line_num_coeff=[0.0, 0.0, -1.0] + [0.0] * 17, line_den_coeff=den,
    samp_num_coeff=[0.0, 1.0] + [0.0] * 18, samp_den_coeff=den,
)
with RPCTransformer(rpc) as tr:
    lon, lat = tr.xy(512, 512, zs=0)  # centre of pixel (512, 512)
    row, col = tr.rowcol(10.25, 44.75, zs=0, op=float)
out["rpc"] = {"lonlat": [float(lon), float(lat)], "rowcol": [float(row), float(col)]}

out["expat_maps"] = sorted({ln.split()[-1] for ln in open("/proc/self/maps") if "libexpat" in ln})
"""

POWERTOOLS_PROBE = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, parse
import aws_lambda_powertools, aws_xray_sdk, botocore, pydantic, pydantic_core

class Event(BaseModel):
    tile: int
    key: str

ev = parse(event={"tile": "7", "key": "a/b.ntf"}, model=Event)
out["parsed"] = ev.model_dump()
tracer = Tracer(service="tessera-test")
out["tracer_provider"] = type(tracer.provider).__name__
Logger(service="tessera-test")
Metrics(namespace="Tessera", service="tessera-test")
mods = (aws_lambda_powertools, aws_xray_sdk, botocore, pydantic, pydantic_core)
out["files"] = {m.__name__: m.__file__ for m in mods}
out["versions"] = {"pydantic": pydantic.VERSION, "pydantic_core": pydantic_core.__version__}
"""


@pytest.fixture(scope="module")
def gdal_probe(runtime_dir: Path) -> dict[str, Any]:
    """Run GDAL_PROBE once in the isolated layer interpreter."""
    return run_in_layers(GDAL_PROBE, runtime_dir)


@pytest.fixture(scope="module")
def powertools_probe(runtime_dir: Path) -> dict[str, Any]:
    """Run POWERTOOLS_PROBE once in the isolated layer interpreter."""
    return run_in_layers(POWERTOOLS_PROBE, runtime_dir)


def _is_under(path: str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


# -------------------------------------------------------------------------------- built layers (a)-(d)


@requires_layers
def test_gdal_layer_imports_and_writes_gtiff(gdal_probe: dict[str, Any]) -> None:
    """(a) rasterio/numpy/shapely load from the layer; a tiled GTiff round-trips through a MemoryFile."""
    for name, path in gdal_probe["files"].items():
        assert _is_under(path, LAYER_DIR / "gdal" / "python"), f"{name} imported from {path}, not the layer"
    assert gdal_probe["gtiff"] == {"driver": "GTiff", "equal": True, "epsg": 32633, "compression": "deflate"}


@requires_layers
def test_gdal_layer_drivers_and_rpc(gdal_probe: dict[str, Any]) -> None:
    """(a) the drivers the pipeline needs are there, and RPCTransformer works (pixel <-> lon/lat)."""
    missing = [d for d in REQUIRED_DRIVERS if d not in gdal_probe["drivers"]]
    assert not missing, f"GDAL drivers missing from the layer: {missing}"
    assert gdal_probe["rpc"]["lonlat"] == pytest.approx([10.0, 45.0], abs=1e-6)
    # GDAL puts RPC line/sample integers at pixel centres, hence the .5
    assert gdal_probe["rpc"]["rowcol"] == pytest.approx([768.5, 768.5], abs=1e-3)


@requires_layers
def test_gdal_layer_matches_dev_venv(gdal_probe: dict[str, Any]) -> None:
    """(a) the layer's rasterio/GDAL/numpy/shapely are the versions local tests run against."""
    rasterio = pytest.importorskip("rasterio")
    numpy = pytest.importorskip("numpy")
    shapely = pytest.importorskip("shapely")
    local = {
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "numpy": numpy.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
    }
    assert gdal_probe["versions"] == local


@requires_layers
def test_powertools_layer_imports(powertools_probe: dict[str, Any]) -> None:
    """(b) Logger/Tracer/Metrics and the pydantic parser load from the layer; botocore from the runtime."""
    assert powertools_probe["parsed"] == {"tile": 7, "key": "a/b.ntf"}
    assert powertools_probe["tracer_provider"] == "AsyncAWSXRayRecorder"
    files = powertools_probe["files"]
    for name in ("aws_lambda_powertools", "aws_xray_sdk", "pydantic", "pydantic_core"):
        assert _is_under(files[name], LAYER_DIR / "powertools" / "python"), f"{name} from {files[name]}"
    assert not _is_under(files["botocore"], LAYER_DIR), "botocore must not be bundled in a layer"
    pydantic = pytest.importorskip("pydantic")
    assert powertools_probe["versions"]["pydantic"] == pydantic.VERSION


ONNX_PROBE = """
import numpy as np
import onnxruntime

session = onnxruntime.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
image = np.zeros((1, 3, 64, 64), dtype=np.float32)
image[:, :, 40:50, 10:20] = 1.0
(output,) = session.run(None, {session.get_inputs()[0].name: image})
out["shape"] = list(output.shape)
out["hits"] = [[float(v) for v in output[0, :, i]] for i in np.nonzero(output[0, 4] > 0.5)[0]]
out["files"] = {m.__name__: m.__file__ for m in (np, onnxruntime)}
out["version"] = onnxruntime.__version__
out["modules"] = sorted(m for m in ("packaging", "google.protobuf", "flatbuffers", "sympy") if m in sys.modules)
"""


@requires_layers
def test_onnx_layer_runs_a_model(runtime_dir: Path, tmp_path: Path) -> None:
    """onnxruntime loads from the onnx layer (numpy from the gdal layer) and runs a model built here."""
    pytest.importorskip("onnx")
    from tests.unit.onnx_models import grid_detector

    model = grid_detector(tmp_path / "grid.onnx", size=64)
    probe = run_in_layers(f"MODEL = {str(model)!r}\n" + ONNX_PROBE, runtime_dir)
    assert probe["shape"] == [1, 5, 4]
    assert probe["hits"] == [[16.0, 48.0, 32.0, 32.0, 1.0]], "the bright patch is in the lower-left cell"
    assert _is_under(probe["files"]["onnxruntime"], LAYER_DIR / "onnx" / "python")
    assert _is_under(probe["files"]["numpy"], LAYER_DIR / "gdal" / "python"), "numpy must come from gdal"
    assert not (LAYER_DIR / "onnx" / "python" / "numpy").exists(), "the onnx layer duplicates numpy"
    assert probe["modules"] == [], "onnxruntime imported packages its layer does not ship"
    assert probe["version"] == importlib.metadata.version("onnxruntime")


PARQUET_PROBE = """
import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import shapely
from tessera.sinks.parquet import GeoParquetSink


class Client:
    \"\"\"Keeps what S3 would store: one PUT or a multipart upload.\"\"\"

    def __init__(self):
        self.objects, self.parts, self.calls = {}, {}, []

    def put_object(self, Bucket, Key, Body, ContentType):
        self.calls.append("put_object")
        self.objects[Key] = Body

    def create_multipart_upload(self, Bucket, Key, ContentType):
        self.calls.append("create_multipart_upload")
        return {"UploadId": "u"}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body):
        self.parts[PartNumber] = Body
        return {"ETag": str(PartNumber)}

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        self.calls.append("complete_multipart_upload")
        self.objects[Key] = b"".join(self.parts[p["PartNumber"]] for p in MultipartUpload["Parts"])


features = [
    {
        "type": "Feature",
        "id": f"job:{i}",
        "geometry": {"type": "Polygon", "coordinates": [[[i, 1], [i + 1, 1], [i + 1, 2], [i, 2], [i, 1]]]},
        "properties": {"featureClasses": [{"iri": "ship", "score": 0.5}], "imageBBox": [0, 0, 4, 4]},
    }
    for i in range(3000)
]
client = Client()
out["location"] = GeoParquetSink(client, "bucket", "p", part_bytes=8192, batch_rows=1000).write("job", features)
body = client.objects["p/job.parquet"]
table = pq.read_table(pa.BufferReader(body), use_threads=False)
geometries = shapely.from_wkb(np.asarray(table.column("geometry").to_pylist(), dtype=object))
out["rows"] = table.num_rows
out["row_groups"] = pq.ParquetFile(pa.BufferReader(body)).metadata.num_row_groups
out["geo"] = json.loads(table.schema.metadata[b"geo"])
out["bounds"] = shapely.total_bounds(geometries).tolist()
out["calls"] = client.calls
out["files"] = {m.__name__: m.__file__ for m in (np, pa, shapely)}
out["version"] = pa.__version__
out["not_imported"] = sorted(pyarrow.fs._not_imported)
out["modules"] = sorted(m for m in ("pyarrow.flight", "pyarrow._flight", "pyarrow._s3fs") if m in sys.modules)
"""


@requires_layers
def test_parquet_layer_writes_geoparquet_with_the_sink(runtime_dir: Path) -> None:
    """The aggregate function's layers run the GeoParquet sink: pyarrow from the parquet layer writes a
    multipart GeoParquet file that reads back; numpy and shapely come from the gdal layer."""
    layers = build.FUNCTION_LAYERS["Aggregate"]
    probe = run_in_layers(PARQUET_PROBE, runtime_dir, layers, code_dir=REPO_ROOT / "functions")
    assert probe["location"] == "s3://bucket/p/job.parquet"
    assert probe["calls"] == ["create_multipart_upload", "complete_multipart_upload"]
    assert (probe["rows"], probe["row_groups"]) == (3000, 3)
    assert probe["geo"]["version"] == "1.1.0" and probe["geo"]["primary_column"] == "geometry"
    assert probe["geo"]["columns"]["geometry"]["bbox"] == probe["bounds"] == [0.0, 1.0, 3000.0, 2.0]
    assert _is_under(probe["files"]["pyarrow"], LAYER_DIR / "parquet" / "python")
    for name in ("numpy", "shapely"):
        assert _is_under(probe["files"][name], LAYER_DIR / "gdal" / "python"), f"{name} must come from gdal"
    assert probe["version"] == importlib.metadata.version("pyarrow")
    assert "S3FileSystem" in probe["not_imported"], "the S3 filesystem should be pruned"
    assert probe["modules"] == []


TILES_PROBE = """
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

import pyproj
import rio_cogeo
import rio_tiler
from rio_tiler.io import ImageReader
from tessera.tiles.formats import ImageFormat
from tessera.tiles.grid import image_tile
from tessera.tiles.render import Style, render_window
from tessera.viewpoints.ingest import ingest
from tessera.viewpoints.models import RangeAdjustment

work = Path(tempfile.mkdtemp())
source = work / "source.tif"
pixels = (np.arange(300 * 400) % 50000).astype(np.uint16).reshape(1, 300, 400)
profile = {"driver": "GTiff", "width": 400, "height": 300, "count": 1, "dtype": "uint16",
           "crs": "EPSG:32618", "transform": from_origin(300000, 4500000, 1, 1)}
with rasterio.open(source, "w", **profile) as dst:
    dst.write(pixels)
result = ingest(str(source), work / "out", name="probe")
stats = result.documents["statistics"]["image_statistics"]
window, size = image_tile(400, 300, 256, 0, 1, 0)
style = Style(ImageFormat.PNG, RangeAdjustment.DRA, stats)
with ImageReader(str(result.cog)) as reader:
    png = render_window(reader, window, style, tile_size=(size, size))
out["png"] = png.body[:4].hex()
out["overviews"] = result.image["cog"]["overviews"]
out["max"] = stats["b1"]["max"]
out["files"] = {m.__name__: m.__file__ for m in (rio_tiler, rio_cogeo, pyproj, rasterio, np)}
"""


@requires_layers
def test_tiles_layer_ingests_and_renders_a_tile(runtime_dir: Path) -> None:
    """The tile server's layers write a COG with statistics and render a DRA-stretched PNG tile with rio-tiler;
    rio-tiler, rio-cogeo and pyproj come from the tiles layer, rasterio and numpy from gdal."""
    layers = build.FUNCTION_LAYERS["TileApi"]
    probe = run_in_layers(TILES_PROBE, runtime_dir, layers, code_dir=REPO_ROOT / "functions")
    assert probe["png"] == "89504e47" and probe["max"] == 49999
    for name in ("rio_tiler", "rio_cogeo", "pyproj"):
        assert _is_under(probe["files"][name], LAYER_DIR / "tiles" / "python"), f"{name} from {probe['files'][name]}"
    for name in ("rasterio", "numpy"):
        assert _is_under(probe["files"][name], LAYER_DIR / "gdal" / "python"), f"{name} must come from gdal"


#: What must not be left in the parquet layer (glob patterns under its python/).
PRUNED_FROM_PARQUET = (
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/tests",
    "**/*.pyx",
    "**/*.pxd",
    "**/*.pyi",
    "pyarrow/*flight*",
    "pyarrow/*s3*",
    "pyarrow/libarrow_python*.so",
)


@requires_layers
def test_parquet_layer_is_pruned() -> None:
    """Flight, the S3 filesystem, headers, Cython sources, tests and duplicate libraries are gone; nothing else
    from another layer is duplicated."""
    root = LAYER_DIR / "parquet" / "python"
    version = importlib.metadata.version("pyarrow")
    assert sorted(p.name for p in root.iterdir()) == ["pyarrow", f"pyarrow-{version}.dist-info"]
    assert [p.relative_to(root).as_posix() for pattern in PRUNED_FROM_PARQUET for p in root.glob(pattern)] == []
    assert (root / "pyarrow" / "libarrow_python.so.2600").is_file(), "the SONAME copy must stay"


@requires_layers
def test_no_layer_bundles_boto() -> None:
    """(b) boto3/botocore come from the Lambda runtime; bundling them wastes ~25 MB and can skew versions."""
    for layer in build.LAYER_NAMES:
        for name in ("boto3", "botocore", "s3transfer"):
            assert not (LAYER_DIR / layer / "python" / name).exists(), f"{layer} layer bundles {name}"


def _readelf(flag: str, path: Path) -> str:
    return subprocess.run(["readelf", flag, "--wide", str(path)], capture_output=True, text=True, check=True).stdout


@requires_layers
def test_libexpat_is_needed_and_provided(gdal_probe: dict[str, Any]) -> None:
    """(c) libgdal NEEDs libexpat.so.1; the layer ships a glibc<=2.34 one in lib/ and that one is loaded."""
    expat = LAYER_DIR / "gdal" / "lib" / "libexpat.so.1"
    assert expat.is_file(), f"{expat} missing"
    assert not expat.is_symlink(), f"{expat} is a symlink; the layer zip needs the real file"
    assert max(build.glibc_versions(expat)) <= build.MAX_GLIBC
    libgdal = sorted((LAYER_DIR / "gdal" / "python" / "rasterio.libs").glob("libgdal*.so*"))
    assert libgdal, "no libgdal in rasterio.libs"
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", _readelf("-d", libgdal[0]))
    assert "libexpat.so.1" in needed
    assert gdal_probe["expat_maps"] == [str(expat)], "libexpat was not loaded from the layer's lib/"


@requires_layers
def test_layer_elf_files_fit_al2023() -> None:
    """(c) every shared object needs glibc <= 2.34 and only libraries that the layers or runtime provide."""
    files = [p for name in build.LAYER_NAMES for p in build.shared_objects(LAYER_DIR / name)]
    provided = {p.name for p in files} | SYSTEM_LIBS
    too_new: dict[str, str] = {}
    unresolved: dict[str, list[str]] = {}
    for path in files:
        versions = build.glibc_versions(path)
        if versions and max(versions) > build.MAX_GLIBC:
            too_new[path.name] = build.fmt_version(max(versions))
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", _readelf("-d", path))
        if missing := [n for n in needed if n not in provided]:
            unresolved[path.name] = missing
    assert not too_new, f"need a glibc newer than AL2023's 2.34: {too_new}"
    assert not unresolved, f"libraries neither in a layer nor in the runtime: {unresolved}"


@requires_layers
def test_each_function_within_lambda_limit() -> None:
    """(d) each function's layers + the function code stay under Lambda's 250 MB unzipped limit, although all
    the layers together do not."""
    sizes = build.size_report(LAYER_DIR, build.DEFAULT_FUNCTIONS_DIR)
    totals = build.check_size_budget(sizes)
    assert set(totals) == set(build.FUNCTION_LAYERS)
    assert max(totals.values()) <= build.LAMBDA_UNZIPPED_LIMIT_BYTES
    assert totals["Aggregate"] == sum(sizes[n] for n in ("gdal", "powertools", "parquet", "functions"))


# -------------------------------------------------------------------------------- no build needed


def test_build_help() -> None:
    """The script runs and documents its options."""
    proc = subprocess.run(
        [sys.executable, str(BUILD_PY), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for opt in ("--out", "--python-version", "--platform", "--only", "--check-only"):
        assert opt in proc.stdout


def test_check_size_budget() -> None:
    """Each function counts only its own layers; the limit is inclusive; one byte over names the function."""
    limit = build.LAMBDA_UNZIPPED_LIMIT_BYTES
    table = {"Small": ("gdal",), "Big": ("gdal", "parquet")}
    assert build.check_size_budget({"gdal": limit - 10, "parquet": 0, "functions": 10}, table) == {
        "Small": limit,
        "Big": limit,
    }
    with pytest.raises(build.SizeLimitError, match=r"exceeds Lambda's limit .* for Big [\d.]+ MiB \(gdal") as err:
        build.check_size_budget({"gdal": limit - 10, "parquet": 1, "functions": 10}, table)
    assert "Small" not in str(err.value)


def test_function_layers_name_built_layers() -> None:
    """The table the size check and the CDK app share names only layers the script builds, each one used."""
    used = {name for names in build.FUNCTION_LAYERS.values() for name in names}
    assert used == set(build.LAYER_NAMES)
    assert [f for f, names in build.FUNCTION_LAYERS.items() if "parquet" in names] == ["Aggregate"]


@pytest.fixture
def fake_build(tmp_path: Path) -> tuple[Path, Path]:
    """Make an output dir with two empty layers, and a function dir."""
    out, functions = tmp_path / "out", tmp_path / "functions"
    for name in build.LAYER_NAMES:
        (out / name / "python").mkdir(parents=True)
    (functions / "tests").mkdir(parents=True)
    return out, functions


def _sparse(path: Path, mib: int) -> None:
    with path.open("wb") as f:
        f.truncate(mib * build.MIB)


def test_main_check_only_fails_over_limit(fake_build: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """``--check-only`` checks each function: layers the function does not attach don't count, nor do tests."""
    out, functions = fake_build
    _sparse(out / "gdal" / "python" / "big.so", 150)
    _sparse(out / "onnx" / "python" / "big.so", 60)
    _sparse(out / "parquet" / "python" / "big.so", 90)  # 300 MiB in all, but no function attaches every layer
    _sparse(functions / "tests" / "fixture.ntf", 100)  # excluded from the function size
    argv = ["--check-only", "--out", str(out), "--functions-dir", str(functions)]
    assert build.main(argv) == 0
    assert "Aggregate: gdal + powertools + parquet + code" in capsys.readouterr().out
    _sparse(functions / "handler.py", 11)
    assert build.main(argv) == 1
    captured = capsys.readouterr()
    assert "exceeds Lambda's limit" in captured.err
    assert "Aggregate 251.0 MiB" in captured.err and "LoadImage" not in captured.err
    assert re.search(r"Aggregate: gdal \+ powertools \+ parquet \+ code\s+251\.0\s+-1\.0", captured.out)


def test_stamp_cache(tmp_path: Path) -> None:
    """A layer is reused only when the stamp matches the requirements, Python version and platform."""
    target = build.Target("3.13", "x86_64")
    (tmp_path / "gdal" / "python").mkdir(parents=True)
    assert not build.is_up_to_date(tmp_path, "gdal", target)
    build.stamp_path(tmp_path, "gdal").parent.mkdir()
    build.stamp_path(tmp_path, "gdal").write_text(json.dumps(build.stamp_data("gdal", target)))
    assert not build.is_up_to_date(tmp_path, "gdal", target), "gdal without lib/libexpat.so.1 is incomplete"
    (tmp_path / "gdal" / "lib").mkdir()
    (tmp_path / "gdal" / "lib" / "libexpat.so.1").write_bytes(b"")
    assert build.is_up_to_date(tmp_path, "gdal", target)
    assert not build.is_up_to_date(tmp_path, "gdal", build.Target("3.12", "x86_64"))
    assert not build.is_up_to_date(tmp_path, "gdal", build.Target("3.13", "arm64"))


def _pins(layer: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO_ROOT / "layers" / layer / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name)] = version
    return pins


@pytest.mark.parametrize("layer", build.LAYER_NAMES)
def test_layer_pins_match_dev_venv(layer: str) -> None:
    """Every layer pin equals the version installed in the environment running the tests."""
    mismatched = {}
    for name, version in _pins(layer).items():
        try:
            local = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            local = "not installed"
        if local != version:
            mismatched[name] = f"layer {version} != local {local}"
    assert not mismatched, f"{layer}/requirements.txt drifted from the dev venv: {mismatched}"
