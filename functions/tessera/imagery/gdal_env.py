"""GDAL configuration for reading large images from S3.

The options are the tuned set from TiTiler's and OSML's deployments: larger first reads, merged
consecutive ranges, a block cache. Directory listing on open stays on and file names are not filtered by
extension, so sidecars (``.RPB``, ``.aux.xml``, ``.msk``) are found and images of any name open.
Endpoint options (``AWS_S3_ENDPOINT``, ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``) are *not* set here: GDAL
reads them from the environment, so the same code reads from AWS or from a local emulator.
"""

from __future__ import annotations

GDAL_S3_OPTIONS: dict[str, str | int | bool] = {
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
