"""Exponential backoff with full jitter for model calls (AWS's recommended retry shape)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class RetryableError(Exception):
    """A failure worth trying again (throttling, a 5xx, a dropped connection)."""


def with_retries[T](
    call: Callable[[], T],
    *,
    attempts: int = 5,
    base_seconds: float = 0.2,
    cap_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on :class:`RetryableError` wait ``uniform(0, min(cap, base * 2**n))`` and try again.

    The last attempt's error propagates.

    Example:
        >>> outcomes = iter([RetryableError("busy"), "ok"])
        >>> def flaky():
        ...     outcome = next(outcomes)
        ...     if isinstance(outcome, Exception):
        ...         raise outcome
        ...     return outcome
        >>> with_retries(flaky, sleep=lambda s: None)
        'ok'
    """
    for attempt in range(attempts):
        try:
            return call()
        except RetryableError:
            if attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(cap_seconds, base_seconds * 2**attempt)))
    raise AssertionError("unreachable")
