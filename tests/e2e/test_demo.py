"""The demo end to end: a synthetic scene through the local pipeline with the CFAR model, then its accuracy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local import LocalPipeline
from tessera.evaluation.accuracy import evaluate_files, load_features, quicklook
from tessera.synthetic import SceneConfig, generate_scene, write_scene
from tessera.synthetic.scene import request_for

pytestmark = pytest.mark.e2e

SIZE, SEED = 1500, 11


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_scene(generate_scene(SceneConfig(size=SIZE, seed=SEED)), tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    """The stack with 1,200-pixel regions, so that the scene is cut into several regions as well as tiles."""
    from infra.local.template import synthesize

    work = tmp_path_factory.mktemp("demo")
    template = synthesize(context={"tessera:regionSize": 1200}, outdir=work / "synth")
    with LocalPipeline(template, work_dir=work, workers=2) as local:
        yield local


def test_cfar_on_the_nitf_finds_the_ships_once_and_in_the_right_place(
    scene: dict[str, Path], pipeline: LocalPipeline, tmp_path: Path
) -> None:
    request = {**request_for(SceneConfig(size=SIZE, seed=SEED)), "jobId": "demo-e2e", "imageProcessorTileSize": 768}
    run = pipeline.wait(pipeline.submit_request(request, image=scene["nitf"]))
    assert run.job_status == "SUCCESS", (run.job or {}).get("message")
    job = run.job or {}
    assert job["region_count"] > 1 and job["tile_count"] > job["region_count"]
    files = pipeline.collect(run, tmp_path)
    report = evaluate_files(files["features"], scene["truth"])
    summary = {k: report[k] for k in ("f1", "false_positives", "false_negatives", "duplicate_pairs")}
    assert report["f1"] >= 0.9, summary
    assert report["duplicate_pairs"] == 0 and report["partial_duplicate_pairs"] == 0, report["duplicates"]
    assert report["geolocation_points"] > 0
    assert report["geolocation_error_m"]["max"] < 0.5, "RPC geolocation against the exact UTM transformation"
    assert report["position_error_m"]["mean"] < 1.0
    features, _ = load_features(files["features"])
    assert {f["properties"]["sensorModel"] for f in features} == {"rpc"}
    truths, _ = load_features(scene["truth"])
    png = quicklook(scene["geotiff"], features, truths, tmp_path / "quicklook.png")
    assert png.stat().st_size > 10_000
    assert json.loads(files["job"].read_text())["job_status"] == "SUCCESS"
