"""The job and region tables in DynamoDB.

Items hold status, counters, timings and pointers; features live in S3. Times are epoch milliseconds
(as in OSML's tables) except ``expire_time``, which is epoch seconds because DynamoDB's TTL needs it,
and ``processing_duration``, which is seconds (as in OSML).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from tessera.errors import JobAlreadyRunningError
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


def _storable(value: Any) -> Any:
    """Floats become Decimals (DynamoDB has no float type); NaN and infinities become strings."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def seconds_between(start_ms: int | None, end_ms: int) -> Decimal:
    """Duration in seconds with millisecond precision."""
    return Decimal(end_ms - (start_ms if start_ms is not None else end_ms)) / 1000


#: The tables' keys (the CDK stack declares the same in infra/constructs/storage.py).
JOB_KEYS = (("job_id", "HASH"),)
REGION_KEYS = (("image_id", "HASH"), ("region_id", "RANGE"))


def create_tables(dynamodb: Any, job_table: str, region_table: str) -> None:
    """Create the job and region tables (on-demand) with a boto3 DynamoDB resource: for tests and tools."""
    for name, keys in ((job_table, JOB_KEYS), (region_table, REGION_KEYS)):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": attribute, "KeyType": kind} for attribute, kind in keys],
            AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"} for attribute, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )


def region_id(region: ImageRegion, job_id: str) -> str:
    """OSML's region id: ``(row, col)(width, height)-<jobId>``."""
    return f"{region.region_key}-{job_id}"


