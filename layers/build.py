"""Build Tessera's Lambda layers from manylinux wheels, without Docker.

Layers (one directory each under ``--out``, laid out the way Lambda mounts them under ``/opt``):

* ``gdal``: rasterio (with its bundled GDAL), numpy and shapely in ``python/``, plus ``lib/libexpat.so.1``.
  The rasterio wheel's libgdal needs ``libexpat.so.1`` but does not bundle it, and the AL2023 python3.12+
  runtime lacks it. Lambda puts ``/opt/lib`` on ``LD_LIBRARY_PATH``, so shipping it in ``lib/`` fixes the
  import.
* ``powertools``: aws-lambda-powertools with the parser (pydantic) and tracer (aws-xray-sdk) extras.
  boto3/botocore are not bundled; the runtime provides them.
* ``onnx``: onnxruntime alone (the ``onnx`` built-in model); numpy comes from the gdal layer. Only the
  region and load functions attach it. Its tools, transformers, quantization, datasets and backend
  packages (offline tooling that imports onnx, sympy, packaging...) are pruned.
* ``parquet``: pyarrow alone (the GeoParquet output); numpy and shapely come from the gdal layer. Only the
  aggregate function attaches it. What ``pyarrow.parquet.write_table`` does not use is pruned: Flight, the
  S3 filesystem (a library of its own), the GCS/Azure/HDFS filesystem modules, Substrait's Python module, the
  C++ headers and sources, Cython sources, the tests, and the duplicate copies of libarrow_python under its
  linker names (wheels cannot hold symlinks; only the SONAME copy is loaded). The libraries that pyarrow's
  core module links (compute, acero, dataset, substrait, parquet) stay.

Each ``layers/NAME/requirements.txt`` pins the complete dependency closure, and it is installed with
``pip install --no-deps --only-binary=:all: --platform manylinux_2_28_<arch> --platform manylinux2014_<arch>``
for the target CPython version. The result is then pruned (bytecode caches, tests, type stubs, Cython
sources, numpy's f2py) and its shared objects are stripped, except ``numpy.libs``: stripping the
auditwheel-patched OpenBLAS there breaks ``import numpy``.

``libexpat.so.1`` comes from a Debian ``libexpat1`` package, fetched with ``apt-get download`` and unpacked
with ``dpkg-deb -x`` (no root, nothing installed on the host). Its highest required ``GLIBC_`` symbol version
must be <= 2.34 (AL2023). The host's apt sources are tried first; Debian 12's libexpat needs GLIBC_2.36
(``arc4random_buf``), so the build then falls back to Debian 11 (bullseye, glibc 2.31) through a private,
temporary apt configuration. ``--expat-lib`` supplies a file instead.

A layer is rebuilt only if its stamp (``OUT/.stamps/NAME.json``: requirements hash, Python version, platform,
recipe version) changed. The script ends with a size table of the unzipped layers and, per function, its
layers plus the function code (``functions/``, one asset shared by every function), and fails if any function
exceeds Lambda's 250 MB unzipped limit for a function and its layers. Which function attaches which layers is
declared once, in :data:`FUNCTION_LAYERS`; the CDK app attaches layers from that table.

Usage::

    .venv/bin/python layers/build.py [--out layers/build] [--python-version 3.13] [--platform x86_64|arm64]
                                     [--only gdal|powertools|onnx|parquet|tiles] [--check-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYERS_SRC = REPO_ROOT / "layers"
DEFAULT_OUT = LAYERS_SRC / "build"
DEFAULT_FUNCTIONS_DIR = REPO_ROOT / "functions"
LAYER_NAMES: tuple[str, ...] = ("gdal", "powertools", "onnx", "parquet", "tiles")
#: The layers each Lambda function attaches, by the function's construct id in the stack (the one place this
#: is declared: infra/constructs/layers.py reads it, and the size check below sums each row).
FUNCTION_LAYERS: dict[str, tuple[str, ...]] = {
    "LoadImage": ("gdal", "powertools", "onnx"),  # checks an onnx model at load
    "ProcessRegion": ("gdal", "powertools", "onnx"),  # runs the models
    "Aggregate": ("gdal", "powertools", "parquet"),  # writes the outputs, GeoParquet included
    "RecordFailure": ("gdal", "powertools"),
    "IngestViewpoint": ("gdal", "powertools", "tiles"),  # the tile server: COG, statistics
    "RecordViewpointFailure": ("gdal", "powertools", "tiles"),
    "TileApi": ("gdal", "powertools", "tiles"),  # rio-tiler reads
}

#: Lambda's limit on the unzipped size of a function plus all its layers ("250 MB" = 262,144,000 bytes).
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
#: glibc of the Lambda python3.12+ runtimes (Amazon Linux 2023).
MAX_GLIBC: tuple[int, ...] = (2, 34)
#: Bump when the install/prune recipe changes, so cached layers get rebuilt.
RECIPE_VERSION = 2

PIP_PLATFORMS: dict[str, tuple[str, ...]] = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}
DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64"}

#: Fallback apt source for libexpat1 (Debian 11 is built against glibc 2.31). The signing keys ship in
#: Debian's debian-archive-keyring package.
BULLSEYE_SOURCES = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian bullseye main\n"
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian-security bullseye-security main\n"
)

#: Directories removed wherever they occur in a layer's python/ tree.
PRUNE_DIR_NAMES = frozenset({"__pycache__", "tests"})
#: Paths (relative to python/, glob patterns) removed if present.
PRUNE_PATHS = (
    "numpy/f2py",
    "numpy/_pyinstaller",
    "numpy/_core/include",
    "numpy/_core/lib",
    # onnxruntime's offline tooling: not imported by ``import onnxruntime`` or an InferenceSession
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/datasets",
    "onnxruntime/backend",
    "bin/onnxruntime_test",
    # pyarrow: C++ headers and sources, Cython declarations, its C++ test module
    "pyarrow/include",
    "pyarrow/includes",
    "pyarrow/src",
    "pyarrow/_pyarrow_cpp_tests.*",
    # pyarrow Flight (RPC), the S3 filesystem (its own library) and the GCS/Azure/HDFS filesystem modules:
    # ``pyarrow.fs`` imports them only if present; writing Parquet to a Python file object uses none of them
    "pyarrow/flight.py",
    "pyarrow/_flight.*",
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_s3fs.*",
    "pyarrow/libarrow_s3.so*",
    "pyarrow/_gcsfs.*",
    "pyarrow/_azurefs.*",
    "pyarrow/_hdfs.*",
    # Substrait's Python module (libarrow_substrait stays: pyarrow's core module links it)
    "pyarrow/substrait.py",
    "pyarrow/_substrait.*",
    # copies of libarrow_python* under linker names; the loader uses the SONAME (``.so.2600``) copy only
    "pyarrow/libarrow_python*.so",
    "pyarrow/libarrow_python*.so.*.*.*",
)
#: File suffixes removed: type stubs and Cython sources/headers.
PRUNE_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi")
#: dist-info files dropped; METADATA, licences and entry points are kept (they are small).
PRUNE_DIST_INFO_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
#: Top-level directories whose shared objects must not be stripped.
NO_STRIP_DIRS = frozenset({"numpy.libs"})

MIB = 1024 * 1024


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


class SizeLimitError(BuildError):
    """Function code plus layers exceed Lambda's unzipped size limit."""


