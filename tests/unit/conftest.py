"""Shared fixtures of the unit tests (``data_dir`` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_file(data_dir: Path) -> Callable[[str], Path]:
    """``data_file("RGB.byte.tif")``: the path of one test image, skipping when that file is missing."""

    def find(name: str) -> Path:
        path = data_dir / name
        if not path.is_file():
            pytest.skip(f"test image {name} not found in {data_dir}")
        return path

    return find
