"""Geolocation throughput: vertices per second from image pixels to WGS84 through Tessera's sensor models.

Measures, on one core:

* ``tessera.geo.AffineSensorModel.image_to_world``: a 0.5 m UTM zone 18N geotransform (EPSG:32618) to WGS84;
  baseline ``rasterio.warp.transform`` of the same points, already in UTM (the PROJ call alone);
* ``tessera.geo.RPCSensorModel.image_to_world``: the RPCs of ``shared/data/rasterio/RGB.byte.rpc.vrt`` (a
  synthetic near-linear RPC when that file is absent), points over the RPCs' whole image; baseline
  ``rasterio.transform.RPCTransformer.xy`` on the same points;
* ``tessera.detections.geolocate_features`` for polygon features (4 corners + closing vertex each), through
  both models: geometry, bbox and centre of each feature; baseline the model's own rasterio call on the same
  polygon vertices.

Checks that each model's coordinates equal its baseline's. Goal: more than 1,000,000 vertices/s through
the affine and the RPC model.

Run: ``.venv/bin/python bench/bench_geolocation.py [--quick] [--strict]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Report, measure, rate, run_on_one_core, seconds

RPC_VRT = Path(__file__).resolve().parents[2] / "shared" / "data" / "rasterio" / "RGB.byte.rpc.vrt"
UTM_CRS = "EPSG:32618"
UTM_ORIGIN = (500_000.0, 4_500_000.0)
GSD_M = 0.5
IMAGE_PX = 100_000
GOAL_VERTICES_PER_S = 1_000_000


def synthetic_rpc() -> Any:
    """A near-linear RPC over a ~0.3 degree square (used only when the sample VRT is not there)."""
    from rasterio.rpc import RPC

    line_num = [0.0, 0.01, -1.0, 0.0, 0.001] + [0.0] * 15
    samp_num = [0.0, 1.0, 0.01, 0.0, 0.0, 0.001] + [0.0] * 14
    den = [1.0, 0.0005, 0.0005] + [0.0] * 17
    return RPC(
        height_off=100.0,
        height_scale=500.0,
        lat_off=40.0,
        lat_scale=0.15,
        line_den_coeff=den,
        line_num_coeff=line_num,
        line_off=15_000.0,
        line_scale=15_000.0,
        long_off=-75.0,
        long_scale=0.2,
        samp_den_coeff=den,
        samp_num_coeff=samp_num,
        samp_off=15_000.0,
        samp_scale=15_000.0,
    )


def rpcs_and_extent() -> tuple[Any, float, float, str]:
    """The RPCs, the width and height of the image they describe, and where they come from."""
    import rasterio

    if RPC_VRT.is_file():
        with rasterio.open(RPC_VRT) as dataset:
            rpcs = dataset.rpcs
        source = f"{RPC_VRT.name}'s RPCs"
    else:
        rpcs = synthetic_rpc()
        source = "synthetic RPCs"
    return rpcs, 2 * rpcs.samp_off, 2 * rpcs.line_off, source


def polygon_features(count: int, width: float, height: float, seed: int) -> tuple[list[dict[str, Any]], Any]:
    """``count`` features with a rotated-rectangle ``imageGeometry`` (5 vertices) and its ``imageBBox``.

    Returns the features and their polygon vertices as an ``(count * 5, 2)`` array (x, y).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(50, width - 50, count), rng.uniform(50, height - 50, count)
    half_w, half_h = rng.uniform(5, 30, (2, count))
    angle = rng.uniform(0, np.pi / 2, count)
    cos, sin = np.cos(angle), np.sin(angle)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=np.float64)
    dx, dy = corners[:, 0][None, :] * half_w[:, None], corners[:, 1][None, :] * half_h[:, None]
    xs = cx[:, None] + dx * cos[:, None] - dy * sin[:, None]
    ys = cy[:, None] + dx * sin[:, None] + dy * cos[:, None]
    vertices = np.stack([xs, ys], axis=-1)  # (count, 5, 2)
    features = []
    for ring, x_min, y_min, x_max, y_max in zip(
        vertices.tolist(), xs.min(1).tolist(), ys.min(1).tolist(), xs.max(1).tolist(), ys.max(1).tolist(), strict=True
    ):
        features.append(
            {
                "type": "Feature",
                "geometry": None,
                "properties": {
                    "imageGeometry": {"type": "Polygon", "coordinates": [ring]},
                    "imageBBox": [x_min, y_min, x_max, y_max],
                    "featureClasses": [{"iri": "vehicle", "score": 0.9}],
                },
            }
        )
    return features, vertices.reshape(-1, 2)


