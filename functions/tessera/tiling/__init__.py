"""Regions and tiles: OSML's variable-overlap tiling, reproduced exactly."""

from tessera.tiling.bounds import processing_bounds
from tessera.tiling.grid import (
    ImageRegion,
    adjusted_overlap,
    adjusted_region_size,
    generate_regions,
    generate_tiles,
)

__all__ = [
    "ImageRegion",
    "adjusted_overlap",
    "adjusted_region_size",
    "generate_regions",
    "generate_tiles",
    "processing_bounds",
]
