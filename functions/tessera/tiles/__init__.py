"""Serving pixels of a READY viewpoint: OSML's image tiles, map tiles, crops and previews, through rio-tiler."""

from tessera.tiles.formats import ImageFormat
from tessera.tiles.render import Rendered

__all__ = ["ImageFormat", "Rendered"]