Baseline = Callable[[Any, Any], Callable[[], tuple[Any, Any]]]


def bench_model(report: Report, name: str, model: Any, baseline: Baseline, x: Any, y: Any, repeat: int) -> float:
    """Time a sensor model against its baseline on the same points; returns the model's vertices/s.

    ``baseline(x, y)`` returns a call that takes no argument, so that whatever it prepares (the UTM
    coordinates of the pixels for the affine case) is not timed.
    """
    import numpy as np

    call = baseline(x, y)
    ours, (lon, lat) = measure(lambda _: model.image_to_world(x, y), lambda: None, repeat)
    theirs, (lon_ref, lat_ref) = measure(lambda _: call(), lambda: None, repeat)
    n = len(x)
    report.row(f"{name}: Tessera, {n:,} vertices", rate(n, ours.best), str(ours))
    report.row(f"{name}: rasterio baseline", rate(n, theirs.best), str(theirs))
    report.row(f"{name}: Tessera / baseline throughput", f"{theirs.best / ours.best:.2f}x")
    lon_error = float(np.nanmax(np.abs(np.asarray(lon) - np.asarray(lon_ref))))
    lat_error = float(np.nanmax(np.abs(np.asarray(lat) - np.asarray(lat_ref))))
    error = max(lon_error, lat_error)
    report.row(f"{name}: largest difference from baseline", f"{error:.2e} deg")
    if not error < 1e-9:
        report.fail(f"{name} coordinates differ from rasterio's by {error:.2e} degrees")
    return n / ours.best


def bench_features(
    report: Report, name: str, model: Any, baseline: Baseline, size: tuple[float, float], count: int
) -> None:
    """Time ``geolocate_features`` on polygon features against the baseline on their polygon vertices."""
    from tessera.detections import geolocate_features

    _, vertices = polygon_features(count, *size, seed=3)
    call = baseline(vertices[:, 0], vertices[:, 1])
    ours, _ = measure(lambda f: geolocate_features(f, model), lambda: polygon_features(count, *size, seed=3)[0], 3)
    theirs, _ = measure(lambda _: call(), lambda: None, 3)
    n = len(vertices)
    report.row(f"geolocate_features, {name}: {count:,} polygons", rate(n, ours.best), f"vertices; {ours}")
    report.row(f"  baseline: {name} rasterio call on the {n:,} vertices", rate(n, theirs.best), str(theirs))
    report.row("  geolocate_features time / baseline time", f"{ours.best / theirs.best:.1f}x")


