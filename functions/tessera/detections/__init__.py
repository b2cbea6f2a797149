"""Detections: model output refined into image pixels, geolocated, and given OSML's output properties."""

from tessera.detections.features import (
    feature_box,
    feature_class,
    finalize_features,
    geolocate_features,
    refine_tile_features,
)

__all__ = ["feature_box", "feature_class", "finalize_features", "geolocate_features", "refine_tile_features"]
