"""Shared fixtures of the unit tests: the real test images in ../shared/data/rasterio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

#: rasterio's test images, shared next to the checkout (``/work/shared/data/rasterio`` for ``/work/main``).
DATA_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "rasterio"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of real test images; tests that need it skip cleanly when it is absent."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"test imagery not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def data_file(data_dir: Path) -> Callable[[str], Path]:
    """``data_file("RGB.byte.tif")``: the path of one test image, skipping when that file is missing."""

    def find(name: str) -> Path:
        path = data_dir / name
        if not path.is_file():
            pytest.skip(f"test image {name} not found in {data_dir}")
        return path

    return find