@dataclass
class Update:
    """One UpdateItem: attributes to set, to set only if absent, to add to, to count, and to remove.

    ``increment`` maps an attribute to ``(first, step)``: it becomes ``first`` on the first update and
    grows by ``step`` on each later one.

    Every attribute name goes through ExpressionAttributeNames, so DynamoDB's reserved words
    (``status``, ``request``, ...) never matter.
    """

    set: dict[str, Any] = field(default_factory=dict)
    set_if_absent: dict[str, Any] = field(default_factory=dict)
    add: dict[str, int] = field(default_factory=dict)
    increment: dict[str, tuple[int, int]] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    #: ``(expression, names, values)`` that must hold, e.g. ``("#s IN (:a, :b)", {"#s": ...}, {":a": ...})``.
    condition: tuple[str, dict[str, str], dict[str, Any]] | None = None

    def apply(self, table: Table, key: dict[str, str], *, return_item: bool = False) -> dict[str, Any]:
        """Run the update; return the new item when asked."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}

        def name(attribute: str) -> str:
            placeholder = f"#n{len(names)}"
            names[placeholder] = attribute
            return placeholder

        def value(v: Any) -> str:
            placeholder = f":v{len(values)}"
            values[placeholder] = _storable(v)
            return placeholder

        sets = [f"{name(k)} = {value(v)}" for k, v in self.set.items()]
        sets += [f"{(n := name(k))} = if_not_exists({n}, {value(v)})" for k, v in self.set_if_absent.items()]
        sets += [
            f"{(n := name(k))} = if_not_exists({n}, {value(first - step)}) + {value(step)}"
            for k, (first, step) in self.increment.items()
        ]
        clauses = [f"SET {', '.join(sets)}"] if sets else []
        if self.add:
            clauses.append("ADD " + ", ".join(f"{name(k)} {value(v)}" for k, v in self.add.items()))
        if self.remove:
            clauses.append("REMOVE " + ", ".join(name(k) for k in self.remove))
        kwargs: dict[str, Any] = {"ReturnValues": "ALL_NEW"} if return_item else {}
        if self.condition is not None:
            expression, condition_names, condition_values = self.condition
            kwargs["ConditionExpression"] = expression
            names.update(condition_names)
            values.update({k: _storable(v) for k, v in condition_values.items()})
        response = table.update_item(
            Key=key,
            UpdateExpression=" ".join(clauses),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **kwargs,
        )
        return plain(response.get("Attributes", {}))


class JobTable:
    """Jobs, keyed by ``job_id``."""

    def __init__(self, table: Table, retention_days: int = 7) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's item, or None."""
        item = self.table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def start(self, job: JobSpec, request: Mapping[str, Any], *, stale_after_ms: int = 86_400_000) -> None:
        """Record a new (or re-submitted) job as STARTED with fresh counters.

        Raises:
            JobAlreadyRunningError: when another execution is processing the same job id (its status is not
                final and it was updated within ``stale_after_ms``, the state machine's timeout).
        """
        start = now_ms()
        update = Update(
            set={
                "image_id": job.image_id,
                "image_url": job.image_url,
                "job_name": job.job_name or job.job_id,
                "job_status": RequestStatus.STARTED.value,
                "model_name": job.model_name,
                "model_invoke_mode": job.model_invoke_mode.value,
                "start_time": start,
                "last_updated_time": start,
                "expire_time": start // 1000 + self.retention_seconds,
                "request": json.dumps(request, default=str),
                "job_spec": job.model_dump_json(),
                "tile_size": [job.tile_size, job.tile_size],
                "tile_overlap": [job.tile_overlap, job.tile_overlap],
                "region_success": 0,
                "region_partial": 0,
                "region_error": 0,
                "tiles_succeeded": 0,
                "tiles_failed": 0,
                "tiles_skipped": 0,
            },
            add={"submissions": 1},
            remove=["end_time", "message", "processing_duration"],
            condition=(
                "attribute_not_exists(#status) OR #status IN (:success, :partial, :failed) OR #updated < :stale",
                {"#status": "job_status", "#updated": "last_updated_time"},
                {
                    ":success": RequestStatus.SUCCESS.value,
                    ":partial": RequestStatus.PARTIAL.value,
                    ":failed": RequestStatus.FAILED.value,
                    ":stale": start - stale_after_ms,
                },
            ),
        )
        try:
            update.apply(self.table, {"job_id": job.job_id})
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise JobAlreadyRunningError(
                f"job {job.job_id} is already running in another execution; it was not started twice"
            ) from None

    def set_in_progress(self, job_id: str, *, region_count: int, tile_count: int, image: Mapping[str, Any]) -> None:
        """Record the split: region and tile counts and what the image is."""
        Update(
            set={
                "job_status": RequestStatus.IN_PROGRESS.value,
                "region_count": region_count,
                "tile_count": tile_count,
                "image": dict(image),
                "last_updated_time": now_ms(),
            }
        ).apply(self.table, {"job_id": job_id})

    def count_region(self, job_id: str, status: RequestStatus, *, succeeded: int, failed: int, skipped: int) -> None:
        """Atomically count one finished region and its tiles."""
        counter = {RequestStatus.SUCCESS: "region_success", RequestStatus.PARTIAL: "region_partial"}.get(
            status, "region_error"
        )
        Update(
            set={"last_updated_time": now_ms()},
            add={counter: 1, "tiles_succeeded": succeeded, "tiles_failed": failed, "tiles_skipped": skipped},
        ).apply(self.table, {"job_id": job_id})

    def end(self, job_id: str, status: RequestStatus, message: str, **attributes: Any) -> dict[str, Any]:
        """Record the job's final status, message, duration and any extra attributes; return the item."""
        end = now_ms()
        current = self.get(job_id) or {}
        return Update(
            set={
                "job_status": status.value,
                "message": message,
                "end_time": end,
                "last_updated_time": end,
                "processing_duration": seconds_between(current.get("start_time"), end),
                **attributes,
            }
        ).apply(self.table, {"job_id": job_id}, return_item=True)


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
        """Record a region as STARTED in this run of the job; return the item.

        A retry or redrive counts in ``region_retry_count``. The tiles that succeeded before are kept for
        reuse only if the job's fingerprint (model, parameters, tile encoding) is unchanged.
        """
        start = now_ms()
        key = {"image_id": job.image_id, "region_id": region_id(region, job.job_id)}
        previous = self.get(key["image_id"], key["region_id"]) or {}
        reuse = previous.get("fingerprint") == job.fingerprint
        update = Update(
            set={
                "job_id": job.job_id,
                "region_status": RequestStatus.STARTED.value,
                "start_time": start,
                "last_updated_time": start,
                "expire_time": start // 1000 + self.retention_seconds,
                "image_read_role": job.image_read_role or "",
                "total_tiles": total_tiles,
                "region_bounds": region.to_osml(),
                "tile_size": [job.tile_size, job.tile_size],
                "tile_overlap": [job.tile_overlap, job.tile_overlap],
                "tile_format": job.tile_format.value,
                "tile_compression": job.tile_compression.value,
                "run_id": job.run_id,
                "fingerprint": job.fingerprint,
            },
            set_if_absent={"succeeded_tiles": [], "succeeded_tile_count": 0},
            increment={"region_retry_count": (0, 1)},
        )
        if not reuse:
            update.set.update(succeeded_tiles=[], succeeded_tile_count=0, features_key="")
            update.set_if_absent = {}
        return update.apply(self.table, key, return_item=True)

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
        return Update(
            set={
                "region_status": status.value,
                "end_time": end,
                "last_updated_time": end,
                "processing_duration": seconds_between(started_ms, end),
                "message": message,
                "succeeded_tiles": succeeded,
                "succeeded_tile_count": len(succeeded),
                "failed_tiles": failed,
                "failed_tile_count": len(failed),
                "skipped_tile_count": skipped,
                "feature_count": feature_count,
                "features_key": features_key,
            }
        ).apply(self.table, {"image_id": image_id, "region_id": rid}, return_item=True)

    def checkpoint(
        self, image_id: str, rid: str, *, succeeded: list[list[list[int]]], features_key: str, message: str
    ) -> None:
        """Save a region's progress (the tiles done and where their features are) before its Lambda stops."""
        Update(
            set={
                "region_status": RequestStatus.IN_PROGRESS.value,
                "last_updated_time": now_ms(),
                "succeeded_tiles": succeeded,
                "succeeded_tile_count": len(succeeded),
                "features_key": features_key,
                "message": message,
            }
        ).apply(self.table, {"image_id": image_id, "region_id": rid})

    def fail(self, job: JobSpec, region: ImageRegion, message: str) -> None:
        """Record a region FAILED after its Lambda gave up (its tile lists stay as they were)."""
        end = now_ms()
        key = {"image_id": job.image_id, "region_id": region_id(region, job.job_id)}
        current = self.get(key["image_id"], key["region_id"]) or {}
        Update(
            set={
                "job_id": job.job_id,
                "region_status": RequestStatus.FAILED.value,
                "message": message,
                "end_time": end,
                "last_updated_time": end,
                "region_bounds": region.to_osml(),
                "expire_time": end // 1000 + self.retention_seconds,
                "processing_duration": seconds_between(current.get("start_time"), end),
                "run_id": job.run_id,
            },
            set_if_absent={"start_time": end},
        ).apply(self.table, key)
