"""The tile server on this machine: the stack's tile API function behind a local HTTP API, with the viewer.

Requests to ``http://127.0.0.1:PORT`` become HTTP API events and are sent to the synthesized
``TileApi`` function through the emulator's Lambda Invoke (handlers run in its worker processes), just
as API Gateway invokes Lambda. Creating a viewpoint starts the synthesized ingest state machine, which
runs the real ingest handler. Local GeoJSON files (a job's features) are served under ``/features/``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from infra.local.http_api import ApiServer
from infra.local.runner import LocalPipeline

API_HANDLER = "tessera.handlers.tile_api.handler"


class LocalTileServer(AbstractContextManager["LocalTileServer"]):
    """The tile API on 127.0.0.1, backed by a running :class:`LocalPipeline`."""

    def __init__(self, pipeline: LocalPipeline, *, port: int = 0, features: dict[str, Path] | None = None) -> None:
        self.pipeline = pipeline
        self.port = port
        self.features = {f"/features/{name}": path for name, path in (features or {}).items()}
        self.server: ApiServer | None = None

    def _function_name(self) -> str:
        functions = json.loads((self.pipeline.work_dir / "functions.json").read_text())
        return next(name for name, spec in functions.items() if spec["handler"] == API_HANDLER)

    def __enter__(self) -> LocalTileServer:
        client = self.pipeline.emulator.client("lambda")  # type: ignore[union-attr]
        name = self._function_name()

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            reply = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
            payload = json.loads(reply["Payload"].read())
            if reply.get("FunctionError"):
                raise RuntimeError(payload.get("errorMessage", "the tile API function failed"))
            return dict(payload)

        self.server = ApiServer(invoke, self.port, self.features)
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        """The API's base URL."""
        if self.server is None:
            raise RuntimeError("LocalTileServer must be entered (with ...) before use")
        return self.server.url

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One JSON request to the API: ``(status, decoded body)``."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def create_viewpoint(self, image: Path, viewpoint_id: str, **fields: Any) -> dict[str, Any]:
        """Upload ``image`` and create a viewpoint of it through the API (which starts the ingest)."""
        key = f"viewpoint-sources/{viewpoint_id}/{image.name}"
        self.pipeline.s3.upload_file(str(image), self.pipeline.image_bucket, key)
        body = {
            "viewpoint_id": viewpoint_id,
            "viewpoint_name": image.name,
            "bucket_name": self.pipeline.image_bucket,
            "object_key": key,
            **fields,
        }
        status, item = self.call("POST", "/viewpoints", body)
        if status not in (201, 202):
            raise RuntimeError(f"creating viewpoint {viewpoint_id} failed ({status}): {item}")
        return dict(item)

    def wait_ready(self, viewpoint_id: str, timeout: float = 600) -> dict[str, Any]:
        """Poll until the viewpoint is READY or FAILED; return its item."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, item = self.call("GET", f"/viewpoints/{urllib.parse.quote(viewpoint_id)}")
            if status == 200 and item["viewpoint_status"] in ("READY", "FAILED"):
                return dict(item)
            time.sleep(0.2)
        raise TimeoutError(f"viewpoint {viewpoint_id} was not ingested within {timeout:.0f} s")

    def viewer_url(self, viewpoint_id: str, features: str | None = None) -> str:
        """The viewer page for a viewpoint, with a features file (a name given to ``features``) overlaid."""
        query = {"viewpoint": viewpoint_id}
        if features:
            query["features"] = f"/features/{features}"
        return f"{self.url}/viewer?{urllib.parse.urlencode(query)}"
