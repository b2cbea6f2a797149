"""What starts a job: S3 upload events, JSON requests in S3, direct ImageRequests (tessera.requests.events)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tessera.errors import InvalidRequestError
from tessera.requests import ModelInvokeMode, parse_image_request
from tessera.requests.events import is_s3_event, request_from_event, upload_job_id

PREFIX = "requests/"
DEFAULT_MODEL = "centerpoint"


def s3_event(bucket: str, key: str, etag: str | None = "0123abcd", etag_key: str = "etag") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": 1024}
    if etag is not None:
        obj[etag_key] = etag
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": obj, "reason": "PutObject"},
    }


class RecordingReader:
    """An injected ``read_object`` that serves fixed bytes and records what was asked."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.calls: list[tuple[str, str]] = []

    def __call__(self, bucket: str, key: str) -> bytes:
        self.calls.append((bucket, key))
        return self.objects[(bucket, key)]


def _no_read(bucket: str, key: str) -> bytes:
    raise AssertionError(f"read_object must not be called for s3://{bucket}/{key}")


def resolve(event: Any, reader: Any = _no_read) -> dict[str, Any]:
    return request_from_event(event, read_object=reader, request_prefix=PREFIX, default_model=DEFAULT_MODEL)


def test_image_upload_becomes_a_default_request() -> None:
    message = resolve(s3_event("imagery", "images/scene 1.tif", "abc"))

    assert message == {
        "jobId": upload_job_id("imagery", "images/scene 1.tif", "abc"),
        "jobName": "scene 1.tif",
        "imageUrls": ["s3://imagery/images/scene 1.tif"],
        "imageProcessor": {"name": DEFAULT_MODEL, "type": "BUILTIN"},
    }
    request = parse_image_request(message)
    assert request.image_processor.type is ModelInvokeMode.BUILTIN
    assert request.image_url == "s3://imagery/images/scene 1.tif"


def test_upload_job_id_is_the_stem_and_a_digest_of_location_and_etag() -> None:
    digest = hashlib.sha256(b"s3://imagery/images/scene 1.tif#abc").hexdigest()[:12]
    assert upload_job_id("imagery", "images/scene 1.tif", "abc") == f"scene-1-{digest}"


def test_upload_job_id_is_stable_for_a_redelivered_event() -> None:
    first = resolve(s3_event("imagery", "a/b/c.ntf", "etag-1"))
    again = resolve(s3_event("imagery", "a/b/c.ntf", "etag-1"))
    assert first["jobId"] == again["jobId"]


@pytest.mark.parametrize(
    ("bucket", "key", "etag"),
    [("imagery", "a/b/c.ntf", "etag-2"), ("other", "a/b/c.ntf", "etag-1"), ("imagery", "a/b/d/c.ntf", "etag-1")],
)
def test_upload_job_id_changes_with_bucket_key_or_content(bucket: str, key: str, etag: str) -> None:
    assert resolve(s3_event(bucket, key, etag))["jobId"] != resolve(s3_event("imagery", "a/b/c.ntf", "etag-1"))["jobId"]


def test_capitalised_etag_key_is_read_too() -> None:
    lower = resolve(s3_event("imagery", "x.tif", "e1", etag_key="etag"))
    upper = resolve(s3_event("imagery", "x.tif", "e1", etag_key="eTag"))
    assert lower["jobId"] == upper["jobId"] == upload_job_id("imagery", "x.tif", "e1")


def test_upload_job_id_is_a_valid_job_id_for_odd_names() -> None:
    job_id = upload_job_id("b", "dir/" + "ü" * 100 + ".tif", "e")
    assert len(job_id) <= 256
    assert parse_image_request({"jobId": job_id, "imageUrls": ["x"], "imageProcessor": {"name": "m"}}).job_id == job_id
    assert upload_job_id("b", "dir/***.tif", "e").startswith("---")


def test_request_json_under_the_request_prefix_is_read_with_the_injected_reader() -> None:
    body = {
        "jobId": "from-json",
        "imageUrls": ["s3://imagery/x.tif"],
        "imageProcessor": {"name": "ep", "type": "SM_ENDPOINT"},
        "imageProcessorTileSize": 1024,
    }
    reader = RecordingReader({("inbox", "requests/job.json"): json.dumps(body).encode()})

    message = resolve(s3_event("inbox", "requests/job.json"), reader)

    assert reader.calls == [("inbox", "requests/job.json")]
    assert message == body


def test_request_json_without_job_id_gets_one_from_its_location() -> None:
    body = {"imageUrls": ["s3://imagery/x.tif"], "imageProcessor": {"name": "ep"}}
    reader = RecordingReader({("inbox", "requests/a.json"): json.dumps(body).encode()})
    message = resolve(s3_event("inbox", "requests/a.json"), reader)
    assert message["jobId"] == upload_job_id("inbox", "requests/a.json", "")


def test_json_outside_the_request_prefix_is_treated_as_an_upload() -> None:
    message = resolve(s3_event("inbox", "elsewhere/job.json"))
    assert message["imageUrls"] == ["s3://inbox/elsewhere/job.json"]


def test_image_under_the_request_prefix_is_still_an_image() -> None:
    message = resolve(s3_event("inbox", "requests/scene.tif"))
    assert message["imageUrls"] == ["s3://inbox/requests/scene.tif"]


@pytest.mark.parametrize("payload", [b"{not json", b"\xff\xfe\x00garbage", b""])
def test_request_object_that_is_not_json_is_an_invalid_request(payload: bytes) -> None:
    reader = RecordingReader({("inbox", "requests/bad.json"): payload})
    with pytest.raises(InvalidRequestError, match=r"s3://inbox/requests/bad\.json"):
        resolve(s3_event("inbox", "requests/bad.json"), reader)


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"null", b"3"])
def test_request_object_that_is_not_a_json_object_is_an_invalid_request(payload: bytes) -> None:
    reader = RecordingReader({("inbox", "requests/bad.json"): payload})
    with pytest.raises(InvalidRequestError, match="JSON object"):
        resolve(s3_event("inbox", "requests/bad.json"), reader)


def test_a_direct_image_request_passes_through_unchanged() -> None:
    request = {"jobId": "direct", "imageUrls": ["s3://b/k.tif"], "imageProcessor": {"name": "ep"}, "extra": 1}
    message = resolve(request)
    assert message == request
    assert message is not request


def test_a_wrapped_image_request_is_unwrapped() -> None:
    request = {"jobId": "wrapped", "imageUrls": ["s3://b/k.tif"], "imageProcessor": {"name": "ep"}}
    assert resolve({"imageRequest": request, "other": "state"}) == request


@pytest.mark.parametrize(
    "event",
    [None, "s3://b/k.tif", 42, [], {}, {"foo": "bar"}, {"source": "aws.s3"}, {"imageRequest": "not a dict"}],
)
def test_garbage_is_an_invalid_request(event: Any) -> None:
    with pytest.raises(InvalidRequestError, match="neither an S3 upload event nor an ImageRequest"):
        resolve(event)


def test_is_s3_event() -> None:
    assert is_s3_event(s3_event("b", "k"))
    assert not is_s3_event({"source": "aws.s3"})
    assert not is_s3_event({"source": "aws.ec2", "detail": {}})
    assert not is_s3_event([])
