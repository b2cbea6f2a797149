"""A moto server on 127.0.0.1 (GDAL reads /vsis3 from it, as on AWS) with the viewpoint table and bucket."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra.local.emulator import endpoint_environment, free_port
from infra.local.http_api import http_event, response_parts
from tessera.api import app as api
from tessera.handlers import ingest_viewpoint
from tessera.settings import ViewpointSettings
from tessera.state.viewpoints import ViewpointTable, create_viewpoint_table
from tessera.tiles import readers
from tessera.viewpoints.models import ViewpointCreate
from tessera.viewpoints.service import ViewpointService

SOURCE_BUCKET = "imagery"
VIEWPOINT_BUCKET = "viewpoints"
TABLE = "viewpoint-table"


@dataclass
class Reply:
    """An HTTP reply from the tile API."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class TileServer:
    """The viewpoint service and the tile API, on a moto server."""

    s3: Any
    service: ViewpointService
    endpoint: str

    def upload(self, image: Path, key: str | None = None) -> str:
        key = key or f"uploads/{image.name}"
        self.s3.upload_file(str(image), SOURCE_BUCKET, key)
        return key

    def ingest(self, image: Path, viewpoint_id: str, **fields: Any) -> dict[str, Any]:
        """Create a viewpoint of a local image and run its ingest step; return the item."""
        key = self.upload(image, f"uploads/{viewpoint_id}/{image.name}")
        request = ViewpointCreate(
            viewpoint_id=viewpoint_id, viewpoint_name=image.name, bucket_name=SOURCE_BUCKET, object_key=key, **fields
        )
        self.service.create(request)
        return self.service.run_ingest({"viewpoint_id": viewpoint_id})

    def request(
        self, method: str, path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Reply:
        """One request through the API handler, as API Gateway would send it."""
        payload = json.dumps(body) if body is not None else None
        status, reply_headers, data = response_parts(
            api.resolve(http_event(method, path, query, headers, payload), None)
        )
        return Reply(status, {k.lower(): v for k, v in reply_headers.items()}, data)

    def get(self, path: str, **query: str) -> Reply:
        return self.request("GET", path, query or None)


@pytest.fixture(scope="package")
def tile_server() -> Iterator[TileServer]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        **endpoint_environment(port),
        "TESSERA_VIEWPOINT_TABLE": TABLE,
        "TESSERA_VIEWPOINT_BUCKET": VIEWPOINT_BUCKET,
        "TESSERA_CACHE_MAX_AGE": "600",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        s3 = boto3.client("s3")
        for bucket in (SOURCE_BUCKET, VIEWPOINT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        dynamodb = boto3.resource("dynamodb")
        create_viewpoint_table(dynamodb, TABLE)
        service = ViewpointService(ViewpointSettings.from_env(), ViewpointTable(dynamodb.Table(TABLE)), s3)
        api.service.cache_clear()
        ingest_viewpoint.viewpoints.cache_clear()
        api._items.clear()
        yield TileServer(s3=s3, service=service, endpoint=f"http://127.0.0.1:{port}")
        readers.clear()
        api.service.cache_clear()
        ingest_viewpoint.viewpoints.cache_clear()
        api._items.clear()
    server.stop()
