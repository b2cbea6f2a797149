"""Job/region statuses (tessera.state.status), OSML's SNS message (status.sns) and failure messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tessera.pipeline.failure import error_message
from tessera.state import RequestStatus, job_status, region_status
from tessera.status.sns import StatusPublisher, status_message

S = RequestStatus


@pytest.mark.parametrize(
    ("total", "failed", "expected"),
    [
        (4, 0, S.SUCCESS),
        (4, 1, S.PARTIAL),
        (4, 3, S.PARTIAL),
        (4, 4, S.FAILED),
        (1, 0, S.SUCCESS),
        (1, 1, S.FAILED),
        (0, 0, S.SUCCESS),  # a region with no tiles (all skipped as nodata) did not fail
    ],
)
def test_region_status_truth_table(total: int, failed: int, expected: RequestStatus) -> None:
    assert region_status(total, failed) is expected


@pytest.mark.parametrize(
    ("count", "success", "partial", "failed", "expected"),
    [
        (3, 3, 0, 0, S.SUCCESS),
        (1, 1, 0, 0, S.SUCCESS),
        (3, 2, 1, 0, S.PARTIAL),
        (3, 2, 0, 1, S.PARTIAL),
        (3, 1, 1, 1, S.PARTIAL),
        (3, 0, 0, 3, S.FAILED),
        (1, 0, 0, 1, S.FAILED),
    ],
)
def test_job_status_truth_table(count: int, success: int, partial: int, failed: int, expected: RequestStatus) -> None:
    assert job_status(count, success, partial, failed) is expected


@pytest.mark.parametrize(("count", "success", "partial", "failed"), [(3, 0, 3, 0), (3, 0, 1, 2)])
def test_job_with_only_partial_regions_is_partial_not_failed(
    count: int, success: int, partial: int, failed: int
) -> None:
    """OSML would call these FAILED (a PARTIAL region counts as an error there). Tessera keeps the features a
    PARTIAL region produced and says PARTIAL: a failed tile makes its region and its job PARTIAL."""
    assert job_status(count, success, partial, failed) is S.PARTIAL


def test_final_statuses() -> None:
    assert {s for s in RequestStatus if s.is_final} == {S.SUCCESS, S.PARTIAL, S.FAILED}
    assert [s.value for s in RequestStatus] == ["STARTED", "IN_PROGRESS", "SUCCESS", "PARTIAL", "FAILED"]


@pytest.mark.parametrize("status", list(RequestStatus))
def test_status_message_has_osml_body_and_attributes(status: RequestStatus) -> None:
    body, attributes = status_message(status, "job-7", "3 regions, 12 tiles", image_id="job-7:s3://b/i.tif")

    assert body == f"StatusMonitor update: {status.value} job-7: 3 regions, 12 tiles"
    assert attributes == {
        "status": {"DataType": "String", "StringValue": status.value},
        "image_status": {"DataType": "String", "StringValue": status.value},
        "job_id": {"DataType": "String", "StringValue": "job-7"},
        "image_id": {"DataType": "String", "StringValue": "job-7:s3://b/i.tif"},
    }


def test_status_message_with_processing_duration() -> None:
    _, attributes = status_message(S.SUCCESS, "j", "done", image_id="j:x", processing_duration=12.5)
    assert attributes["processing_duration"] == {"DataType": "String", "StringValue": "12.5"}


def test_status_message_never_sends_an_empty_attribute() -> None:
    # SNS rejects empty string attribute values
    _, attributes = status_message(S.FAILED, "", "no job", image_id="")
    assert all(a["StringValue"] for a in attributes.values())


class FakeSNS:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> None:
        self.published.append(kwargs)


def test_publisher_sends_the_status_message_to_its_topic() -> None:
    sns = FakeSNS()
    StatusPublisher(sns, "arn:aws:sns:us-east-1:1:status").publish(S.STARTED, "j", "job started", image_id="j:a")
    body, attributes = status_message(S.STARTED, "j", "job started", image_id="j:a")
    assert sns.published == [
        {"TopicArn": "arn:aws:sns:us-east-1:1:status", "Message": body, "MessageAttributes": attributes}
    ]


def test_publisher_without_topic_does_nothing() -> None:
    sns = FakeSNS()
    StatusPublisher(sns, "").publish(S.STARTED, "j", "m", image_id="j:a")
    StatusPublisher(None, "arn:aws:sns:us-east-1:1:t").publish(S.STARTED, "j", "m", image_id="j:a")
    assert sns.published == []


def cause(message: str, **extra: Any) -> str:
    return json.dumps({"errorMessage": message, **extra})


TRACE = ['  File "/var/task/tessera/handlers/load_image.py", line 12, in handler', "    raise ..."]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"Error": "ImageReadError", "Cause": cause("cannot open image s3://b/x.tif")},
            "cannot open image s3://b/x.tif",
        ),
        (
            {"Error": "InvalidRequestError", "Cause": cause("invalid image request: jobId: Field required")},
            "invalid image request: jobId: Field required",
        ),
        (
            {"Error": "RegionOfInterestError", "Cause": cause("regionOfInterest does not intersect the image")},
            "regionOfInterest does not intersect the image",
        ),
        ({"Error": "TesseraError", "Cause": cause("generic")}, "generic"),
        (
            {"Error": "KeyError", "Cause": cause("'bucket'", errorType="KeyError", stackTrace=TRACE)},
            "KeyError: 'bucket'",
        ),
        (
            {"Error": "Sandbox.Timedout", "Cause": cause("Task timed out after 900.00 seconds")},
            "Sandbox.Timedout: Task timed out after 900.00 seconds",
        ),
        ({"Error": "States.Timeout", "Cause": ""}, "States.Timeout"),
        ({"Error": "States.TaskFailed", "Cause": "plain text cause"}, "States.TaskFailed: plain text cause"),
        ({"Error": "States.TaskFailed", "Cause": "{not json"}, "States.TaskFailed: {not json"),
        ({"Error": "Lambda.Unknown"}, "Lambda.Unknown"),
        ({"Cause": cause("something")}, "Error: something"),
        (None, "the job failed"),
        ({}, "the job failed"),
    ],
)
def test_error_message(error: dict[str, Any] | None, expected: str) -> None:
    assert error_message(error) == expected


@pytest.mark.parametrize("name", ["ImageReadError", "ValueError", "States.TaskFailed"])
def test_error_message_keeps_only_the_first_line(name: str) -> None:
    multi_line = "first line of the problem\nTraceback (most recent call last):\n" + "\n".join(TRACE)
    for error_cause in (cause(multi_line, stackTrace=TRACE), multi_line):
        message = error_message({"Error": name, "Cause": error_cause})
        assert "\n" not in message
        assert message.endswith("first line of the problem")
        assert "Traceback" not in message and "File " not in message and "/var/task" not in message


def test_error_message_skips_leading_blank_lines() -> None:
    assert error_message({"Error": "ModelError", "Cause": cause("\n\n  model returned 500\nmore")}) == (
        "model returned 500"
    )


@pytest.mark.parametrize("name", ["ImageReadError", "ModelError", "SinkError", "JobNotFoundError", "ValueError"])
def test_error_type_prefix_only_for_non_tessera_errors(name: str) -> None:
    message = error_message({"Error": name, "Cause": cause("boom")})
    assert message == ("ValueError: boom" if name == "ValueError" else "boom")


def _all_subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_all_subclasses(direct))]


def test_every_tessera_error_subclass_is_a_user_error() -> None:
    import tessera.inference  # noqa: F401  (defines ModelFailure)
    from tessera.errors import TesseraError

    names = {cls.__name__ for cls in _all_subclasses(TesseraError)}
    assert "ModelFailure" in names
    for name in sorted(names):
        assert error_message({"Error": name, "Cause": cause("boom")}) == "boom", name