@dataclass(frozen=True)
class Target:
    """What a layer is built for."""

    python_version: str
    platform: str  # "x86_64" or "arm64"

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        """The pip ``--platform`` tags for this architecture, newest first."""
        return PIP_PLATFORMS[self.platform]


@dataclass
class LayerResult:
    """Outcome of building (or reusing) one layer."""

    name: str
    path: Path
    rebuilt: bool
    pruned: dict[str, int]


def log(msg: str) -> None:
    """Print a progress line (flushed, so it interleaves correctly with subprocess output)."""
    print(msg, flush=True)


def run(
    cmd: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output; raise BuildError with its output if it fails."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        raise BuildError(f"command failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n{out}")
    return proc


# ---------------------------------------------------------------------------------------------- sizes


def dir_size(path: Path, exclude_dirs: Iterable[str] = ()) -> int:
    """Total size in bytes of the regular files under ``path`` (symlinks not followed, not counted).

    Directories named in ``exclude_dirs`` are skipped at any depth. A missing path has size 0.
    """
    if not path.exists():
        return 0
    excluded = frozenset(exclude_dirs)
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in excluded]
        for f in files:
            st = os.lstat(os.path.join(root, f))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def function_sizes(
    sizes: dict[str, int], function_layers: dict[str, tuple[str, ...]] = FUNCTION_LAYERS
) -> dict[str, int]:
    """Each function's unzipped size: its layers (from ``function_layers``) plus the function code.

    Example:
        >>> function_sizes({"gdal": 100, "onnx": 60, "functions": 1}, {"A": ("gdal", "onnx"), "B": ("gdal",)})
        {'A': 161, 'B': 101}
    """
    return {
        function: sum(sizes.get(layer, 0) for layer in layers) + sizes.get("functions", 0)
        for function, layers in function_layers.items()
    }


