"""The GeoParquet sink: one GeoParquet 1.1 file per job at ``prefix/<jobId>.parquet``.

An S3 output asks for it with ``"format": "GEOPARQUET"``. Features are converted in batches of
:data:`BATCH_ROWS` (one Parquet row group each) and the file streams into a multipart upload
(:mod:`tessera.sinks.upload`), so a job with a million features never holds the whole file in memory.

Columns (one row per feature; the property names are OSML's):

=====================  ==========================  ==================================================
column                 type                        value
=====================  ==========================  ==================================================
``id``                 string                      the feature's id
``geometry``           binary (ISO WKB)            the WGS84 geometry; null when not geolocated
``bbox``               struct<xmin, ymin, xmax,    the geometry's bounds (GeoParquet 1.1 bbox covering)
                       ymax: double>
``featureClass``       string                      the best class's ``iri`` (null without classes)
``score``              double                      the best class's score
``featureClasses``     string (JSON)               ``featureClasses``
``center_longitude``   double                      ``center_longitude``
``center_latitude``    double                      ``center_latitude``
``imageGeometry``      string (JSON)               ``imageGeometry`` (image pixels)
``imageBBox``          string (JSON)               ``imageBBox`` (image pixels)
``inferenceMetadata``  string (JSON)               ``inferenceMetadata``
``properties``         string (JSON)               every other property, as one JSON object
=====================  ==========================  ==================================================

The file's ``geo`` metadata (GeoParquet 1.1.0) names ``geometry`` the primary column, encoded as WKB,
with the geometry types found and the bounding box of all geometries; it gives no ``crs``, which in
GeoParquet means OGC:CRS84 (longitude, latitude on WGS84), what the pipeline writes.

pyarrow is imported only when a file is written: only the aggregate function carries its layer.
"""

from __future__ import annotations

import contextlib
import json
import math
import posixpath
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely

from tessera.detections import feature_class
from tessera.errors import SinkError
from tessera.sinks.upload import PART_BYTES, S3Client, streaming_upload

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

GEOPARQUET_VERSION = "1.1.0"
CONTENT_TYPE = "application/vnd.apache.parquet"
#: Features per row group: about 50 MB of column data at ~1 KB a feature.
BATCH_ROWS = 50_000
#: Properties with a column of their own, in column order: JSON text, except :data:`FLOAT_PROPERTIES`.
#: Every other property goes into the ``properties`` column.
PROPERTY_COLUMNS = (
    "featureClasses",
    "center_longitude",
    "center_latitude",
    "imageGeometry",
    "imageBBox",
    "inferenceMetadata",
)
FLOAT_PROPERTIES = frozenset({"center_longitude", "center_latitude"})
BBOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")
#: GeoParquet's geometry type names by shapely type id (a LinearRing is written as a LineString).
GEOMETRY_TYPES = {
    0: "Point",
    1: "LineString",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def arrow_schema() -> pa.Schema:
    """The file's Arrow schema (without the ``geo`` metadata, which is known only at the end)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("geometry", pa.binary()),
            pa.field("bbox", pa.struct([pa.field(name, pa.float64()) for name in BBOX_FIELDS])),
            pa.field("featureClass", pa.string()),
            pa.field("score", pa.float64()),
            *(pa.field(name, pa.float64() if name in FLOAT_PROPERTIES else pa.string()) for name in PROPERTY_COLUMNS),
            pa.field("properties", pa.string()),
        ]
    )


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # one encoder: json.dumps makes one per call


def _json(value: Any) -> str | None:
    """Compact JSON text (no NaN: it is not JSON), or None for a missing value."""
    return None if value is None else _ENCODER.encode(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class GeometryStats:
    """The geometry types and bounding box of everything written, for the ``geo`` metadata."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.bounds = [math.inf, math.inf, -math.inf, -math.inf]

    def update(self, geometries: npt.NDArray[Any], bounds: npt.NDArray[np.float64]) -> None:
        """Take in one batch's geometries (None where there is none) and their bounds (NaN there)."""
        present = geometries[~shapely.is_missing(geometries)]
        kinds = zip(shapely.get_type_id(present).tolist(), shapely.has_z(present).tolist(), strict=True)
        self.types.update(GEOMETRY_TYPES[kind] + (" Z" if has_z else "") for kind, has_z in set(kinds))
        finite = bounds[np.isfinite(bounds).all(axis=1)]
        if len(finite):
            low, high = finite.min(axis=0), finite.max(axis=0)
            self.bounds = [
                min(self.bounds[0], float(low[0])),
                min(self.bounds[1], float(low[1])),
                max(self.bounds[2], float(high[2])),
                max(self.bounds[3], float(high[3])),
            ]

    def metadata(self) -> dict[str, Any]:
        """GeoParquet 1.1's ``geo`` file metadata for the ``geometry`` column (no ``crs``: OGC:CRS84)."""
        column: dict[str, Any] = {
            "encoding": "WKB",
            "geometry_types": sorted(self.types),
            "covering": {"bbox": {name: ["bbox", name] for name in BBOX_FIELDS}},
        }
        if math.isfinite(self.bounds[0]):
            column["bbox"] = self.bounds
        return {"version": GEOPARQUET_VERSION, "primary_column": "geometry", "columns": {"geometry": column}}


def _columns(features: Iterable[dict[str, Any]]) -> tuple[dict[str, list[Any]], list[str | None]]:
    """The batch's non-geometry columns, and each feature's geometry as GeoJSON text (None without one).

    Features are consumed one at a time, so only their column values are held, never the batch's dicts.
    """
    columns: dict[str, list[Any]] = {name: [] for name in ("id", "featureClass", "score", *PROPERTY_COLUMNS)}
    columns["properties"] = []
    geometries: list[str | None] = []
    for feature in features:
        properties = dict(feature.get("properties") or {})
        iri, score = feature_class(feature) if properties.get("featureClasses") else (None, None)
        columns["id"].append(None if feature.get("id") is None else str(feature["id"]))
        columns["featureClass"].append(iri)
        columns["score"].append(score)
        for name in PROPERTY_COLUMNS:
            value = properties.pop(name, None)
            columns[name].append(_float(value) if name in FLOAT_PROPERTIES else _json(value))
        columns["properties"].append(_json(properties))
        geometries.append(_json(feature.get("geometry")))
    return columns, geometries


def feature_table(features: Iterable[dict[str, Any]], stats: GeometryStats) -> pa.Table:
    """One batch of GeoJSON features as an Arrow table of :func:`arrow_schema`; ``stats`` takes in its geometries.

    Raises:
        ValueError: a property that is not JSON (NaN) or not a number where one is expected.
        shapely.errors.GEOSException: a geometry that is not valid GeoJSON.
    """
    import pyarrow as pa

    schema = arrow_schema()
    columns, texts = _columns(features)
    geometries = shapely.from_geojson(np.array(texts, dtype=object))
    bounds = shapely.bounds(geometries)
    stats.update(geometries, bounds)
    arrays = {name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}
    arrays["geometry"] = pa.array(shapely.to_wkb(geometries, flavor="iso"), type=pa.binary())
    arrays["bbox"] = pa.StructArray.from_arrays(
        [pa.array(bounds[:, i], from_pandas=True) for i in range(len(BBOX_FIELDS))],  # NaN (no geometry): null
        names=list(BBOX_FIELDS),
        mask=pa.array(shapely.is_missing(geometries)),
    )
    return pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)


