"""Viewpoints: an image made ready for interactive viewing (OSML tile server's viewpoint, serverless).

Ingest turns a source image into a Cloud-Optimized GeoTIFF in its own pixel grid plus JSON sidecars
(metadata, bounds, footprint, full-resolution statistics); the tile API then serves pixels from it.
"""

from tessera.viewpoints.models import (
    RangeAdjustment,
    ViewpointCreate,
    ViewpointStatus,
    ViewpointUpdate,
)

__all__ = ["RangeAdjustment", "ViewpointCreate", "ViewpointStatus", "ViewpointUpdate"]
