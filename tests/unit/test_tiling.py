"""OSML's variable-overlap tiling (tessera.tiling.grid): OSML's own oracle and properties over random sizes."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from itertools import pairwise

import pytest

from tessera.tiling import ImageRegion, adjusted_overlap, adjusted_region_size, generate_regions, generate_tiles

Size = tuple[int, int]


def tiling(
    bounds: ImageRegion, region: int, tile: int, overlap: int
) -> tuple[list[ImageRegion], list[list[ImageRegion]]]:
    regions = generate_regions(bounds, (region, region), (tile, tile), (overlap, overlap))
    return regions, [generate_tiles(r, (tile, tile), (overlap, overlap)) for r in regions]


# --- OSML's unit-test oracle (test_variable_overlap_tiling_strategy.py) ---------------------------------------


def test_osml_oracle_regions() -> None:
    regions = generate_regions(ImageRegion(0, 0, 25000, 12000), (10000, 10000), (4096, 4096), (100, 100))
    assert len(regions) == 8
    assert regions[0] == ImageRegion(row=0, col=0, width=7580, height=8048)
    assert regions[0].to_osml() == [[0, 0], [7580, 8048]]
    assert regions[-1] == ImageRegion(row=7904, col=20904, width=4096, height=4096)
    assert ImageRegion.from_osml(((7904, 20904), (4096, 4096))) in regions


def test_osml_oracle_tiles_of_the_first_region() -> None:
    tiles = generate_tiles(ImageRegion.from_osml(((0, 0), (7580, 8048))), (4096, 4096), (100, 100))
    assert len(tiles) == 4
    assert all((t.width, t.height) == (4096, 4096) for t in tiles)
    assert tiles[0] == ImageRegion(0, 0, 4096, 4096)
    assert {(t.row, t.col) for t in tiles} == {(0, 0), (0, 3484), (3952, 0), (3952, 3484)}


def test_osml_oracle_adjusted_overlap_and_region_size() -> None:
    assert adjusted_overlap(25000, 4096, 100) == 612
    assert adjusted_overlap(12000, 4096, 100) == 144
    assert adjusted_region_size(10000, 4096, 612) == 7580
    assert adjusted_region_size(10000, 4096, 144) == 8048


def test_osml_oracle_whole_image() -> None:
    bounds = ImageRegion(0, 0, 25000, 12000)
    regions, per_region = tiling(bounds, 10000, 4096, 100)
    tiles = [t for ts in per_region for t in ts]
    assert len(regions) == 8
    assert len(tiles) == len(set(tiles)) == 7 * 3  # 7 columns of tiles (overlap 612), 3 rows (overlap 144)
    assert {t.col for t in tiles} == {i * (4096 - 612) for i in range(7)}
    assert {t.row for t in tiles} == {i * (4096 - 144) for i in range(3)}
    assert max(t.col + t.width for t in tiles) == 25000
    assert max(t.row + t.height for t in tiles) == 12000


def test_image_region_forms() -> None:
    region = ImageRegion.from_osml([[10, 20], [30, 40]])
    assert region == ImageRegion(row=10, col=20, width=30, height=40)
    assert region.to_osml() == [[10, 20], [30, 40]]
    assert region.region_key == "(10, 20)(30, 40)"


# --- the per-axis arithmetic against an independent computation ------------------------------------------------


def test_adjusted_overlap_makes_whole_tiles_fit() -> None:
    rng = random.Random(42)
    for _ in range(3000):
        tile = rng.randint(2, 5000)
        overlap = rng.randint(0, tile - 1)
        length = rng.randint(tile + 1, 60 * tile)
        adjusted = adjusted_overlap(length, tile, overlap)
        n = math.ceil((length - overlap) / (tile - overlap))
        assert adjusted >= overlap
        assert adjusted == overlap + math.ceil((overlap + n * (tile - overlap) - length) / (n - 1))
        if adjusted < tile:
            span = (n - 1) * (tile - adjusted) + tile  # n full tiles with the adjusted overlap
            assert length - (n - 2) <= span <= length


def test_adjusted_region_size_is_whole_strides_plus_overlap() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        tile = rng.randint(2, 5000)
        overlap = rng.randint(0, tile - 1)
        region = rng.randint(tile, 20 * tile)
        size = adjusted_region_size(region, tile, overlap)
        stride = tile - overlap
        assert tile <= size <= region
        assert (size - overlap) % stride == 0
        assert size + stride > region  # the largest such size


@pytest.mark.parametrize(("length", "tile", "overlap"), [(100, 10, 10), (100, 10, 11), (100, 10, -1)])
def test_invalid_overlap_is_rejected(length: int, tile: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        adjusted_overlap(length, tile, overlap)
    with pytest.raises(ValueError, match="overlap"):
        generate_regions(ImageRegion(0, 0, length, length), (4 * tile, 4 * tile), (tile, tile), (overlap, overlap))


# --- properties over random sizes ----------------------------------------------------------------------------


def random_cases(seed: int, count: int) -> Iterator[tuple[ImageRegion, int, int, int]]:
    """Processing bounds (at a random origin, as for a region of interest), region, tile and overlap sizes."""
    rng = random.Random(seed)
    for _ in range(count):
        tile = rng.choice([64, 100, 256, 512, 1024])
        overlap = rng.choice([0, rng.randint(0, tile // 8), rng.randint(0, tile // 2)])
        width, height = rng.randint(tile, 14 * tile), rng.randint(tile, 14 * tile)
        origin = (rng.choice([0, rng.randint(0, 5000)]), rng.choice([0, rng.randint(0, 5000)]))
        region = rng.randint(tile, 5 * tile)
        yield ImageRegion(origin[0], origin[1], width, height), region, tile, overlap


def inside(inner: ImageRegion, outer: ImageRegion) -> bool:
    return (
        outer.row <= inner.row
        and outer.col <= inner.col
        and inner.row + inner.height <= outer.row + outer.height
        and inner.col + inner.width <= outer.col + outer.width
    )


def test_tiles_are_full_size_unique_and_inside_bounds_and_regions() -> None:
    for bounds, region_size, tile, overlap in random_cases(seed=1, count=250):
        case = (bounds, region_size, tile, overlap)
        regions, per_region = tiling(bounds, region_size, tile, overlap)
        tiles = [t for ts in per_region for t in ts]

        assert regions, case
        assert len(regions) == len(set(regions)), case
        assert all(inside(r, bounds) for r in regions), case
        assert all(r.width >= tile and r.height >= tile for r in regions), case
        assert all((t.width, t.height) == (tile, tile) for t in tiles), case
        assert all(inside(t, bounds) for t in tiles), case
        assert all(inside(t, r) for r, ts in zip(regions, per_region, strict=True) for t in ts), case
        assert len(tiles) == len(set(tiles)), case  # no tile is cut twice by overlapping regions
        assert regions == sorted(regions, key=lambda r: (r.row, r.col)), case  # row-major


def test_tiles_form_one_grid_starting_at_the_origin_without_holes() -> None:
    for bounds, region_size, tile, overlap in random_cases(seed=2, count=250):
        case = (bounds, region_size, tile, overlap)
        regions, per_region = tiling(bounds, region_size, tile, overlap)
        tiles = {t for ts in per_region for t in ts}
        cols = sorted({t.col for t in tiles})
        rows = sorted({t.row for t in tiles})

        # the tile count is the product of the tile columns and rows: the tiles of all regions form one grid
        assert len(tiles) == len(cols) * len(rows), case
        assert tiles == {ImageRegion(r, c, tile, tile) for r in rows for c in cols}, case
        assert (rows[0], cols[0]) == (bounds.row, bounds.col), case
        # consecutive tiles touch or overlap: no pixel between the first and the last tile is skipped
        assert all(b - a <= tile for a, b in pairwise(cols)), case
        assert all(b - a <= tile for a, b in pairwise(rows)), case
        # region count: the product of the distinct region rows and columns
        assert len(regions) == len({r.row for r in regions}) * len({r.col for r in regions}), case


def test_tiles_of_one_region_overlap_by_at_least_the_requested_overlap() -> None:
    for bounds, region_size, tile, overlap in random_cases(seed=3, count=250):
        for tiles in tiling(bounds, region_size, tile, overlap)[1]:
            for axis_starts in ({t.col for t in tiles}, {t.row for t in tiles}):
                starts = sorted(axis_starts)
                assert all(tile - (b - a) >= overlap for a, b in pairwise(starts)), (
                    bounds,
                    region_size,
                    tile,
                    overlap,
                )


def test_tiling_at_a_region_of_interest_origin_is_the_image_tiling_shifted() -> None:
    for bounds, region_size, tile, overlap in random_cases(seed=4, count=150):
        at_zero = ImageRegion(0, 0, bounds.width, bounds.height)
        shifted_regions, shifted_tiles = tiling(bounds, region_size, tile, overlap)
        regions, tiles = tiling(at_zero, region_size, tile, overlap)

        def move(r: ImageRegion, b: ImageRegion = bounds) -> ImageRegion:
            return ImageRegion(r.row + b.row, r.col + b.col, r.width, r.height)

        assert shifted_regions == [move(r) for r in regions]
        assert shifted_tiles == [[move(t) for t in ts] for ts in tiles]


def test_only_osml_rounding_leaves_edge_pixels_out() -> None:
    """OSML rounds the adjusted overlap up, so the last full tile may stop short of the edge (documented in
    docs/image-request.md); the strip left out is always narrower than the gaps between tiles."""
    for bounds, region_size, tile, overlap in random_cases(seed=5, count=250):
        _, per_region = tiling(bounds, region_size, tile, overlap)
        tiles = {t for ts in per_region for t in ts}
        columns, rows = {t.col for t in tiles}, {t.row for t in tiles}
        gap_x = bounds.col + bounds.width - max(t.col + t.width for t in tiles)
        gap_y = bounds.row + bounds.height - max(t.row + t.height for t in tiles)
        assert 0 <= gap_x < max(len(columns), 1) and 0 <= gap_y < max(len(rows), 1), (
            bounds,
            region_size,
            tile,
            overlap,
        )


def test_default_settings_on_a_large_image_leave_an_edge_strip_documented_as_osml() -> None:
    """Observed (OSML-exact): 48 px of a 25000 px image's right and bottom edges are not tiled with 512/32."""
    bounds = ImageRegion(0, 0, 25000, 25000)
    _, per_region = tiling(bounds, 10240, 512, 32)
    tiles = {t for ts in per_region for t in ts}
    assert 25000 - max(t.col + t.width for t in tiles) == 48
    assert all((t.width, t.height) == (512, 512) for t in tiles)


