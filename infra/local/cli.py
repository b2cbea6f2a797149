"""``tessera``: run the pipeline on this machine.

    tessera run IMAGE [--request FILE.json] [--model NAME] [--tile-size N] [--out DIR]
    tessera synth [--out FILE]
    tessera serve-model [--port 8080] [--default-model NAME]

``run`` synthesizes the CDK app, starts the emulator, uploads IMAGE to the emulated image bucket (or
puts the request JSON under the request prefix), and waits for the state machine while it shows the
regions done. The features GeoJSON, the job record, the region records and the execution history are
written to ``--out``. The exit status is 1 when the job FAILED, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
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
    serve_parser = commands.add_parser("serve-model", help="serve the built-in models over HTTP (SageMaker contract)")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8080)
    serve_parser.add_argument("--default-model", default=None, help="model used when a request selects none")
    serve_parser.set_defaults(func=serve_model)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
