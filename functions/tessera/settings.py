"""Typed settings for the Lambda functions, read from the environment at cold start (never at import).

The CDK stack sets these variables on every function; the local runner sets the same ones from the
synthesized template. The handlers never read ``os.environ`` themselves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ENV_PREFIX = "TESSERA_"


def _reader(env: Mapping[str, str]) -> Callable[..., str]:
    """``get(name, default=None)``: the ``TESSERA_<name>`` variable, or ``default``; KeyError if neither."""

    def get(name: str, default: str | None = None) -> str:
        value = env.get(ENV_PREFIX + name, default)
        if value is None:
            raise KeyError(f"environment variable {ENV_PREFIX + name} is not set")
        return value

    return get


@dataclass(frozen=True)
class Settings:
    """Where the pipeline keeps its state and what a job defaults to.

    Attributes:
        job_table: DynamoDB table of jobs (partition key ``job_id``).
        region_table: DynamoDB table of regions (``image_id`` / ``region_id``, OSML's schema).
        results_bucket: S3 bucket for region results and, by default, the job's features.
        result_prefix: key prefix of the default S3 output.
        status_topic_arn: SNS topic for job status messages ("" disables publishing).
        image_prefix: key prefix in the image bucket whose uploads start jobs.
        request_prefix: key prefix in the image bucket whose JSON ImageRequests start jobs.
        default_model: model used for jobs started by a plain image upload.
        tile_size: default tile size in pixels.
        tile_overlap: default tile overlap in pixels.
        region_size: region size in pixels (OSML default 10240).
        retention_days: days after which job and region items expire (DynamoDB TTL).
        tile_workers: model calls in flight per region for endpoint models.
        elevation_model: a DEM GeoTIFF (``s3://`` or a path, e.g. an SRTM tile or mosaic VRT) that RPC
            sensor models intersect; without one, RPC geolocation uses height 0.
        region_status: publish a status message for every region too (OSML's region topic; off by default).
        inline_region_limit: jobs with more regions than this read their region list from S3 (Distributed
            Map) instead of the state payload; must equal the state machine's threshold.
    """

    job_table: str
    region_table: str
    results_bucket: str
    result_prefix: str = "results/"
    status_topic_arn: str = ""
    image_prefix: str = "images/"
    request_prefix: str = "requests/"
    default_model: str = "centerpoint"
    tile_size: int = 512
    tile_overlap: int = 32
    region_size: int = 10240
    retention_days: int = 7
    tile_workers: int = 4
    inline_region_limit: int = 1000
    region_status: bool = False
    elevation_model: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``TESSERA_*`` environment variables.

        Example:
            >>> Settings.from_env({"TESSERA_JOB_TABLE": "jobs", "TESSERA_REGION_TABLE": "regions",
            ...                    "TESSERA_RESULTS_BUCKET": "results"}).tile_size
            512
        """
        get = _reader(os.environ if environ is None else environ)

        return cls(
            job_table=get("JOB_TABLE"),
            region_table=get("REGION_TABLE"),
            results_bucket=get("RESULTS_BUCKET"),
            result_prefix=get("RESULT_PREFIX", cls.result_prefix),
            status_topic_arn=get("STATUS_TOPIC_ARN", ""),
            image_prefix=get("IMAGE_PREFIX", cls.image_prefix),
            request_prefix=get("REQUEST_PREFIX", cls.request_prefix),
            default_model=get("DEFAULT_MODEL", cls.default_model),
            tile_size=int(get("TILE_SIZE", str(cls.tile_size))),
            tile_overlap=int(get("TILE_OVERLAP", str(cls.tile_overlap))),
            region_size=int(get("REGION_SIZE", str(cls.region_size))),
            retention_days=int(get("RETENTION_DAYS", str(cls.retention_days))),
            tile_workers=int(get("TILE_WORKERS", str(cls.tile_workers))),
            inline_region_limit=int(get("INLINE_REGION_LIMIT", str(cls.inline_region_limit))),
            region_status=get("REGION_STATUS", "false").lower() in {"1", "true", "yes"},
            elevation_model=get("ELEVATION_MODEL", ""),
        )


@dataclass(frozen=True)
class ViewpointSettings:
    """Where viewpoints live and how the tile API serves them.

    Attributes:
        viewpoint_table: DynamoDB table of viewpoints (partition key ``viewpoint_id``).
        viewpoint_bucket: S3 bucket for each viewpoint's COG and JSON sidecars.
        viewpoint_prefix: key prefix of those artifacts (``<prefix><viewpoint_id>/...``).
        ingest_state_machine_arn: the ingest state machine the API starts for a new viewpoint.
        upload_prefix: key prefix in the image bucket whose uploads become viewpoints.
        default_range_adjustment: range adjustment of viewpoints created by an upload.
        retention_days: days a FAILED viewpoint is kept (DynamoDB TTL).
        cache_max_age: ``Cache-Control: max-age`` of pixel responses, in seconds.
        elevation_model: a DEM for RPC footprints and map tiles (as the pipeline's setting).
    """

    viewpoint_table: str
    viewpoint_bucket: str
    viewpoint_prefix: str = "viewpoints/"
    ingest_state_machine_arn: str = ""
    upload_prefix: str = "viewpoints/"
    default_range_adjustment: str = "DRA"
    retention_days: int = 7
    cache_max_age: int = 3600
    elevation_model: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ViewpointSettings:
        """Build settings from ``TESSERA_*`` environment variables.

        Example:
            >>> env = {"TESSERA_VIEWPOINT_TABLE": "v", "TESSERA_VIEWPOINT_BUCKET": "b"}
            >>> ViewpointSettings.from_env(env).cache_max_age
            3600
        """
        get = _reader(os.environ if environ is None else environ)

        return cls(
            viewpoint_table=get("VIEWPOINT_TABLE"),
            viewpoint_bucket=get("VIEWPOINT_BUCKET"),
            viewpoint_prefix=get("VIEWPOINT_PREFIX", cls.viewpoint_prefix),
            ingest_state_machine_arn=get("INGEST_STATE_MACHINE_ARN", ""),
            upload_prefix=get("VIEWPOINT_UPLOAD_PREFIX", cls.upload_prefix),
            default_range_adjustment=get("VIEWPOINT_RANGE_ADJUSTMENT", cls.default_range_adjustment),
            retention_days=int(get("RETENTION_DAYS", str(cls.retention_days))),
            cache_max_age=int(get("CACHE_MAX_AGE", str(cls.cache_max_age))),
            elevation_model=get("ELEVATION_MODEL", ""),
        )
