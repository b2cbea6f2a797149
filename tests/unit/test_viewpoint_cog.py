"""COGs and statistics of the shared sample images: every kind of mask, type and georeferencing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import MaskFlags
from rio_cogeo.cogeo import cog_validate

from tessera.errors import ImageReadError
from tessera.viewpoints.cog import write_cog
from tessera.viewpoints.ingest import ingest
from tessera.viewpoints.statistics import band_statistics, dra_range

SAMPLES = [
    "RGB.byte.tif",
    "RGBA.uint16.tif",
    "float_nan.tif",
    "rotated.tif",
    "all-nodata.tif",
    "cogeo.tif",
    "shade.tif",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_cog_is_valid_keeps_valid_pixels_and_has_an_internal_mask(
    data_dir: Path, tmp_path: Path, name: str
) -> None:
    with rasterio.open(data_dir / name) as source:
        report = write_cog(source, tmp_path / "cog.tif")
        valid = source.dataset_mask() > 0
    assert cog_validate(str(tmp_path / "cog.tif"), quiet=True)[0]
    with rasterio.open(tmp_path / "cog.tif") as cog:
        assert np.array_equal(cog.dataset_mask() > 0, valid)
        assert cog.mask_flag_enums[0] == [MaskFlags.per_dataset], "validity as an internal mask"
        if min(cog.width, cog.height) > 512:
            assert cog.overviews(1) and report["overviews"] == cog.overviews(1)


@pytest.mark.parametrize("name", SAMPLES)
def test_statistics_count_only_valid_finite_pixels(data_dir: Path, name: str) -> None:
    with rasterio.open(data_dir / name) as source:
        stats = band_statistics(source, rows=100)  # several strips
        pixels = source.read(masked=True)
        valid = source.dataset_mask() > 0
    for band in range(source.count):
        values = pixels[band].data[valid]
        if np.issubdtype(values.dtype, np.floating):
            values = values[np.isfinite(values)]
        b = stats[f"b{band + 1}"]
        assert b["count"] == values.size
        if values.size:
            assert (b["min"], b["max"]) == (float(values.min()), float(values.max()))
            assert b["mean"] == pytest.approx(float(values.astype(np.float64).mean()), rel=1e-9)
            assert b["min"] <= b["percentile_2"] <= b["median"] <= b["percentile_98"] <= b["max"]
        else:
            assert b["valid_percent"] == 0.0 and "min" not in b


def test_dra_widens_the_set_points_and_stays_in_range() -> None:
    assert dra_range(100.0, 200.0, 0.0, 1000.0) == (80.0, 240.0)
    assert dra_range(5.0, 250.0, 0.0, 255.0) == (0.0, 255.0)


def test_ingest_refuses_what_cannot_be_shown(tmp_path: Path) -> None:
    path = tmp_path / "complex.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="complex64") as dst:
        dst.write(np.ones((1, 4, 4), np.complex64))
    with pytest.raises(ImageReadError, match="complex64, which cannot be displayed"):
        ingest(str(path), tmp_path / "out", name="c")
