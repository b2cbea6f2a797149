"""OSML's metrics (EMF through Powertools): names Duration, Invocations, Errors; dimensions Operation,
ModelName and InputFormat, so dashboards built for OSML's model runner read Tessera's numbers too.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = "Tessera"


def emit(
    operation: str,
    *,
    model_name: str = "",
    input_format: str = "",
    duration_s: float | None = None,
    invocations: int = 0,
    errors: int = 0,
) -> None:
    """Emit one operation's metrics, each with the operation's dimensions."""
    dimensions = {"Operation": operation}
    if model_name:
        dimensions["ModelName"] = model_name
    if input_format:
        dimensions["InputFormat"] = input_format
    values: list[tuple[str, MetricUnit, float]] = [
        ("Invocations", MetricUnit.Count, invocations),
        ("Errors", MetricUnit.Count, errors),
    ]
    if duration_s is not None:
        values.append(("Duration", MetricUnit.Seconds, duration_s))
    for name, unit, value in values:
        with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions=dimensions):
            pass
