"""Where features go: region results in S3 while the job runs, and the job's outputs at the end."""

from tessera.sinks.kinesis import KinesisSink
from tessera.sinks.parquet import GeoParquetSink
from tessera.sinks.region_results import RegionResults
from tessera.sinks.s3 import S3GeoJSONSink, feature_collection

__all__ = ["GeoParquetSink", "KinesisSink", "RegionResults", "S3GeoJSONSink", "feature_collection"]
