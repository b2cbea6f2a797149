"""The emulator process: moto's HTTP server with three changes that make it run Tessera for real.

1. Lambda invocations (from the Step Functions interpreter) go to real handlers in worker processes.
2. EventBridge rules deliver to Step Functions targets (moto delivers only to a few target kinds), so
   an upload reaches the state machine along the same path as on AWS: S3 → EventBridge → rule → target.
3. The interpreter's per-task boto3 client is cached per thread (moto builds one per task, ~20 ms).
4. EventBridge Pipes from SQS to Step Functions deliver: a message sent to a piped queue is received,
   handed to the pipe's target as a batch of one SQS record, and deleted (moto stores pipes only).
5. SageMaker InvokeEndpoint for endpoints named in ``--endpoints`` is forwarded over HTTP to a model
   server with the container contract (``tessera serve-model``), so the SM_ENDPOINT path runs for real.

Run as ``python -m infra.local.server --port P --functions FILE --workers N``; it is started and stopped
by :mod:`infra.local.emulator`, never imported by the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

from infra.local import worker


def _patch_lambda(functions: dict[str, dict[str, Any]], pool: ProcessPoolExecutor) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        name = function_name.split(":function:")[-1].split(":")[0]
        spec = functions.get(name)
        if spec is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFound", "errorMessage": f"no function {name}"}).encode()
        payload = body.encode() if isinstance(body, str) else (body or b"{}")
        ok, reply = pool.submit(worker.invoke, name, spec["handler"], spec["environment"], payload).result()
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        return reply

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def _patch_event_targets() -> None:
    from moto.events.models import Rule
    from moto.stepfunctions.responses import get_backend
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        states = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        others = [t for t in self.targets if t not in states]
        if states and self.event_pattern.matches_event(original_event):
            event = dict(original_event)
            if isinstance(event.get("time"), int | float):
                event["time"] = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            event["id"] = str(uuid.uuid4())
            for target in states:
                arn = parse_arn(target["Arn"])
                try:
                    get_backend(arn.account, arn.region).start_execution(
                        target["Arn"], name=str(uuid.uuid4()), execution_input=json.dumps(event)
                    )
                except Exception:
                    logging.getLogger("tessera.local").exception("cannot start %s", target["Arn"])
        if others:
            self.targets, saved = others, self.targets
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _patch_sagemaker(endpoints: dict[str, str]) -> None:
    import urllib.error
    import urllib.parse
    import urllib.request

    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    def invoke_endpoint(self: Any) -> Any:
        name = urllib.parse.unquote(self.path.split("/")[2]) if self.path.startswith("/endpoints/") else ""
        url = endpoints.get(str(name))
        if url is None:
            message = f"Endpoint {name} of account 123456789012 not found (serve it with --endpoint NAME=URL)."
            return 400, {"x-amzn-ErrorType": "ValidationError"}, json.dumps({"message": message})
        headers = {k: v for k, v in self.headers.items() if k.lower().startswith("x-amzn-sagemaker")}
        headers["Content-Type"] = self.headers.get("Content-Type", "application/octet-stream")
        body = self.body if isinstance(self.body, bytes) else str(self.body).encode()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=70) as response:
                return (
                    200,
                    {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "AllTraffic"},
                    (response.read()),
                )
        except urllib.error.HTTPError as err:
            message = f'Received server error ({err.code}) from model with message "{err.read()[:200]!r}"'
            return (
                424,
                {"Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"},
                json.dumps({"__type": "ModelError", "message": message, "OriginalStatusCode": err.code}),
            )

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    SageMakerRuntimeResponse.use_raw_body = True  # tiles are binary; moto would decode them as UTF-8


def _sqs_record(message: Any, queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(message.sent_timestamp or 0))},
        "messageAttributes": {},
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def _patch_pipes() -> None:
    from moto.pipes.models import pipes_backends
    from moto.sqs.models import SQSBackend
    from moto.stepfunctions.responses import get_backend

    log = logging.getLogger("tessera.local")
    original = SQSBackend.send_message

    def deliver(backend: Any, queue_name: str, queue_arn: str, pipe: Any) -> None:
        while messages := backend.receive_message(queue_name, 1, 0, 30):
            for message in messages:
                try:
                    region = pipe.target.split(":")[3]
                    get_backend(backend.account_id, region).start_execution(
                        pipe.target,
                        name=str(uuid.uuid4()),
                        execution_input=json.dumps([_sqs_record(message, queue_arn)]),
                    )
                except Exception:
                    log.exception("pipe %s could not start %s", pipe.name, pipe.target)
                backend.delete_message(queue_name, message.receipt_handle)

    def send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        message = original(self, queue_name, message_body, *args, **kwargs)
        queue_arn = self.get_queue(queue_name).queue_arn
        for pipe in pipes_backends[self.account_id][self.region_name].pipes.values():
            if pipe.source == queue_arn and pipe.target.split(":")[2] == "states":
                threading.Thread(target=deliver, args=(self, queue_name, queue_arn, pipe), daemon=True).start()
                break
        return message

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _patch_client_cache() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    build = lambda_eval_utils.boto_client_for
    local = threading.local()

    def cached(region: str, service: str, state_credentials: Any = None) -> Any:
        cache = local.__dict__.setdefault("clients", {})
        key = (region, service)
        if key not in cache:
            cache[key] = build(region, service, state_credentials)
        return cache[key]

    lambda_eval_utils.boto_client_for = cached


def main(argv: list[str] | None = None) -> None:
    """Start the emulator and serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions", required=True, help="JSON file: {name: {handler, environment}}")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--endpoints", default="{}", help="JSON: {SageMaker endpoint name: model server URL}")
    args = parser.parse_args(argv)

    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    with open(args.functions) as handle:
        functions = json.load(handle)
    pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn"))
    _patch_lambda(functions, pool)
    _patch_event_targets()
    _patch_client_cache()
    _patch_pipes()
    _patch_sagemaker(json.loads(args.endpoints))

    import os

    os.environ["MOTO_PORT"] = str(args.port)
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