# --- special cases ---------------------------------------------------------------------------------------------


def test_overlap_zero() -> None:
    regions, per_region = tiling(ImageRegion(0, 0, 4096, 2048), 2048, 1024, 0)
    tiles = [t for ts in per_region for t in ts]
    assert len(regions) == 2 * 1
    assert sorted(tiles) == sorted(ImageRegion(r, c, 1024, 1024) for r in (0, 1024) for c in (0, 1024, 2048, 3072))

    # when the tiles do not divide the length, the overlap grows from 0 so that only full tiles are cut
    regions, per_region = tiling(ImageRegion(0, 0, 5000, 1024), 10240, 1024, 0)
    cols = sorted(t.col for ts in per_region for t in ts)
    assert adjusted_overlap(5000, 1024, 0) == 30
    assert cols == [0, 994, 1988, 2982, 3976]
    assert cols[-1] + 1024 == 5000


def test_image_smaller_than_a_tile_is_one_partial_tile() -> None:
    bounds = ImageRegion(0, 0, 300, 200)
    regions, per_region = tiling(bounds, 10240, 512, 50)
    assert regions == [bounds]
    assert per_region == [[bounds]]


def test_tiny_image_smaller_than_the_overlap_is_one_tile() -> None:
    bounds = ImageRegion(12, 34, 30, 20)
    regions, per_region = tiling(bounds, 10240, 512, 50)
    assert regions == [bounds]
    assert per_region == [[bounds]]


def test_image_region_exactly_one_tile() -> None:
    bounds = ImageRegion(0, 0, 512, 512)
    assert tiling(bounds, 10240, 512, 50) == ([bounds], [[bounds]])


@pytest.mark.parametrize("bounds", [ImageRegion(0, 0, 40, 3000), ImageRegion(0, 0, 3000, 40)])
def test_strip_thinner_than_the_overlap_is_covered(bounds: ImageRegion) -> None:
    _, per_region = tiling(bounds, 10240, 512, 50)
    tiles = [t for ts in per_region for t in ts]
    assert max(t.row + t.height for t in tiles) == bounds.height
    assert max(t.col + t.width for t in tiles) == bounds.width


def test_strip_narrower_than_a_tile_is_covered() -> None:
    bounds = ImageRegion(0, 0, 300, 3000)
    _, per_region = tiling(bounds, 10240, 512, 50)
    tiles = [t for ts in per_region for t in ts]
    assert all(t.width == 300 for t in tiles)
    assert max(t.row + t.height for t in tiles) == 3000
    rows = sorted(t.row for t in tiles)
    assert rows[0] == 0 and all(512 - (b - a) >= 50 for a, b in pairwise(rows))
