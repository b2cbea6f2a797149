"""HTTP caching for pixel and document responses: strong ETags from the viewpoint's version, 304s, Cache-Control.

The ETag is computed from what determines the response (viewpoint id and version, path and query)
before any pixel is read, so a revalidation costs a table lookup and nothing else. The version changes
whenever the viewpoint is ingested again or its display settings change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def etag(item: Mapping[str, Any], path: str, query: Mapping[str, str] | None) -> str:
    """A strong ETag for the response to ``path?query`` of this viewpoint version.

    Example:
        >>> item = {"viewpoint_id": "a", "version": 2, "ready_time": 1}
        >>> etag(item, "/x", {"b": "1"}) == etag(item, "/x", {"b": "1"}) != etag(item, "/x", {"b": "2"})
        True
    """
    canonical = "&".join(f"{k}={v}" for k, v in sorted((query or {}).items()))
    text = f"{item['viewpoint_id']}|{item.get('version', 0)}|{item.get('ready_time', 0)}|{path}?{canonical}"
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """True when the client's ``If-None-Match`` names ``tag`` (or ``*``); weak validators compare equal.

    Example:
        >>> not_modified('W/"abc", "def"', '"abc"'), not_modified(None, '"abc"'), not_modified("*", '"x"')
        (True, False, True)
    """
    if not if_none_match:
        return False
    candidates = {c.strip().removeprefix("W/") for c in if_none_match.split(",")}
    return "*" in candidates or tag in candidates


def cache_headers(tag: str, max_age: int) -> dict[str, str]:
    """The validator and freshness headers of a cacheable response."""
    return {"ETag": tag, "Cache-Control": f"public, max-age={max_age}"}
