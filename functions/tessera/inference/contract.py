"""OSML's model contract: the response a model returns for one tile.

A model answers with a GeoJSON FeatureCollection whose features carry ``imageGeometry`` and/or
``imageBBox`` in tile pixels and ``featureClasses``; the deprecated ``bounds_imcoords``,
``geom_imcoords``, ``feature_types`` and ``detection_score`` are still accepted (see
:mod:`tessera.detections.features`). A bare list of features is accepted too.
"""

from __future__ import annotations

import json
from typing import Any

from tessera.errors import ModelError


def parse_model_response(body: bytes | str, model: str) -> list[dict[str, Any]]:
    """The features in a model's response.

    Raises:
        ModelError: for a body that is not JSON, or JSON that is not a FeatureCollection or feature list.

    Example:
        >>> parse_model_response(b'{"type": "FeatureCollection", "features": []}', "m")
        []
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"model {model} returned a response that is not JSON: {err}") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
    elif isinstance(document, dict) and document.get("type") == "Feature":
        features = [document]
    else:
        features = document
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        keys = sorted(document)[:5] if isinstance(document, dict) else type(document).__name__
        raise ModelError(f"model {model} returned no GeoJSON FeatureCollection (got {keys})")
    return features
