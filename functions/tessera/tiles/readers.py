"""Open COGs once per warm Lambda (and per thread locally), through rio-tiler, inside a tuned GDAL environment.

A tile request then costs the reads of its blocks only: no reopen, no header fetch. Entries are keyed
by the viewpoint's version, so a re-ingested image is never read from a stale handle.

The cached readers are rio-tiler's ``ImageReader``: they read the file in its own pixel grid. (rio-tiler's
``Reader`` would wrap an image with GCPs in a WarpedVRT, so its "pixels" would no longer be the image's.)
Map tiles warp from the same handle (:func:`tessera.tiles.render.render_map_tile`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import rasterio
from rasterio.errors import RasterioIOError
from rio_tiler.io import ImageReader

from tessera.errors import ImageReadError
from tessera.imagery.gdal_env import GDAL_S3_OPTIONS

#: A viewpoint's COG has no sidecars: skip the directory listing on open.
TILE_GDAL_OPTIONS = {**GDAL_S3_OPTIONS, "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": 3}
#: Open readers kept per thread.
CACHE_SIZE = 16

_local = threading.local()


def _cache() -> OrderedDict[tuple[str, int], ImageReader]:
    if not hasattr(_local, "readers"):
        _local.readers = OrderedDict()
    return _local.readers  # type: ignore[no-any-return]


def gdal_env() -> rasterio.Env:
    """The GDAL environment every read runs in."""
    return rasterio.Env(**TILE_GDAL_OPTIONS)


@contextmanager
def open_reader(path: str, version: int) -> Iterator[ImageReader]:
    """A rio-tiler ImageReader of ``path`` (cached), used inside the tuned GDAL environment.

    Raises:
        ImageReadError: when the COG cannot be opened.
    """
    cache = _cache()
    with gdal_env():
        reader = cache.get((path, version))
        if reader is None:
            try:
                reader = ImageReader(path)
            except RasterioIOError as err:
                raise ImageReadError(f"cannot open {path}: {err}") from None
            cache[(path, version)] = reader
            while len(cache) > CACHE_SIZE:
                _, old = cache.popitem(last=False)
                old.close()
        else:
            cache.move_to_end((path, version))
        yield reader


def clear() -> None:
    """Close this thread's cached readers."""
    cache = _cache()
    while cache:
        cache.popitem()[1].close()
