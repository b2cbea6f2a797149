"""Reading images with rasterio/GDAL: from S3 (/vsis3) or local paths, windowed, nodata-aware."""

from tessera.imagery.encoding import band_counts, encode_tile
from tessera.imagery.reader import ImageInfo, TileData, gdal_path, image_info, open_image, read_tile

__all__ = ["ImageInfo", "TileData", "band_counts", "encode_tile", "gdal_path", "image_info", "open_image", "read_tile"]
