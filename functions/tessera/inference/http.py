"""Models behind an HTTP endpoint (OSML's HTTP_ENDPOINT): POST the encoded tile, read GeoJSON back."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Any

from tessera.errors import ModelError
from tessera.imagery import TileData, encode_tile
from tessera.inference.contract import parse_model_response
from tessera.inference.retry import RetryableError, with_retries

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_TYPES = {"GTIFF": "image/tiff", "NITF": "image/nitf", "PNG": "image/png", "JPEG": "image/jpeg"}


class HTTPDetector:
    """POSTs each tile to ``url``; parameters become headers (``CustomAttributes`` → the SageMaker header).

    Transient failures (connection errors, 408/429/5xx) are retried with backoff and full jitter; any
    other failure fails the tile with the endpoint's status and reason.
    """

    def __init__(
        self,
        url: str,
        *,
        parameters: dict[str, Any] | None = None,
        tile_format: str = "GTIFF",
        tile_compression: str = "NONE",
        timeout_seconds: float = 70.0,
        attempts: int = 5,
    ) -> None:
        self.name = url
        self.url = url
        self.tile_format = tile_format
        self.tile_compression = tile_compression
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.headers = {"Content-Type": _CONTENT_TYPES.get(tile_format, "application/octet-stream")}
        for key, value in (parameters or {}).items():
            self.headers[CUSTOM_ATTRIBUTES_HEADER if key == "CustomAttributes" else str(key)] = str(value)

    def _post(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read()[:200].decode(errors="replace")
            message = f"model endpoint {self.url} answered {err.code} {err.reason}: {detail}"
            if err.code in _RETRYABLE_STATUS:
                raise RetryableError(message) from None
            raise ModelError(message) from None
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
            raise RetryableError(f"model endpoint {self.url} unreachable: {err}") from None

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """POST the encoded tile and parse the features in the answer."""
        body = encode_tile(tile, self.tile_format, self.tile_compression)
        try:
            answer = with_retries(lambda: self._post(body), attempts=self.attempts)
        except RetryableError as err:
            raise ModelError(f"{err} (after {self.attempts} attempts)") from None
        return parse_model_response(answer, self.url)
