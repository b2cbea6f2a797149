"""API Gateway HTTP API (payload 2.0) on 127.0.0.1: requests become the events Lambda would get.

``ApiServer`` turns each HTTP request into an HTTP API event, hands it to ``invoke`` (a handler run in
worker processes, as Lambda runs concurrent requests in separate containers) and writes the reply back,
decoding base64 bodies as API Gateway does. Local files can be served beside the API (``extra_files``),
e.g. a job's features for the viewer.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def http_event(
    method: str,
    path: str,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
) -> dict[str, Any]:
    """The HTTP API (2.0) event for one request.

    Example:
        >>> event = http_event("GET", "/viewpoints", {"max_results": "5"})
        >>> event["rawQueryString"], event["requestContext"]["http"]["method"]
        ('max_results=5', 'GET')
    """
    raw_body = body.encode() if isinstance(body, str) else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urllib.parse.urlencode(query or {}),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "queryStringParameters": dict(query) if query else None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(raw_body).decode() if raw_body else None,
        "isBase64Encoded": bool(raw_body),
    }


def response_parts(result: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes of a Lambda proxy reply (as API Gateway sends them on)."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ", ".join(str(v) for v in values)
    return int(result.get("statusCode", 200)), headers, data


class ApiServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that forwards every request to ``invoke`` as an HTTP API event."""

    daemon_threads = True

    def __init__(self, invoke: Invoke, port: int = 0, extra_files: Mapping[str, Path] | None = None) -> None:
        self.invoke = invoke
        self.extra_files = dict(extra_files or {})
        self.requests: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, path: str, status: int) -> None:
        """Remember a request's path and status (the browser test reads them)."""
        with self._lock:
            self.requests.append((path, status))

    def start(self) -> threading.Thread:
        """Serve in a background thread."""
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="tessera-api")
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        if path in self.server.extra_files:
            self._reply(200, {"Content-Type": "application/geo+json"}, self.server.extra_files[path].read_bytes())
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        event = http_event(self.command, path, query, dict(self.headers.items()), body)
        try:
            status, headers, data = response_parts(self.server.invoke(event))
        except Exception as err:  # the function itself crashed: API Gateway answers 500
            status, headers, data = 500, {"Content-Type": "application/json"}, json.dumps(
                {"message": f"Internal Server Error ({type(err).__name__})"}
            ).encode()
        self._reply(status, headers, data)

    def _reply(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.server.record(self.path, status)
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)) if status not in (204, 304) else "0")
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test and the CLI report what matters."""
