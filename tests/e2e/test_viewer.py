"""The viewer in Debian's headless Chromium: a viewpoint's tiles with a job's detections, from `tessera serve`'s stack.

The detections come from a real job (the CFAR model on a synthetic NITF with RPCs, through the local
pipeline); the viewpoint of the same image is created through the tile API, which starts the ingest
state machine. The screenshot is kept in ``test-artifacts/`` (or ``$TESSERA_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio

from infra.local import LocalPipeline
from infra.local.tile_server import LocalTileServer
from tessera.synthetic import SceneConfig, generate_scene, write_scene
from tessera.synthetic.scene import request_for

pytestmark = pytest.mark.e2e

SIZE, SEED = 1200, 5
ARTIFACTS = Path(os.environ.get("TESSERA_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
DETECTION_RED = (0xFF, 0x3B, 0x30)  # the viewer's first class colour


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on PATH: `make test` installs Debian's chromium (make browser)")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalTileServer, dict, Path]]:
    scene = write_scene(generate_scene(SceneConfig(size=SIZE, seed=SEED)), tmp_path_factory.mktemp("scene"))
    work = tmp_path_factory.mktemp("viewer")
    with LocalPipeline(work_dir=work, workers=2) as pipeline:
        request = {**request_for(SceneConfig(size=SIZE, seed=SEED)), "jobId": "viewer-e2e"}
        run = pipeline.wait(pipeline.submit_request(request, image=scene["nitf"]))
        assert run.job_status == "SUCCESS", (run.job or {}).get("message")
        features = pipeline.collect(run, work / "out")["features"]
        with LocalTileServer(pipeline, features={"detections.geojson": features}) as server:
            server.create_viewpoint(scene["nitf"], "scene", range_adjustment="DRA")
            item = server.wait_ready("scene")
            assert item["viewpoint_status"] == "READY", item.get("error_message")
            yield server, item, features


def test_the_viewer_shows_tiles_and_detections(served: tuple[LocalTileServer, dict, Path]) -> None:
    server, _item, features = served
    browser = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "viewer.png"
    screenshot.unlink(missing_ok=True)
    url = server.viewer_url("scene", "detections.geojson") + "#feature=0"
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,800",
            "--virtual-time-budget=30000",
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    body = re.search(r"<body[^>]*>", result.stdout)
    assert body, f"no page rendered: {result.stderr[-2000:]}"
    state = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(0)))
    expected = len(json.loads(features.read_text())["features"])
    assert expected > 0
    assert state["state"] == "ready", state
    assert int(state["tiles-loaded"]) >= 1 and state["tile-errors"] == "0", state
    assert int(state["features-rendered"]) == expected
    assert result.stdout.count('class="leaflet-interactive"') >= expected  # one SVG path per detection
    assert state.get("popup-open") == "true" and "featureClasses" in result.stdout  # a feature's properties
    tiles = [(path, status) for path, status in server.server.requests if "/image/tiles/" in path]  # type: ignore[union-attr]
    assert tiles and all(status == 200 for _, status in tiles), tiles
    # the screenshot shows the image and the detections drawn in the first class colour
    with rasterio.open(screenshot) as png:
        pixels = png.read()
    assert pixels.shape[1:] == (800, 1280)
    red = np.all(np.abs(pixels[:3].astype(int) - np.array(DETECTION_RED)[:, None, None]) <= 8, axis=0)
    assert red.sum() > 50, "detections are drawn"
    assert pixels[:3, :, :900].std() > 10, "the image tiles are drawn"


def test_a_bad_image_fails_its_viewpoint_through_the_workflow(
    served: tuple[LocalTileServer, dict, Path], tmp_path: Path
) -> None:
    server, _item, _features = served
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 64)  # a TIFF signature and nothing else
    server.create_viewpoint(bad, "corrupt")
    item = server.wait_ready("corrupt")
    assert item["viewpoint_status"] == "FAILED"
    assert "cannot open image" in item["error_message"] and "Traceback" not in item["error_message"]
    status, reply = server.call("GET", "/viewpoints/corrupt/image/tiles/0/0/0.png")
    assert status == 409 and reply["viewpoint_status"] == "FAILED" and "cannot open image" in reply["message"]
    status, reply = server.call("GET", "/viewpoints/scene/no/such/route")
    assert status == 404 and "no route" in reply["message"]
