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


def headless(browser: str, url: str, screenshot: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Load ``url`` in headless Chromium until the page is idle; the DOM is on stdout."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,800"]
    command += ["--virtual-time-budget=30000", "--dump-dom", *([f"--screenshot={screenshot}"] if screenshot else [])]
    return subprocess.run([*command, url], capture_output=True, text=True, timeout=180)


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
    result = headless(browser, url, screenshot)
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


def test_the_viewer_without_a_viewpoint_lists_them(served: tuple[LocalTileServer, dict, Path]) -> None:
    server, _item, _features = served
    result = headless(chromium(), f"{server.url}/viewer")
    assert 'data-state="ready"' in result.stdout, result.stderr[-2000:]
    assert 'href="?viewpoint=scene"' in result.stdout and "scene.ntf (READY)" in result.stdout


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


def test_tessera_serve_command(rgb_byte: Path, tmp_path: Path) -> None:
    """`tessera serve IMAGE --features F` ingests the image, prints the viewer's URL and serves until Ctrl-C."""
    import signal
    import sys
    import urllib.request

    from infra.local.emulator import free_port

    features = tmp_path / "marks.geojson"
    features.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": None,
                        "properties": {"imageBBox": [100, 100, 150, 140], "featureClasses": [{"iri": "x", "score": 1}]},
                    }
                ],
            }
        )
    )
    port = free_port()
    command = [sys.executable, "-m", "infra.local", "serve", str(rgb_byte), "--features", str(features)]
    command += ["--port", str(port), "--viewpoint-id", "landsat", "--workers", "2"]
    command += ["--work-dir", str(tmp_path / "work")]
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the viewpoint is READY
        assert line.startswith("Viewer: "), (line, log.read_text())
        url = line.removeprefix("Viewer: ").strip()
        assert url == f"http://127.0.0.1:{port}/viewer?viewpoint=landsat&features=%2Ffeatures%2Fmarks.geojson"
        with urllib.request.urlopen(url, timeout=30) as page:
            assert b"viewer/leaflet.js" in page.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/features/marks.geojson", timeout=30) as served:
            assert json.loads(served.read())["features"][0]["properties"]["imageBBox"] == [100, 100, 150, 140]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/viewpoints/landsat/image/tiles/1/0/0.png") as tile:
            assert tile.status == 200 and tile.headers["Content-Type"] == "image/png"
    finally:
        process.send_signal(signal.SIGTERM)  # as `kill` would: the emulator stops with it
        assert process.wait(timeout=60) == 0
    assert "Serving" in log.read_text()