def check_size_budget(
    sizes: dict[str, int],
    function_layers: dict[str, tuple[str, ...]] = FUNCTION_LAYERS,
    limit: int = LAMBDA_UNZIPPED_LIMIT_BYTES,
) -> dict[str, int]:
    """Return each function's unzipped size; raise SizeLimitError naming every function over ``limit`` bytes."""
    totals = function_sizes(sizes, function_layers)
    over = []
    for function, names in function_layers.items():
        if totals[function] > limit:
            parts = " + ".join(f"{name} {sizes.get(name, 0) / MIB:.1f}" for name in (*names, "functions"))
            over.append(f"{function} {totals[function] / MIB:.1f} MiB ({parts})")
    if over:
        raise SizeLimitError(
            f"unzipped function code + layers exceeds Lambda's limit of {limit / MIB:.0f} MiB for "
            f"{'; '.join(over)}. Prune more, move a layer to fewer functions, or split the function."
        )
    return totals


def size_report(out: Path, functions_dir: Path, layer_names: Iterable[str] = LAYER_NAMES) -> dict[str, int]:
    """Measure each built layer and the function code; return name -> bytes (table order)."""
    sizes = {name: dir_size(out / name) for name in layer_names}
    sizes["functions"] = dir_size(functions_dir, exclude_dirs={"__pycache__", "tests"})
    return sizes


def print_size_table(
    sizes: dict[str, int], functions_dir: Path, function_layers: dict[str, tuple[str, ...]] = FUNCTION_LAYERS
) -> None:
    """Print the unzipped sizes of the layers and the code, then each function's total against the limit."""
    log("")
    log(f"{'unzipped size':<50}{'MiB':>9}")
    for name, size in sizes.items():
        label = f"function code ({functions_dir.name}/)" if name == "functions" else f"layer {name}"
        note = "" if name != "functions" or functions_dir.exists() else "  (directory absent)"
        log(f"{label:<50}{size / MIB:>9.1f}{note}")
    log("")
    log(f"{'function: layers + code':<50}{'MiB':>9}{'headroom':>10}")
    for function, total in function_sizes(sizes, function_layers).items():
        label = f"{function}: {' + '.join(function_layers[function])} + code"
        log(f"{label:<50}{total / MIB:>9.1f}{(LAMBDA_UNZIPPED_LIMIT_BYTES - total) / MIB:>10.1f}")
    log(f"{'limit per function':<50}{LAMBDA_UNZIPPED_LIMIT_BYTES / MIB:>9.1f}")


# ---------------------------------------------------------------------------------------------- cache


def stamp_data(name: str, target: Target) -> dict[str, object]:
    """Describe a layer's build inputs; a layer is reused only if its stored stamp equals this."""
    req = (LAYERS_SRC / name / "requirements.txt").read_bytes()
    return {
        "layer": name,
        "requirements_sha256": hashlib.sha256(req).hexdigest(),
        "python_version": target.python_version,
        "platform": target.platform,
        "recipe_version": RECIPE_VERSION,
    }


def stamp_path(out: Path, name: str) -> Path:
    """Stamp files live outside the layer directories so they are not shipped in the layer."""
    return out / ".stamps" / f"{name}.json"


def is_up_to_date(out: Path, name: str, target: Target) -> bool:
    """Tell whether ``out/name`` exists and was built from the same inputs."""
    layer = out / name
    sp = stamp_path(out, name)
    if not (layer / "python").is_dir() or not sp.is_file():
        return False
    if name == "gdal" and not (layer / "lib" / "libexpat.so.1").is_file():
        return False
    try:
        stored = json.loads(sp.read_text())
    except (OSError, ValueError):
        return False
    return bool(stored == stamp_data(name, target))


# ---------------------------------------------------------------------------------------------- install


def pip_install(requirements: Path, target_dir: Path, target: Target) -> None:
    """Install the pinned requirements for the Lambda platform into ``target_dir``."""
    cmd: list[str | os.PathLike[str]] = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
    ]
    cmd += ["--no-deps", "--only-binary=:all:", "--implementation", "cp"]
    cmd += ["--python-version", target.python_version, "--no-compile", "--target", target_dir]
    for plat in target.pip_platforms:
        cmd += ["--platform", plat]
    cmd += ["-r", requirements]
    run(cmd)


