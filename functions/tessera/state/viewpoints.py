"""The viewpoint table in DynamoDB (partition key ``viewpoint_id``, OSML's TSJobTable), with guarded status changes.

Every status change is a conditional write, so that statuses only move forward:
REQUESTED → PROCESSING (again on a retry) → READY, and REQUESTED/PROCESSING → FAILED. READY never
follows FAILED and nothing resurrects a deleted viewpoint. ``expire_time`` is a real TTL (the table's
TimeToLiveAttribute): pending items expire after a day if ingest never ran, failed ones after the
retention period; READY items are kept.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tessera.errors import ViewpointNotFoundError, ViewpointStateError
from tessera.state.dynamodb import Update, _storable, now_ms, plain, seconds_between
from tessera.viewpoints.models import ViewpointCreate, ViewpointStatus, ViewpointUpdate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
else:
    Table = Any

#: The table's key (the CDK stack declares the same).
VIEWPOINT_KEYS = (("viewpoint_id", "HASH"),)
#: A viewpoint that never started ingest expires after this long.
PENDING_TTL_SECONDS = 86_400


def create_viewpoint_table(dynamodb: Any, name: str) -> None:
    """Create the viewpoint table (on-demand) with a boto3 DynamoDB resource: for tests and tools."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": k} for a, k in VIEWPOINT_KEYS],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in VIEWPOINT_KEYS],
        BillingMode="PAY_PER_REQUEST",
    )


