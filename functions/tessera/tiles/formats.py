"""Output formats of pixel responses, their media types, and which pixel types each can hold."""

from __future__ import annotations

from enum import StrEnum

from tessera.errors import InvalidRequestError


class ImageFormat(StrEnum):
    """Formats the tile API writes (OSML's NITF, JPEG, PNG, GTiff, plus WEBP)."""

    PNG = "PNG"
    JPEG = "JPEG"
    WEBP = "WEBP"
    GTIFF = "GTIFF"
    NITF = "NITF"

    @property
    def media_type(self) -> str:
        """The Content-Type of a response in this format."""
        return _MEDIA_TYPES[self]

    @property
    def eight_bit_only(self) -> bool:
        """JPEG and WEBP hold 8-bit pixels only."""
        return self in (ImageFormat.JPEG, ImageFormat.WEBP)

    @property
    def has_alpha(self) -> bool:
        """Formats that carry the validity mask as transparency."""
        return self in (ImageFormat.PNG, ImageFormat.WEBP)

    def holds(self, dtype: str) -> bool:
        """True when this format stores ``dtype`` pixels as they are.

        Example:
            >>> ImageFormat.PNG.holds("uint16"), ImageFormat.JPEG.holds("uint16"), ImageFormat.GTIFF.holds("float32")
            (True, False, True)
        """
        if self is ImageFormat.PNG:
            return dtype in ("uint8", "uint16")
        if self.eight_bit_only:
            return dtype == "uint8"
        return True


_MEDIA_TYPES = {
    ImageFormat.PNG: "image/png",
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.GTIFF: "image/tiff",
    ImageFormat.NITF: "image/nitf",
}
_ALIASES = {"JPG": ImageFormat.JPEG, "TIF": ImageFormat.GTIFF, "TIFF": ImageFormat.GTIFF, "NTF": ImageFormat.NITF}


def parse_format(text: str) -> ImageFormat:
    """The format a path's extension names (case-insensitive; jpg, tif/tiff and ntf are accepted).

    Raises:
        InvalidRequestError: for any other extension, listing the accepted ones.

    Example:
        >>> parse_format("png"), parse_format("JPG"), parse_format("tif")
        (<ImageFormat.PNG: 'PNG'>, <ImageFormat.JPEG: 'JPEG'>, <ImageFormat.GTIFF: 'GTIFF'>)
    """
    upper = text.upper()
    if upper in _ALIASES:
        return _ALIASES[upper]
    try:
        return ImageFormat(upper)
    except ValueError:
        accepted = ", ".join(f.value.lower() for f in ImageFormat)
        raise InvalidRequestError(f"format '{text}' is not supported; use one of {accepted}", "format") from None
