"""GDAL configuration for reading large images from S3.

The options are the tuned set from TiTiler's and OSML's deployments: no directory listing on open, larger
first reads, merged consecutive ranges, a block cache. Endpoint options (``AWS_S3_ENDPOINT``,
``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``) are *not* set here: GDAL reads them from the environment, so the
same code reads from AWS or from a local emulator.
"""

from __future__ import annotations

GDAL_S3_OPTIONS: dict[str, str | int | bool] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": (
        ".tif,.tiff,.TIF,.TIFF,.ntf,.nitf,.NTF,.jp2,.png,.jpg,.jpeg,.vrt,.ovr,.RPB,.xml"
    ),
    "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": 2,
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": 10_000_000,
    "CPL_VSIL_CURL_CHUNK_SIZE": 1_048_576,
    "GDAL_CACHEMAX": 256,
    "GDAL_NUM_THREADS": 1,
}
