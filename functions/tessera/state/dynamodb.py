"""The job and region tables in DynamoDB.

Items hold status, counters, timings and pointers; features live in S3. Times are epoch milliseconds
(as in OSML's tables) except ``expire_time``, which is epoch seconds because DynamoDB's TTL needs it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from tessera.requests import JobSpec
from tessera.state.status import RequestStatus
from tessera.tiling import ImageRegion

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
else:
    Table = Any


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def plain(value: Any) -> Any:
    """Convert DynamoDB's Decimals (recursively) to int or float for JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def seconds_between(start_ms: int | None, end_ms: int) -> Decimal:
    """Duration in seconds with millisecond precision, as DynamoDB stores numbers."""
    return Decimal(end_ms - (start_ms if start_ms is not None else end_ms)) / 1000


def region_id(region: ImageRegion, job_id: str) -> str:
    """OSML's region id: ``(row, col)(width, height)-<jobId>``."""
    return f"{region.region_key}-{job_id}"


class JobTable:
    """Jobs, keyed by ``job_id``."""

    def __init__(self, table: Table, retention_days: int = 7) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's item, or None."""
        item = self.table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def start(self, job: JobSpec, request: Mapping[str, Any]) -> None:
        """Record a new (or re-submitted) job as STARTED; counters restart, the first start time is kept."""
        start = now_ms()
        self.table.update_item(
            Key={"job_id": job.job_id},
            UpdateExpression=(
                "SET image_id = :image_id, image_url = :url, job_name = :name, job_status = :status, "
                "model_name = :model, model_invoke_mode = :mode, start_time = :start, "
                "last_updated_time = :start, expire_time = :expire, request = :request, job_spec = :spec, "
                "region_success = :zero, region_partial = :zero, region_error = :zero, "
                "tiles_succeeded = :zero, tiles_failed = :zero, tiles_skipped = :zero, "
                "submissions = if_not_exists(submissions, :zero) + :one "
                "REMOVE end_time, message, processing_duration"
            ),
            ExpressionAttributeValues={
                ":image_id": job.image_id,
                ":url": job.image_url,
                ":name": job.job_name or job.job_id,
                ":status": RequestStatus.STARTED.value,
                ":model": job.model_name,
                ":mode": job.model_invoke_mode.value,
                ":start": start,
                ":expire": start // 1000 + self.retention_seconds,
                ":request": json.dumps(request, default=str),
                ":spec": job.model_dump_json(),
                ":zero": 0,
                ":one": 1,
            },
        )

    def set_in_progress(self, job_id: str, *, region_count: int, tile_count: int, image: Mapping[str, Any]) -> None:
        """Record the split: region and tile counts and what the image is."""
        self.table.update_item(
            Key={"job_id": job_id},
            UpdateExpression=(
                "SET job_status = :status, region_count = :regions, tile_count = :tiles, image = :image, "
                "last_updated_time = :now"
            ),
            ExpressionAttributeValues={
                ":status": RequestStatus.IN_PROGRESS.value,
                ":regions": region_count,
                ":tiles": tile_count,
                ":image": json.loads(json.dumps(image), parse_float=Decimal),
                ":now": now_ms(),
            },
        )

    def count_region(self, job_id: str, status: RequestStatus, *, succeeded: int, failed: int, skipped: int) -> None:
        """Atomically count one finished region and its tiles."""
        counter = {
            RequestStatus.SUCCESS: "region_success",
            RequestStatus.PARTIAL: "region_partial",
        }.get(status, "region_error")
        self.table.update_item(
            Key={"job_id": job_id},
            UpdateExpression=(
                f"ADD {counter} :one, tiles_succeeded :ok, tiles_failed :failed, tiles_skipped :skipped "
                "SET last_updated_time = :now"
            ),
            ExpressionAttributeValues={
                ":one": 1,
                ":ok": succeeded,
                ":failed": failed,
                ":skipped": skipped,
                ":now": now_ms(),
            },
        )

    def end(self, job_id: str, status: RequestStatus, message: str, **attributes: Any) -> dict[str, Any]:
        """Record the job's final status, message, duration and any extra attributes; return the item."""
        end = now_ms()
        current = self.get(job_id) or {}
        names = {f"#a{i}": key for i, key in enumerate(attributes)}
        values = {f":a{i}": json.loads(json.dumps(v), parse_float=Decimal) for i, v in enumerate(attributes.values())}
        extra = "".join(f", #a{i} = :a{i}" for i in range(len(attributes)))
        kwargs: dict[str, Any] = {}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        item = self.table.update_item(
            Key={"job_id": job_id},
            UpdateExpression=(
                "SET job_status = :status, message = :message, end_time = :end, last_updated_time = :end, "
                "processing_duration = :duration" + extra
            ),
            ExpressionAttributeValues={
                ":status": status.value,
                ":message": message,
                ":end": end,
                ":duration": seconds_between(current.get("start_time"), end),
                **values,
            },
            ReturnValues="ALL_NEW",
            **kwargs,
        )["Attributes"]
        return plain(item)


