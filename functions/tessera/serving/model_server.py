"""The SageMaker / OSML model container contract over HTTP, for the built-in models.

* ``GET /ping`` answers 200 when the server is healthy.
* ``POST /invocations`` takes the tile's encoded bytes (any format GDAL reads: GeoTIFF, NITF, PNG,
  JPEG) and answers a GeoJSON FeatureCollection in tile pixels.
* The model is chosen by ``X-Amzn-SageMaker-Custom-Attributes`` (``model_selection=NAME``, or a bare
  name) or the server's default; other ``key=value`` attributes are the model's parameters.

It listens on port 8080 by default, like a SageMaker container; ``tessera serve-model`` runs it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import MemoryFile

from tessera.errors import InvalidRequestError, ModelError
from tessera.imagery import TileData
from tessera.inference.builtin import BUILTIN_MODELS, ModelFailure, custom_attributes
from tessera.tiling import ImageRegion

logger = logging.getLogger(__name__)
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


def decode_tile(body: bytes) -> TileData:
    """Pixels of an encoded tile, as the models see them.

    Raises:
        ValueError: when GDAL cannot read the bytes as an image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with MemoryFile(body) as memfile, memfile.open() as dataset:
                pixels = dataset.read()
                valid = dataset.dataset_mask() > 0
        except RasterioIOError as err:
            raise ValueError(f"the request body is not an image GDAL can read: {err}") from None
    _, height, width = pixels.shape
    return TileData(tile=ImageRegion(0, 0, width, height), pixels=pixels, valid=valid)


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._reply(status, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        """``/ping``: the health check."""
        if self.path.split("?")[0] == "/ping":
            self._reply(HTTPStatus.OK, b"{}")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}; use GET /ping or POST /invocations")

    def do_POST(self) -> None:
        """``/invocations``: run the selected model on the tile in the body."""
        if self.path.split("?")[0] != "/invocations":
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}; use POST /invocations")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parameters = {"CustomAttributes": self.headers.get(CUSTOM_ATTRIBUTES_HEADER, "")}
        name = custom_attributes(parameters).get("model_selection") or self.server.default_model
        model = BUILTIN_MODELS.get(name or "")
        if model is None:
            known = ", ".join(sorted(BUILTIN_MODELS))
            self._error(HTTPStatus.BAD_REQUEST, f"no model selected or unknown model {name!r} (known: {known})")
            return
        try:
            tile = decode_tile(body)
        except ValueError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))
            return
        try:
            features = model(parameters).detect(tile)
        except ModelFailure as failure:
            time.sleep(failure.delay_seconds)
            self._reply(failure.status, failure.body)
            return
        except InvalidRequestError as err:
            self._error(HTTPStatus.BAD_REQUEST, err.message)
            return
        except ModelError as err:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, err.message)
            return
        self._reply(HTTPStatus.OK, json.dumps({"type": "FeatureCollection", "features": features}).encode())


class ModelServer(ThreadingHTTPServer):
    """The HTTP server; ``serve_in_background()`` for tests, ``serve_forever()`` for the CLI.

    Example:
        >>> server = ModelServer(("127.0.0.1", 0), default_model="centerpoint")
        >>> server.server_address[1] > 0
        True
        >>> server.server_close()
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 8080), default_model: str | None = None) -> None:
        super().__init__(address, _Handler)
        self.default_model = default_model

    @property
    def url(self) -> str:
        """The ``/invocations`` URL."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/invocations"

    def serve_in_background(self) -> threading.Thread:
        """Serve from a daemon thread; stop with ``shutdown()``."""
        thread = threading.Thread(target=self.serve_forever, name="model-server", daemon=True)
        thread.start()
        return thread