def profile_features(report: Report, model: Any, size: tuple[float, float], count: int) -> None:
    """Where ``geolocate_features`` spends its time (cProfile, cumulative time of its main callees)."""
    import cProfile
    import pstats

    from tessera.detections import geolocate_features

    features, _ = polygon_features(count, *size, seed=3)
    profiler = cProfile.Profile()
    profiler.enable()
    geolocate_features(features, model)
    profiler.disable()
    entries = pstats.Stats(profiler).stats
    total = sum(tt for (_, _, name), (_, _, tt, _, _) in entries.items())
    stages = (
        ("shapely.geometry.shape (GeoJSON -> shapely, per feature)", "geometry/geo.py", "shape"),
        ("shapely.geometry.mapping (shapely -> GeoJSON, per feature)", "geometry/geo.py", "mapping"),
        ("sensor model image_to_world (vectorized)", "sensor_models.py", "image_to_world"),
        ("shapely.transform (vectorized)", "shapely", "transform"),
    )
    report.section(f"where geolocate_features' time goes ({count:,} polygons, {seconds(total)} under cProfile)")
    for label, suffix, function in stages:
        spent = sum(
            ct
            for (file, _, name), (_, _, _, ct, _) in entries.items()
            if name == function and suffix in file and "tessera/detections" not in file
        )
        report.row(label, f"{seconds(spent)} {spent / total:6.1%}")


def main() -> int:
    """Run the benchmark and print its report."""
    run_on_one_core()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 vertices instead of 2,000,000")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = parser.parse_args()
    vertices = 200_000 if args.quick else 2_000_000
    feature_count = 20_000 if args.quick else 200_000

    import numpy as np
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.transform import RPCTransformer
    from rasterio.warp import transform as warp_transform

    from tessera.geo import AffineSensorModel, RPCSensorModel

    report = Report("bench_geolocation")
    rpcs, rpc_width, rpc_height, rpc_source = rpcs_and_extent()
    report.header(
        f"affine: {GSD_M} m pixels in {UTM_CRS} (UTM 18N) -> EPSG:4326; RPC: {rpc_source}, "
        f"{rpc_width:.0f} x {rpc_height:.0f} px, height 0",
        "points uniformly random over the image; best of 5 runs (3 for features); one core",
    )
    rng = np.random.default_rng(11)
    transform = Affine(GSD_M, 0.0, UTM_ORIGIN[0], 0.0, -GSD_M, UTM_ORIGIN[1])
    crs = CRS.from_string(UTM_CRS)
    wgs84 = CRS.from_epsg(4326)
    affine_model = AffineSensorModel(transform, crs)
    rpc_model = RPCSensorModel(rpcs)
    rpc_transformer = RPCTransformer(rpcs)

    def affine_baseline(x: Any, y: Any) -> Callable[[], tuple[Any, Any]]:
        east, north = transform * (x, y)  # untimed: the baseline is PROJ's transform alone
        return lambda: warp_transform(crs, wgs84, east, north)

    def rpc_baseline(x: Any, y: Any) -> Callable[[], tuple[Any, Any]]:
        return lambda: rpc_transformer.xy(y, x, offset="ul")

    report.section("sensor models")
    ax, ay = rng.uniform(0, IMAGE_PX, vertices), rng.uniform(0, IMAGE_PX, vertices)
    affine_rate = bench_model(report, "affine", affine_model, affine_baseline, ax, ay, 5)
    rx, ry = rng.uniform(0, rpc_width, vertices), rng.uniform(0, rpc_height, vertices)
    rpc_rate = bench_model(report, "rpc", rpc_model, rpc_baseline, rx, ry, 5)

    report.section("geolocate_features (polygons of 5 vertices; plus a centre and 4 bbox corners per feature)")
    bench_features(report, "affine", affine_model, affine_baseline, (IMAGE_PX, IMAGE_PX), feature_count)
    bench_features(report, "rpc", rpc_model, rpc_baseline, (rpc_width, rpc_height), feature_count)
    profile_features(report, affine_model, (IMAGE_PX, IMAGE_PX), 20_000)
    rpc_transformer.close()

    for name, value in (("AffineSensorModel", affine_rate), ("RPCSensorModel", rpc_rate)):
        report.goal(
            f"{name} > {GOAL_VERTICES_PER_S:,} vertices/s",
            value > GOAL_VERTICES_PER_S,
            f"{value / 1e6:.2f} M vertices/s on one core",
        )
    return report.finish(args.strict)


if __name__ == "__main__":
    sys.exit(main())