class RegionTable:
    """Regions, keyed by ``image_id`` and ``region_id``, with every field of OSML's RegionRequestItem."""

    def __init__(self, table: Table, retention_days: int = 7) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400

    def get(self, image_id: str, rid: str) -> dict[str, Any] | None:
        """The region's item, or None."""
        item = self.table.get_item(Key={"image_id": image_id, "region_id": rid}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def list(self, image_id: str) -> list[dict[str, Any]]:
        """Every region item of an image."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("image_id").eq(image_id), "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            items.extend(plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def start(self, job: JobSpec, region: ImageRegion, total_tiles: int) -> dict[str, Any]:
        """Record a region as STARTED (or count a retry of one already there); return the item."""
        start = now_ms()
        item = self.table.update_item(
            Key={"image_id": job.image_id, "region_id": region_id(region, job.job_id)},
            UpdateExpression=(
                "SET job_id = :job, region_status = :status, start_time = if_not_exists(start_time, :now), "
                "last_updated_time = :now, expire_time = :expire, image_read_role = :role, total_tiles = :total, "
                "region_bounds = :bounds, tile_size = :tile_size, tile_overlap = :overlap, "
                "tile_format = :format, tile_compression = :compression, "
                "region_retry_count = if_not_exists(region_retry_count, :minus_one) + :one, "
                "succeeded_tiles = if_not_exists(succeeded_tiles, :empty), "
                "succeeded_tile_count = if_not_exists(succeeded_tile_count, :zero)"
            ),
            ExpressionAttributeValues={
                ":job": job.job_id,
                ":status": RequestStatus.STARTED.value,
                ":now": start,
                ":expire": start // 1000 + self.retention_seconds,
                ":role": job.image_read_role or "",
                ":total": total_tiles,
                ":bounds": region.to_osml(),
                ":tile_size": [job.tile_size, job.tile_size],
                ":overlap": [job.tile_overlap, job.tile_overlap],
                ":format": job.tile_format.value,
                ":compression": job.tile_compression.value,
                ":minus_one": -1,
                ":one": 1,
                ":empty": [],
                ":zero": 0,
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return plain(item)

    def complete(
        self,
        image_id: str,
        rid: str,
        status: RequestStatus,
        *,
        succeeded: list[list[list[int]]],
        failed: list[list[list[int]]],
        skipped: int,
        feature_count: int,
        features_key: str,
        started_ms: int | None,
        message: str = "",
    ) -> dict[str, Any]:
        """Record the region's outcome, its tiles and where its features are; return the item."""
        end = now_ms()
        return plain(
            self.table.update_item(
                Key={"image_id": image_id, "region_id": rid},
                UpdateExpression=(
                    "SET region_status = :status, end_time = :end, last_updated_time = :end, "
                    "processing_duration = :duration, message = :message, "
                    "succeeded_tiles = :ok, succeeded_tile_count = :ok_n, failed_tiles = :failed, "
                    "failed_tile_count = :failed_n, skipped_tile_count = :skipped, feature_count = :features, "
                    "features_key = :key"
                ),
                ExpressionAttributeValues={
                    ":status": status.value,
                    ":end": end,
                    ":duration": seconds_between(started_ms, end),
                    ":message": message,
                    ":ok": succeeded,
                    ":ok_n": len(succeeded),
                    ":failed": failed,
                    ":failed_n": len(failed),
                    ":skipped": skipped,
                    ":features": feature_count,
                    ":key": features_key,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        )

    def fail(self, job: JobSpec, region: ImageRegion, message: str) -> None:
        """Record a region FAILED after its Lambda gave up (no tile lists are known)."""
        end = now_ms()
        rid = region_id(region, job.job_id)
        current = self.get(job.image_id, rid) or {}
        self.table.update_item(
            Key={"image_id": job.image_id, "region_id": rid},
            UpdateExpression=(
                "SET job_id = :job, region_status = :status, message = :message, end_time = :end, "
                "last_updated_time = :end, start_time = if_not_exists(start_time, :end), region_bounds = :bounds, "
                "expire_time = :expire, processing_duration = :duration"
            ),
            ExpressionAttributeValues={
                ":job": job.job_id,
                ":status": RequestStatus.FAILED.value,
                ":message": message,
                ":end": end,
                ":bounds": region.to_osml(),
                ":expire": end // 1000 + self.retention_seconds,
                ":duration": seconds_between(current.get("start_time"), end),
            },
        )