class GeoParquetSink:
    """Writes a job's features to S3 as one GeoParquet 1.1 file."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        part_bytes: int = PART_BYTES,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = part_bytes
        self.batch_rows = batch_rows

    def key_for(self, job_id: str) -> str:
        """The object key of a job's GeoParquet file."""
        return posixpath.join(self.prefix, f"{job_id}.parquet")

    def _write_row_groups(self, writer: pq.ParquetWriter, features: Iterable[dict[str, Any]], key: str) -> None:
        """Write the features, a row group per batch, then the ``geo`` metadata (known only now)."""
        stats = GeometryStats()
        remaining = iter(features)
        while True:
            try:
                table = feature_table(islice(remaining, self.batch_rows), stats)
            except (ValueError, TypeError, shapely.errors.GEOSException) as err:
                message = f"features for s3://{self.bucket}/{key} cannot be written as GeoParquet: {err}"
                raise SinkError(message) from None
            if not table.num_rows:
                break
            writer.write_table(table)
        writer.add_key_value_metadata({"geo": json.dumps(stats.metadata())})

    def write(self, job_id: str, features: Iterable[dict[str, Any]]) -> str:
        """Stream the features into the job's GeoParquet file, a row group per batch; return the ``s3://`` URL.

        Raises:
            SinkError: naming the bucket and key when S3 refuses the write or a feature cannot be converted.
        """
        key = self.key_for(job_id)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as err:  # a function without the parquet layer: this output fails, not the job
            raise SinkError(f"cannot write GeoParquet to s3://{self.bucket}/{key}: no pyarrow ({err})") from None
        with streaming_upload(self.client, self.bucket, key, CONTENT_TYPE, self.part_bytes) as upload:
            # Without ARROW:schema, readers take the schema's metadata from the file's, where "geo" goes at the end.
            writer = pq.ParquetWriter(
                pa.PythonFile(upload, mode="w"), arrow_schema(), compression="zstd", store_schema=False
            )
            try:
                self._write_row_groups(writer, features, key)
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.close()  # its footer goes into the upload, which is then aborted
                raise
            writer.close()
        return f"s3://{self.bucket}/{key}"
