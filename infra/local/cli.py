"""``tessera``: run the pipeline on this machine.

    tessera run IMAGE [--request FILE.json] [--model NAME] [--tile-size N] [--out DIR]
    tessera synth [--out FILE]
    tessera serve [IMAGE ...] [--features FILE.geojson] [--port 8000] [--viewpoint-id ID]
    tessera serve-model [--port 8080] [--default-model NAME]
    tessera demo-scene OUT_DIR [--seed N] [--size N] [--bits 8|16]
    tessera evaluate FEATURES.geojson TRUTH.geojson [--image IMG --quicklook OUT.png] [--out REPORT.json]

``run`` synthesizes the CDK app, starts the emulator, uploads IMAGE to the emulated image bucket (or
puts the request JSON under the request prefix), and waits for the state machine while it shows the
regions done. The features GeoJSON, the job record, the region records and the execution history are
written to ``--out``. The exit status is 1 when the job FAILED, 0 otherwise.

``serve`` runs the tile server: the stack's tile API function behind a local HTTP API on 127.0.0.1,
with emulated S3 and DynamoDB and the viewer page. Each IMAGE becomes a viewpoint (created through the
API, so the ingest state machine runs); a viewer URL is printed for each, with FILE.geojson's detections
overlaid.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from infra.local.runner import JobRun, LocalPipeline


def _progress(stream: Any) -> Any:
    last: list[Any] = [None]
    tty = stream.isatty()

    def show(status: str, done: int, total: int) -> None:
        line = f"  {status:<12} regions {done}/{total or '?'}"
        if tty:
            stream.write("\r" + line)
        elif (status, done, total) != last[0]:
            stream.write(line + "\n")
        stream.flush()
        last[0] = (status, done, total)

    return show


def _request(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.request is None and args.model is None and args.tile_size is None:
        return None
    request: dict[str, Any] = json.loads(Path(args.request).read_text()) if args.request else {}
    if args.model:
        request["imageProcessor"] = {"name": args.model, "type": "BUILTIN"}
    request.setdefault("imageProcessor", {"name": "centerpoint", "type": "BUILTIN"})
    if args.tile_size:
        request["imageProcessorTileSize"] = args.tile_size
    return request


def run(args: argparse.Namespace) -> int:
    """The ``run`` command."""
    image = Path(args.image) if args.image else None
    if image is not None and not image.is_file():
        print(f"tessera: no such image file: {image}", file=sys.stderr)
        return 2
    request = _request(args)
    if image is None and (request is None or not request.get("imageUrls")):
        print("tessera: give an IMAGE, or a --request whose imageUrls name one", file=sys.stderr)
        return 2
    out = Path(args.out)
    started = time.monotonic()
    print("Synthesizing the stack and starting the emulator ...", file=sys.stderr)
    endpoints = dict(item.split("=", 1) for item in args.endpoint or [])
    with LocalPipeline(work_dir=out / ".local", workers=args.workers, endpoints=endpoints) as pipeline:
        run_: JobRun = (
            pipeline.submit_request(request, image) if request is not None else pipeline.upload_image(image)  # type: ignore[arg-type]
        )
        print(f"Job {run_.job_id} started: {run_.execution_arn}", file=sys.stderr)
        pipeline.wait(run_, progress=_progress(sys.stderr))
        print(file=sys.stderr)
        files = pipeline.collect(run_, out)
    job = run_.job or {}
    summary = {
        "job_id": run_.job_id,
        "status": run_.job_status,
        "execution": run_.execution_status,
        "message": job.get("message", ""),
        "regions": job.get("region_count", 0),
        "tiles": job.get("tile_count", 0),
        "features": job.get("feature_count", 0),
        "seconds": round(time.monotonic() - started, 1),
        "files": {k: str(v) for k, v in files.items()},
    }
    print(json.dumps(summary, indent=2))
    return 1 if run_.job_status == "FAILED" or run_.execution_status != "SUCCEEDED" else 0


def synth(args: argparse.Namespace) -> int:
    """The ``synth`` command: print (or write) the template the local run executes."""
    from infra.local.template import synthesize

    text = json.dumps(synthesize(), indent=1)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _viewpoint_ids(images: list[Path], given: str | None) -> list[str]:
    """One id per image: ``--viewpoint-id`` for a single image, else the file stems (made URL-safe and unique)."""
    if given and len(images) == 1:
        return [given]
    ids: list[str] = []
    for image in images:
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in image.stem).strip("-.") or "image"
        ids.append(stem if stem not in ids else f"{stem}-{len(ids) + 1}")
    return ids


def serve(args: argparse.Namespace) -> int:
    """The ``serve`` command: the tile API and the viewer on 127.0.0.1 until Ctrl-C."""
    from infra.local.tile_server import LocalTileServer

    images = [Path(p) for p in args.images]
    features = Path(args.features) if args.features else None
    for path in [*images, *([features] if features else [])]:
        if not path.is_file():
            print(f"tessera: no such file: {path}", file=sys.stderr)
            return 2
    if args.viewpoint_id and len(images) != 1:
        print("tessera: --viewpoint-id names the viewpoint of a single IMAGE", file=sys.stderr)
        return 2
    print("Synthesizing the stack and starting the emulator ...", file=sys.stderr)
    overlays = {features.name: features} if features else {}
    with (
        LocalPipeline(work_dir=Path(args.work_dir), workers=args.workers) as pipeline,
        LocalTileServer(pipeline, port=args.port, features=overlays) as server,
    ):
        print(f"Tile API on {server.url} (OpenAPI: {server.url}/openapi.json)", file=sys.stderr)
        print(
            f"Emulated AWS at {pipeline.endpoint}: images uploaded to s3://{pipeline.image_bucket}/viewpoints/ "
            f"become viewpoints (aws --endpoint-url {pipeline.endpoint} s3 cp ...)",
            file=sys.stderr,
        )
        ids = _viewpoint_ids(images, args.viewpoint_id)
        for image, viewpoint_id in zip(images, ids, strict=True):
            server.create_viewpoint(image, viewpoint_id, range_adjustment=args.range_adjustment)
            print(f"Ingesting {image} as viewpoint {viewpoint_id} ...", file=sys.stderr)
        for viewpoint_id in ids:
            item = server.wait_ready(viewpoint_id)
            if item["viewpoint_status"] == "READY":
                print(f"Viewer: {server.viewer_url(viewpoint_id, features.name if features else None)}", flush=True)
            else:
                print(f"tessera: viewpoint {viewpoint_id} FAILED: {item.get('error_message')}", file=sys.stderr)
        print(f"Serving; all viewpoints at {server.url}/viewer; Ctrl-C stops", file=sys.stderr)
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the emulator too, as Ctrl-C does
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def serve_model(args: argparse.Namespace) -> int:
    """The ``serve-model`` command: the built-in models behind the SageMaker container contract."""
    from tessera.serving import ModelServer

    server = ModelServer((args.host, args.port), default_model=args.default_model)
    print(f"Serving models on {server.url} (GET /ping, POST /invocations); Ctrl-C stops", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def demo_scene(args: argparse.Namespace) -> int:
    """The ``demo-scene`` command: a synthetic scene with ground truth (GeoTIFF, NITF with RPCs, GeoJSON)."""
    from tessera.synthetic import SceneConfig, generate_scene, write_scene

    started = time.monotonic()
    config = SceneConfig(size=args.size, seed=args.seed, bits=args.bits)
    scene = generate_scene(config)
    paths = write_scene(scene, args.out_dir)
    truth = json.loads(paths["truth"].read_text())["scene"]
    print(
        f"Scene {config.size}x{config.size} px, seed {config.seed}, {config.bits}-bit, {len(scene.ships)} ships, "
        f"NITF RPC fit within {truth['rpc_max_error_m']:.3f} m, {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    print(json.dumps({key: str(path) for key, path in paths.items()}, indent=2))
    return 0


def _print_accuracy(report: dict[str, Any], run_summary: dict[str, Any] | None) -> None:
    if run_summary:
        print(
            f"Job {run_summary.get('job_id')}: {run_summary.get('status')}  regions {run_summary.get('regions')}  "
            f"tiles {run_summary.get('tiles')}  features {run_summary.get('features')}  "
            f"run time {run_summary.get('seconds')} s"
        )
    geolocation, position = report["geolocation_error_m"], report["position_error_m"]
    print(
        f"Accuracy at IoU {report['iou_threshold']}: precision {report['precision']:.3f}  "
        f"recall {report['recall']:.3f}  F1 {report['f1']:.3f}  (TP {report['true_positives']}, "
        f"FP {report['false_positives']}, FN {report['false_negatives']} of {report['truth']} ships; "
        f"mean IoU {report['mean_iou']})"
    )
    if geolocation["mean"] is not None:
        print(
            f"Mean geolocation error: {geolocation['mean']:.3f} m (max {geolocation['max']:.3f} m over "
            f"{report['geolocation_points']} vertices and centres: pipeline lon/lat vs the exact transformation)"
        )
    if position["mean"] is not None:
        print(
            f"Position error of matched ships: mean {position['mean']:.3f} m, max {position['max']:.3f} m "
            "(detection centre vs truth centre; includes the detector's localisation)"
        )
    print(
        f"Duplicate pairs: {report['duplicate_pairs']} with IoU > {report['duplicate_iou']}, "
        f"{report['partial_duplicate_pairs']} partial (one covers more than half of the other)"
    )


def evaluate(args: argparse.Namespace) -> int:
    """The ``evaluate`` command: accuracy of a features GeoJSON against ground truth, and a quicklook."""
    from tessera.evaluation.accuracy import evaluate_files, load_features, quicklook

    for path in (args.features, args.truth):
        if not Path(path).is_file():
            print(f"tessera: no such file: {path}", file=sys.stderr)
            return 2
    report = evaluate_files(args.features, args.truth, iou_threshold=args.iou, duplicate_iou=args.duplicate_iou)
    run_summary = json.loads(Path(args.run).read_text()) if args.run else None
    if run_summary:
        report["run"] = {k: run_summary.get(k) for k in ("job_id", "status", "regions", "tiles", "features", "seconds")}
    if args.quicklook:
        if not args.image:
            print("tessera: --quicklook needs --image", file=sys.stderr)
            return 2
        detections, _ = load_features(args.features)
        truths, _ = load_features(args.truth)
        report["quicklook"] = str(quicklook(args.image, detections, truths, args.quicklook, iou_threshold=args.iou))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    _print_accuracy(report, run_summary)
    for key, label in (("out", "Report"), ("quicklook", "Quicklook")):
        if getattr(args, key):
            print(f"{label}: {getattr(args, key)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tessera`` command."""
    parser = argparse.ArgumentParser(prog="tessera", description="Run Tessera's pipeline on this machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run one job locally through the synthesized state machine")
    run_parser.add_argument("image", nargs="?", help="image file (GeoTIFF, NITF, JPEG2000, PNG, JPEG)")
    run_parser.add_argument("--request", help="an OSML ImageRequest JSON file (full control of the job)")
    run_parser.add_argument("--model", help="built-in model name (default: the stack's default model)")
    run_parser.add_argument("--tile-size", type=int, help="tile size in pixels")
    run_parser.add_argument("--out", default="tessera-output", help="folder for the results (default: %(default)s)")
    run_parser.add_argument("--workers", type=int, help="Lambda worker processes (default: one per core)")
    run_parser.add_argument(
        "--endpoint",
        action="append",
        metavar="NAME=URL",
        help="serve SageMaker endpoint NAME from a model server at URL (e.g. tessera serve-model); repeatable",
    )
    run_parser.set_defaults(func=run)
    synth_parser = commands.add_parser("synth", help="print the synthesized CloudFormation template")
    synth_parser.add_argument("--out", help="write the template to this file")
    synth_parser.set_defaults(func=synth)
    tiles_parser = commands.add_parser("serve", help="serve the tile API and the viewer on 127.0.0.1")
    tiles_parser.add_argument("images", nargs="*", metavar="IMAGE", help="images to make viewpoints of")
    tiles_parser.add_argument("--features", help="a features GeoJSON (e.g. from tessera run) to overlay")
    tiles_parser.add_argument("--viewpoint-id", help="the viewpoint's id (default: from the file name)")
    tiles_parser.add_argument("--range-adjustment", default="DRA", choices=("NONE", "MINMAX", "DRA"))
    tiles_parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: %(default)s)")
    tiles_parser.add_argument("--workers", type=int, help="Lambda worker processes (default: one per core)")
    tiles_parser.add_argument("--work-dir", default=".tessera/serve", help="emulator logs (default: %(default)s)")
    tiles_parser.set_defaults(func=serve)
    serve_parser = commands.add_parser("serve-model", help="serve the built-in models over HTTP (SageMaker contract)")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8080)
    serve_parser.add_argument("--default-model", default=None, help="model used when a request selects none")
    serve_parser.set_defaults(func=serve_model)
    scene_parser = commands.add_parser("demo-scene", help="generate a synthetic scene with ships and ground truth")
    scene_parser.add_argument("out_dir", help="folder for scene.tif, scene.ntf, truth.geojson and request.json")
    scene_parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    scene_parser.add_argument(
        "--size", type=int, default=3000, help="width and height in pixels (default: %(default)s)"
    )
    scene_parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="8-bit, or 12-bit in uint16")
    scene_parser.set_defaults(func=demo_scene)
    eval_parser = commands.add_parser("evaluate", help="accuracy of detections against ground truth")
    eval_parser.add_argument("features", help="the features GeoJSON a run wrote")
    eval_parser.add_argument("truth", help="the ground truth GeoJSON (tessera demo-scene's truth.geojson)")
    eval_parser.add_argument("--image", help="the image, for the quicklook")
    eval_parser.add_argument(
        "--quicklook", help="write a PNG: truth green, matched red, false alarms yellow, missed magenta"
    )
    eval_parser.add_argument("--out", help="write the report JSON here")
    eval_parser.add_argument("--run", help="the JSON summary `tessera run` printed, to show with the accuracy")
    eval_parser.add_argument("--iou", type=float, default=0.5, help="IoU for a match (default: %(default)s)")
    eval_parser.add_argument(
        "--duplicate-iou",
        type=float,
        default=0.75,
        help="IoU above which two features are duplicates (default: %(default)s)",
    )
    eval_parser.set_defaults(func=evaluate)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