def _conditional_failed(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def encode_token(key: dict[str, Any] | None) -> str | None:
    """An opaque page token from DynamoDB's LastEvaluatedKey."""
    return base64.urlsafe_b64encode(json.dumps(plain(key)).encode()).decode() if key else None


def decode_token(token: str | None) -> dict[str, Any] | None:
    """The LastEvaluatedKey inside a page token.

    Raises:
        ValueError: for a token this API did not issue.
    """
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("next_token is not a token this API issued") from None
    if not isinstance(key, dict) or set(key) != {"viewpoint_id"}:
        raise ValueError("next_token is not a token this API issued")
    return key


class ViewpointTable:
    """Viewpoints, keyed by ``viewpoint_id``."""

    def __init__(self, table: Table, retention_days: int = 7) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400

    def _key(self, viewpoint_id: str) -> dict[str, str]:
        return {"viewpoint_id": viewpoint_id}

    def get(self, viewpoint_id: str) -> dict[str, Any] | None:
        """The viewpoint's item, or None."""
        item = self.table.get_item(Key=self._key(viewpoint_id), ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def require(self, viewpoint_id: str) -> dict[str, Any]:
        """The viewpoint's item.

        Raises:
            ViewpointNotFoundError: when there is none.
        """
        item = self.get(viewpoint_id)
        if item is None:
            raise ViewpointNotFoundError(f"viewpoint {viewpoint_id} does not exist")
        return item

    def create(self, request: ViewpointCreate) -> tuple[dict[str, Any], bool]:
        """Record a new viewpoint as REQUESTED; return ``(item, created)``.

        Creating an id that exists changes nothing and returns the existing item (idempotent, as OSML).
        """
        now = now_ms()
        item = {
            **request.model_dump(mode="json"),
            "viewpoint_status": ViewpointStatus.REQUESTED.value,
            "created_time": now,
            "last_updated_time": now,
            "attempts": 0,
            "version": 0,
            "expire_time": now // 1000 + PENDING_TTL_SECONDS,
        }
        try:
            self.table.put_item(Item=_storable(item), ConditionExpression="attribute_not_exists(viewpoint_id)")
        except ClientError as err:
            if not _conditional_failed(err):
                raise
            return self.require(request.viewpoint_id), False
        return item, True

    def list(self, limit: int = 100, token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of viewpoints and the token of the next page (None on the last)."""
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_token(token)
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self.table.scan(**kwargs)
        return [plain(item) for item in response.get("Items", [])], encode_token(response.get("LastEvaluatedKey"))

    def update_display(self, update: ViewpointUpdate) -> dict[str, Any]:
        """Change the name, tile size or range adjustment; the version (and so every tile's ETag) changes.

        Raises:
            ViewpointNotFoundError: when there is no such viewpoint.
        """
        changes = update.model_dump(mode="json", exclude_none=True, exclude={"viewpoint_id"})
        try:
            return Update(
                set={**changes, "last_updated_time": now_ms()},
                add={"version": 1},
                condition=("attribute_exists(viewpoint_id)", {}, {}),
            ).apply(self.table, self._key(update.viewpoint_id), return_item=True)
        except ClientError as err:
            if not _conditional_failed(err):
                raise
            raise ViewpointNotFoundError(f"viewpoint {update.viewpoint_id} does not exist") from None

    def _transition(self, viewpoint_id: str, allowed: tuple[ViewpointStatus, ...], update: Update) -> dict[str, Any]:
        placeholders = {f":s{i}": status.value for i, status in enumerate(allowed)}
        update.condition = (f"#vs IN ({', '.join(placeholders)})", {"#vs": "viewpoint_status"}, placeholders)
        try:
            return update.apply(self.table, self._key(viewpoint_id), return_item=True)
        except ClientError as err:
            if not _conditional_failed(err):
                raise
        current = self.get(viewpoint_id)
        state = "was deleted" if current is None else f"is {current['viewpoint_status']}"
        target = update.set.get("viewpoint_status")
        raise ViewpointStateError(f"viewpoint {viewpoint_id} {state}; it cannot become {target}")

    def start_processing(self, viewpoint_id: str) -> dict[str, Any]:
        """REQUESTED (or PROCESSING, on a retry) → PROCESSING, counting the attempt."""
        now = now_ms()
        return self._transition(
            viewpoint_id,
            (ViewpointStatus.REQUESTED, ViewpointStatus.PROCESSING),
            Update(
                set={
                    "viewpoint_status": ViewpointStatus.PROCESSING.value,
                    "processing_started_time": now,
                    "last_updated_time": now,
                    "expire_time": now // 1000 + PENDING_TTL_SECONDS,
                },
                add={"attempts": 1},
                remove=["error_message"],
            ),
        )

    def ready(self, viewpoint_id: str, **attributes: Any) -> dict[str, Any]:
        """PROCESSING → READY with the ingest's outputs; the item no longer expires."""
        now = now_ms()
        current = self.get(viewpoint_id) or {}
        return self._transition(
            viewpoint_id,
            (ViewpointStatus.PROCESSING,),
            Update(
                set={
                    "viewpoint_status": ViewpointStatus.READY.value,
                    "ready_time": now,
                    "last_updated_time": now,
                    "processing_duration": seconds_between(current.get("processing_started_time"), now),
                    **attributes,
                },
                add={"version": 1},
                remove=["expire_time", "error_message"],
            ),
        )

    def fail(self, viewpoint_id: str, message: str) -> dict[str, Any]:
        """REQUESTED/PROCESSING → FAILED with the message; the item expires after the retention period."""
        now = now_ms()
        return self._transition(
            viewpoint_id,
            (ViewpointStatus.REQUESTED, ViewpointStatus.PROCESSING),
            Update(
                set={
                    "viewpoint_status": ViewpointStatus.FAILED.value,
                    "error_message": message,
                    "end_time": now,
                    "last_updated_time": now,
                    "expire_time": now // 1000 + self.retention_seconds,
                }
            ),
        )

    def delete(self, viewpoint_id: str) -> dict[str, Any]:
        """Delete the item and return it.

        Raises:
            ViewpointNotFoundError: when there is no such viewpoint.
        """
        response = self.table.delete_item(Key=self._key(viewpoint_id), ReturnValues="ALL_OLD")
        if "Attributes" not in response:
            raise ViewpointNotFoundError(f"viewpoint {viewpoint_id} does not exist")
        return plain(response["Attributes"])
