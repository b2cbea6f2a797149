"""Detections: model output refined into image pixels, geolocated, and given OSML's output properties."""

from tessera.detections.features import (
    feature_box,
    feature_class,
    finalize_feature,
    finalize_features,
    geolocate_features,
    refine_tile_features,
)
from tessera.detections.source import source_metadata

__all__ = [
    "feature_box",
    "feature_class",
    "finalize_feature",
    "finalize_features",
    "geolocate_features",
    "refine_tile_features",
    "source_metadata",
]