# ---------------------------------------------------------------------------------------------- prune


def _walk_dirs_named(root: Path, names: frozenset[str]) -> Iterator[Path]:
    for dirpath, dirs, _files in os.walk(root):
        for d in list(dirs):
            if d in names:
                dirs.remove(d)
                yield Path(dirpath) / d


def _remove(path: Path) -> int:
    size = dir_size(path) if path.is_dir() else path.lstat().st_size
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


def shared_objects(root: Path, skip_top: frozenset[str] = frozenset()) -> list[Path]:
    """List shared objects (``*.so``, ``*.so.N``) under ``root``, skipping top-level dirs in ``skip_top``."""
    found: list[Path] = []
    for p in sorted(root.rglob("*.so*")):
        rel = p.relative_to(root)
        if rel.parts[0] in skip_top or p.is_symlink() or not p.is_file():
            continue
        if p.name.endswith(".so") or ".so." in p.name:
            found.append(p)
    return found


def strip_shared_objects(files: Sequence[Path]) -> list[str]:
    """Run ``strip --strip-unneeded`` on each file; return warnings for files strip could not handle."""
    warnings: list[str] = []
    for i in range(0, len(files), 64):
        batch = files[i : i + 64]
        proc = subprocess.run(
            ["strip", "--strip-unneeded", *map(str, batch)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            warnings.append(proc.stderr.strip())
    return warnings


def prune(python_dir: Path) -> dict[str, int]:
    """Prune an installed ``python/`` tree in place; return bytes removed per category."""
    removed: dict[str, int] = {}

    def add(key: str, n: int) -> None:
        removed[key] = removed.get(key, 0) + n

    for d in _walk_dirs_named(python_dir, PRUNE_DIR_NAMES):
        add(d.name, _remove(d))
    for pattern in PRUNE_PATHS:
        for path in sorted(python_dir.glob(pattern)):
            add(pattern, _remove(path))
    for p in sorted(python_dir.rglob("*")):
        if p.is_file() and p.suffix in PRUNE_SUFFIXES:
            add("*" + "/*".join(PRUNE_SUFFIXES), _remove(p))
    for info in python_dir.glob("*.dist-info"):
        for f in info.iterdir():
            if f.name in PRUNE_DIST_INFO_FILES:
                add("dist-info RECORD etc.", _remove(f))

    sos = shared_objects(python_dir, skip_top=NO_STRIP_DIRS)
    before = sum(p.stat().st_size for p in sos)
    for w in strip_shared_objects(sos):
        log(f"  warning: strip: {w}")
    add(f"strip {len(sos)} .so files", before - sum(p.stat().st_size for p in sos))
    return removed


# ---------------------------------------------------------------------------------------------- libexpat


def glibc_versions(lib: Path) -> list[tuple[int, ...]]:
    """Return the GLIBC_x.y symbol versions ``lib`` requires (``objdump -T``; ``readelf -V`` as fallback)."""
    text = ""
    for cmd in (["objdump", "-T", str(lib)], ["readelf", "-V", "--wide", str(lib)]):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            continue
        if proc.returncode == 0:
            text = proc.stdout
            break
    else:
        raise BuildError(f"cannot read symbol versions of {lib}: neither objdump -T nor readelf -V worked")
    found = {tuple(int(x) for x in m.split(".")) for m in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", text)}
    return sorted(found)


def fmt_version(v: Sequence[int]) -> str:
    """Format a version tuple as ``2.34``."""
    return ".".join(map(str, v))


def _extract_expat(deb: Path, workdir: Path) -> tuple[Path, Path | None]:
    """Unpack ``deb``; return the real libexpat.so.1 file (symlink resolved) and its copyright file."""
    root = workdir / "x"
    run(["dpkg-deb", "-x", deb, root])
    links = sorted(root.glob("**/libexpat.so.1"))
    if not links:
        raise BuildError(f"{deb.name} contains no libexpat.so.1")
    real = links[0].resolve()
    if not real.is_file() or root.resolve() not in real.parents:
        raise BuildError(f"libexpat.so.1 in {deb.name} points outside the package: {real}")
    copyright_files = sorted(root.glob("usr/share/doc/libexpat1/copyright"))
    return real, (copyright_files[0] if copyright_files else None)


def _apt_download(pkg: str, workdir: Path, apt_opts: Sequence[str], update_first: bool) -> Path:
    """``apt-get download pkg`` into ``workdir``; run ``apt-get update`` first or on failure."""
    if shutil.which("apt-get") is None:
        raise BuildError("apt-get not found (not a Debian-like host); pass --expat-lib PATH instead")

    def download() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", *apt_opts, "download", pkg], cwd=workdir, capture_output=True, text=True, check=False
        )

    if update_first:
        run(["apt-get", *apt_opts, "update"])
    proc = download()
    if proc.returncode != 0 and not update_first:
        run(["apt-get", *apt_opts, "update"])
        proc = download()
    if proc.returncode != 0:
        raise BuildError(f"apt-get download {pkg} failed:\n{(proc.stdout + proc.stderr).strip()}")
    debs = sorted(workdir.glob("*.deb"))
    if not debs:
        raise BuildError(f"apt-get download {pkg} produced no .deb in {workdir}")
    return debs[0]


def _private_apt_opts(root: Path, sources: str, arch: str) -> list[str]:
    """Return apt options for a throwaway configuration under ``root`` (no change to the host's apt state)."""
    for d in ("lists/partial", "cache/archives/partial"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "sources.list").write_text(sources)
    opts = [
        f"Dir::Etc::SourceList={root / 'sources.list'}",
        "Dir::Etc::SourceParts=-",
        f"Dir::State::Lists={root / 'lists'}",
        f"Dir::Cache={root / 'cache'}",
        "Dir::State::status=/dev/null",
        f"APT::Architectures::={arch}",
    ]
    if os.geteuid() == 0:  # as root apt drops to the _apt user, which cannot write our temp dir
        opts.append("APT::Sandbox::User=root")
    return [x for o in opts for x in ("-o", o)]


@dataclass(frozen=True)
class ExpatCandidate:
    """A libexpat.so.1 found somewhere, with where it came from."""

    path: Path
    origin: str
    copyright: Path | None = None


def _expat_candidates(target: Target, tmp: Path) -> Iterator[ExpatCandidate]:
    """Yield libexpat builds to try, host apt first, then Debian 11 through a private apt config."""
    arch = DEB_ARCH[target.platform]
    pkg = "libexpat1" if arch == "amd64" else f"libexpat1:{arch}"
    sources: list[tuple[str, list[str], bool]] = [("host apt sources", [], False)]
    if os.geteuid() == 0:
        sources[0][1].extend(["-o", "APT::Sandbox::User=root"])
    sources.append(
        ("Debian 11 (bullseye)", _private_apt_opts(tmp / "apt-bullseye", BULLSEYE_SOURCES, arch), True)
    )
    for i, (label, opts, update_first) in enumerate(sources):
        work = tmp / f"expat{i}"
        work.mkdir()
        try:
            deb = _apt_download(pkg, work, opts, update_first)
            real, copyright_file = _extract_expat(deb, work)
        except BuildError as exc:
            log(f"  libexpat from {label}: unavailable ({str(exc).splitlines()[0]})")
            continue
        version = run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip()
        yield ExpatCandidate(real, f"{label}: {deb.name.split('_')[0]} {version}", copyright_file)


def install_libexpat(lib_dir: Path, target: Target, expat_lib: Path | None) -> str:
    """Put a glibc<=2.34-compatible ``libexpat.so.1`` into ``lib_dir``; return a description of it."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    rejected: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tessera-expat-") as tmpname:
        tmp = Path(tmpname)
        cands: Iterable[ExpatCandidate]
        if expat_lib is not None:
            cands = [ExpatCandidate(expat_lib.resolve(), f"--expat-lib {expat_lib}")]
        else:
            cands = _expat_candidates(target, tmp)
        for cand in cands:
            versions = glibc_versions(cand.path)
            highest = versions[-1] if versions else (0,)
            if highest > MAX_GLIBC:
                msg = f"{cand.origin} needs GLIBC_{fmt_version(highest)} > {fmt_version(MAX_GLIBC)}"
                log(f"  libexpat rejected: {msg}")
                rejected.append(msg)
                continue
            shutil.copyfile(cand.path, lib_dir / "libexpat.so.1")
            (lib_dir / "libexpat.so.1").chmod(0o755)
            if cand.copyright is not None:
                licences = lib_dir.parent / "licenses"
                licences.mkdir(exist_ok=True)
                shutil.copyfile(cand.copyright, licences / "libexpat1.copyright")
            return f"{cand.origin} (highest GLIBC_{fmt_version(highest)})"
    detail = "; ".join(rejected) or "no candidate could be downloaded"
    raise BuildError(
        f"no libexpat.so.1 compatible with the Lambda runtime (glibc {fmt_version(MAX_GLIBC)}) was found: "
        f"{detail}. Provide one with --expat-lib PATH."
    )


# ---------------------------------------------------------------------------------------------- layers


def build_layer(name: str, out: Path, target: Target, expat_lib: Path | None = None) -> LayerResult:
    """Build ``out/name`` (unless its stamp says it is up to date) and return what was done."""
    layer = out / name
    if is_up_to_date(out, name, target):
        log(f"[{name}] up to date ({layer})")
        return LayerResult(name, layer, rebuilt=False, pruned={})

    t0 = time.monotonic()
    stamp_path(out, name).unlink(missing_ok=True)
    staging = out / f".staging-{name}"
    if staging.exists():
        shutil.rmtree(staging)
    python_dir = staging / "python"
    python_dir.mkdir(parents=True)

    requirements = LAYERS_SRC / name / "requirements.txt"
    log(
        f"[{name}] pip install -r {requirements.relative_to(REPO_ROOT)} for cp{target.python_version} "
        f"{'/'.join(target.pip_platforms)}"
    )
    pip_install(requirements, python_dir, target)
    installed = dir_size(python_dir)
    pruned = prune(python_dir)
    log(f"[{name}] installed {installed / MIB:.1f} MiB, pruned {sum(pruned.values()) / MIB:.1f} MiB:")
    for key, n in sorted(pruned.items(), key=lambda kv: -kv[1]):
        log(f"  {key:<40}{n / MIB:>8.2f} MiB")

    if name == "gdal":
        log(f"[{name}] libexpat.so.1 -> lib/")
        log(f"  using {install_libexpat(staging / 'lib', target, expat_lib)}")

    if layer.exists():
        shutil.rmtree(layer)
    staging.rename(layer)
    stamp_path(out, name).parent.mkdir(parents=True, exist_ok=True)
    stamp_path(out, name).write_text(json.dumps(stamp_data(name, target), indent=2) + "\n")
    log(f"[{name}] built in {time.monotonic() - t0:.1f} s -> {layer}")
    return LayerResult(name, layer, rebuilt=True, pruned=pruned)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="layers/build.py",
        description="Build the Tessera Lambda layers (gdal, powertools, onnx, parquet) from manylinux wheels.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory (default: layers/build)"
    )
    parser.add_argument(
        "--python-version", default="3.13", help="Lambda runtime Python version (default: 3.13)"
    )
    parser.add_argument(
        "--platform",
        choices=sorted(PIP_PLATFORMS),
        default="x86_64",
        help="Lambda architecture (default: x86_64)",
    )
    parser.add_argument("--only", choices=LAYER_NAMES, help="build only this layer")
    parser.add_argument(
        "--expat-lib",
        type=Path,
        help="use this libexpat.so.1 instead of downloading one (still GLIBC-checked)",
    )
    parser.add_argument(
        "--functions-dir",
        type=Path,
        default=DEFAULT_FUNCTIONS_DIR,
        help="function code counted in the size total",
    )
    parser.add_argument(
        "--check-only", action="store_true", help="build nothing; only report and check sizes"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the layers, print sizes; return 0, or 1 on a build failure or an exceeded size limit."""
    args = parse_args(argv)
    out: Path = args.out.resolve()
    target = Target(args.python_version, args.platform)
    names = (args.only,) if args.only else LAYER_NAMES
    t0 = time.monotonic()
    try:
        if not args.check_only:
            out.mkdir(parents=True, exist_ok=True)
            pip_version = run([sys.executable, "-m", "pip", "--version"]).stdout.split()[1]
            log(f"pip {pip_version}, target CPython {target.python_version} {target.platform}, out {out}")
            results = [build_layer(name, out, target, args.expat_lib) for name in names]
            pruned_total = sum(sum(r.pruned.values()) for r in results)
            if any(r.rebuilt for r in results):
                log(
                    f"pruned in total: {pruned_total / MIB:.1f} MiB; build time {time.monotonic() - t0:.1f} s"
                )
        sizes = size_report(out, args.functions_dir, LAYER_NAMES)
        print_size_table(sizes, args.functions_dir)
        check_size_budget(sizes)
    except BuildError as exc:
        print(f"\nERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
