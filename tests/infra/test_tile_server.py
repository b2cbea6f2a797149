"""The tile server's resources in the synthesized template: ingest workflow, API, table, bucket, trigger."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from infra.local.template import LocalNames
from tests.infra.test_stack import _s3_event, assert_may_call, resources


def _tiles(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in resources(template, kind).items() if k.startswith("Tiles")}


@pytest.fixture(scope="module")
def ingest_definition(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = _tiles(template, "AWS::StepFunctions::StateMachine").values()
    return json.loads(LocalNames(template["Resources"]).resolve(machine["Properties"]["DefinitionString"]))


def test_ingest_retries_transient_errors_and_records_every_failure(ingest_definition: dict[str, Any]) -> None:
    states = ingest_definition["States"]
    assert ingest_definition["StartAt"] == "Ingest"
    ingest = states["Ingest"]
    (retry,) = ingest["Retry"]
    assert "TransientStorageError" in retry["ErrorEquals"] and retry["JitterStrategy"] == "FULL"
    assert "States.ALL" not in retry["ErrorEquals"], "a bad image must fail at once, not be retried"
    (catch,) = ingest["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
    assert catch["Next"] == "RecordViewpointFailure"
    assert states["RecordViewpointFailure"]["Next"] == "ViewpointFailed"
    assert states["ViewpointFailed"]["Type"] == "Fail" and ingest["Next"] == "ViewpointReady"


def test_viewpoint_table_has_a_real_ttl(template: dict[str, Any]) -> None:
    (table,) = _tiles(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["viewpoint_id"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expire_time", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_api_is_an_http_api_with_iam_auth_and_access_logs(template: dict[str, Any]) -> None:
    (api,) = resources(template, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "HTTP"
    routes = resources(template, "AWS::ApiGatewayV2::Route").values()
    assert routes and all(r["Properties"]["AuthorizationType"] == "AWS_IAM" for r in routes)
    (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    assert "DestinationArn" in stage["Properties"]["AccessLogSettings"]
    (function_id,) = [
        k
        for k, f in _tiles(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "tessera.handlers.tile_api.handler"
    ]
    function = template["Resources"][function_id]["Properties"]
    assert function["Timeout"] <= 29, "API Gateway gives an integration 30 s"


@pytest.mark.parametrize(
    ("key", "ingests"),
    [
        ("viewpoints/scene.tif", True),
        ("viewpoints/a/b.NTF", True),
        ("images/scene.tif", False),
        ("viewpoints/x.txt", False),
    ],
)
def test_uploads_under_the_viewpoint_prefix_start_an_ingest(template: dict[str, Any], key: str, ingests: bool) -> None:
    names = LocalNames(template["Resources"])
    (rule,) = _tiles(template, "AWS::Events::Rule").values()
    pattern = EventPattern.load(json.dumps(names.resolve(rule["Properties"]["EventPattern"])))
    (bucket_id,) = [k for k in resources(template, "AWS::S3::Bucket") if "Images" in k]
    assert pattern.matches_event(_s3_event(names.refs[bucket_id], key)) is ingests
    (target,) = rule["Properties"]["Targets"]
    assert "IngestStateMachine" in target["Arn"]["Ref"]


NEEDS = {
    "ingest_viewpoint": [
        ("s3:GetObject", "StorageImages"),
        ("s3:PutObject", "TilesArtifacts"),
        ("s3:DeleteObject", "TilesArtifacts"),
        ("s3:ListBucket", "TilesArtifacts"),
        ("dynamodb:PutItem", "TilesViewpoints"),
        ("dynamodb:UpdateItem", "TilesViewpoints"),
        ("dynamodb:GetItem", "TilesViewpoints"),
    ],
    "record_viewpoint_failure": [("dynamodb:UpdateItem", "TilesViewpoints"), ("dynamodb:GetItem", "TilesViewpoints")],
    "tile_api": [
        ("s3:GetObject", "TilesArtifacts"),
        ("s3:DeleteObject", "TilesArtifacts"),
        ("s3:ListBucket", "TilesArtifacts"),
        ("dynamodb:GetItem", "TilesViewpoints"),
        ("dynamodb:PutItem", "TilesViewpoints"),
        ("dynamodb:UpdateItem", "TilesViewpoints"),
        ("dynamodb:DeleteItem", "TilesViewpoints"),
        ("dynamodb:Scan", "TilesViewpoints"),
        ("states:StartExecution", "TilesIngestStateMachine"),
    ],
}


@pytest.mark.parametrize("handler", sorted(NEEDS))
def test_each_tile_server_function_may_call_what_it_calls(template: dict[str, Any], handler: str) -> None:
    assert_may_call(template, handler, NEEDS[handler])
