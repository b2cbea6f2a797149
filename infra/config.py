"""Stack configuration, read from CDK context (``cdk.json`` or ``cdk deploy -c key=value``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from constructs import Node

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class TesseraConfig:
    """What a deployment can change without touching code.

    Attributes:
        image_prefix: uploads under this prefix of the image bucket start a job with the defaults.
        request_prefix: JSON ImageRequests put under this prefix start a job with full control.
        result_prefix: prefix of the default output in the results bucket.
        default_model: built-in model for jobs started by a plain image upload.
        tile_size: default tile size (pixels).
        tile_overlap: default tile overlap (pixels).
        region_size: region size (pixels).
        map_concurrency: regions processed at once (the Map's MaxConcurrency).
        retention_days: days job/region items and region results are kept.
        layers_dir: folder with the built Lambda layers (``make layers``).
        functions_dir: folder with the Lambda code asset.
        region_memory_mb: memory of the region function (1769 MB is one vCPU).
        aggregate_memory_mb: memory of the aggregate function, which holds every feature of a job.
        distributed_map_concurrency: regions processed at once by the Distributed Map (jobs with more than
            ``inline_region_limit`` regions); keep it within the account's Lambda concurrency.
        tile_workers: model calls in flight per region for endpoint models.
        model_image_uri: an ECR image with the SageMaker container contract; when set, the stack deploys it
            as a SageMaker endpoint (output ``ModelEndpointName``).
        model_instance_type: the endpoint's instance type.
        elevation_model: DEM GeoTIFF (``s3://bucket/key`` or a path) for RPC geolocation; "" uses height 0.
        region_status: publish every region's status to the status topic too (OSML's region topic).
        inline_region_limit: jobs with more regions use the Distributed Map (region list in S3).
        output_bucket_names: comma-separated buckets (besides the results bucket) that requests may name
            as S3 outputs.
        trusted_role_arns: comma-separated roles that requests may name as ``imageReadRole`` or
            ``imageProcessor.assumedRole`` (none by default: such requests fail with a clear message).
        viewpoint_prefix: uploads under this prefix of the image bucket become viewpoints (tile server).
        viewpoint_range_adjustment: range adjustment (NONE, MINMAX, DRA) of viewpoints made from uploads.
        tile_api_auth: ``IAM`` (default: callers sign requests with SigV4) or ``NONE`` (a public API, e.g.
            behind CloudFront with its own protection).
        tile_cache_max_age: ``Cache-Control: max-age`` of tiles, seconds.
        tile_api_memory_mb: memory of the tile API function.
    """

    image_prefix: str = "images/"
    request_prefix: str = "requests/"
    result_prefix: str = "results/"
    default_model: str = "centerpoint"
    tile_size: int = 512
    tile_overlap: int = 32
    region_size: int = 10240
    map_concurrency: int = 16
    retention_days: int = 7
    layers_dir: str = "layers/build"
    functions_dir: str = "functions"
    region_memory_mb: int = 3008
    tile_workers: int = 4
    model_image_uri: str = ""
    model_instance_type: str = "ml.m5.xlarge"
    aggregate_memory_mb: int = 10240
    distributed_map_concurrency: int = 100
    inline_region_limit: int = 1000
    region_status: bool = False
    elevation_model: str = ""
    trusted_role_arns: str = ""
    output_bucket_names: str = ""
    viewpoint_prefix: str = "viewpoints/"
    viewpoint_range_adjustment: str = "DRA"
    tile_api_auth: str = "IAM"
    tile_cache_max_age: int = 3600
    tile_api_memory_mb: int = 1536

    @classmethod
    def from_context(cls, node: Node) -> TesseraConfig:
        """Read ``tessera:<camelCaseName>`` context values; missing ones keep their defaults."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            camel = "".join(p.capitalize() if i else p for i, p in enumerate(field.name.split("_")))
            value = node.try_get_context(f"tessera:{camel}")
            if value is not None:
                default = getattr(cls, field.name)
                if isinstance(default, bool):
                    values[field.name] = (
                        value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
                    )
                else:
                    values[field.name] = type(default)(value)
        return cls(**values)

    def path(self, relative: str) -> Path:
        """A project path, resolved against the repository root."""
        path = Path(relative)
        return path if path.is_absolute() else ROOT / path
