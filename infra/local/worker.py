"""Worker processes that run Lambda handlers, as the Lambda service would.

Each invocation sets the function's environment, imports its handler once per process (a warm
container), and returns the handler's JSON reply or Lambda's error shape. Stack traces go to the log,
not into the reply.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

_HANDLERS: dict[str, Any] = {}


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1769
    timeout_ms: int = 900_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _start: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """The function's ARN in the emulated account."""
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, self.timeout_ms - int((time.monotonic() - self._start) * 1000))


def _handler(path: str) -> Any:
    if path not in _HANDLERS:
        module, _, name = path.rpartition(".")
        _HANDLERS[path] = getattr(importlib.import_module(module), name)
    return _HANDLERS[path]


def invoke(function_name: str, handler: str, environment: dict[str, str], payload: bytes) -> tuple[bool, bytes]:
    """Run one invocation; return ``(ok, reply)`` where reply is the JSON Lambda would return."""
    os.environ.update(environment)
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = function_name
    try:
        event = json.loads(payload or b"{}")
        context = LocalLambdaContext(function_name=function_name)
        result = _handler(handler)(event, context)
        return True, json.dumps(result).encode()
    except Exception as err:  # reported as a Lambda function error, like the service does
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        message = str(err) or type(err).__name__
        return False, json.dumps({"errorType": type(err).__name__, "errorMessage": message}).encode()
    finally:
        sys.stdout.flush()
