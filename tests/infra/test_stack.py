"""Assertions on the synthesized stack: what a deployment gets, and that it is secure by default."""

from __future__ import annotations

import importlib
import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from infra.local.template import LocalNames

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "layers" / "build.py"


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def tessera_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every function running Tessera code (the pipeline's and the tile server's)."""
    return {
        k: r
        for k, r in resources(template, "AWS::Lambda::Function").items()
        if r["Properties"].get("Handler", "").startswith("tessera.")
    }


def pipeline_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The image pipeline's functions (logical ids under the Pipeline construct)."""
    return {k: r for k, r in tessera_functions(template).items() if k.startswith("Pipeline")}


def pipeline_resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type under the Pipeline construct."""
    return {k: r for k, r in resources(template, kind).items() if k.startswith("Pipeline")}


@pytest.fixture(scope="module")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = pipeline_resources(template, "AWS::StepFunctions::StateMachine").values()
    return json.loads(LocalNames(template["Resources"]).resolve(machine["Properties"]["DefinitionString"]))


def all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in states.items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(all_states(processor["States"]))
    return found


def test_state_machine_is_load_map_aggregate(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Start"
    assert states["Start"] == {"Type": "Pass", "Parameters": {"input.$": "$"}, "Next": "LoadImage"}
    assert states["LoadImage"]["Next"] == "ManyRegions?"
    (many,) = states["ManyRegions?"]["Choices"]
    assert many == {"Variable": "$.region_count", "NumericGreaterThan": 1000, "Next": "ProcessManyRegions"}
    assert states["ManyRegions?"]["Default"] == "ProcessRegions"
    regions = states["ProcessRegions"]
    assert regions["Type"] == "Map"
    assert regions["ItemsPath"] == "$.regions"
    assert regions["MaxConcurrency"] == 16
    assert regions["ItemSelector"]["region.$"] == "$$.Map.Item.Value"
    assert regions["ResultPath"] is None, "region results travel through S3, never the state payload"
    assert regions["ItemProcessor"]["StartAt"] == "ProcessRegion"
    assert regions["Next"] == "Aggregate"


def test_many_regions_go_through_a_distributed_map_reading_s3(definition: dict[str, Any]) -> None:
    many = definition["States"]["ProcessManyRegions"]
    assert many["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = many["ItemReader"]
    assert reader["Resource"].endswith(":s3:getObject") and reader["ReaderConfig"]["InputType"] == "JSON"
    assert reader["Parameters"]["Key.$"] == "$.regions_key"
    assert many["ItemSelector"] == definition["States"]["ProcessRegions"]["ItemSelector"]
    assert many["ResultPath"] is None and many["Next"] == "Aggregate"
    child = many["ItemProcessor"]["States"]
    assert child["ProcessRegionInChild"]["Catch"][0]["Next"] == "RecordRegionFailureInChild"


def test_every_task_retries_lambda_service_errors_with_jitter(definition: dict[str, Any]) -> None:
    tasks = {n: s for n, s in all_states(definition["States"]).items() if s["Type"] == "Task"}
    assert set(tasks) >= {
        "LoadImage",
        "ProcessRegion",
        "ProcessRegionInChild",
        "Aggregate",
        "RecordJobFailure",
        "RecordRegionFailure",
        "RecordRegionFailureInChild",
    }
    for name, task in tasks.items():
        retry = next(r for r in task["Retry"] if "Lambda.ServiceException" in r["ErrorEquals"])
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= set(retry["ErrorEquals"]), name
        assert retry["BackoffRate"] > 1 and retry["JitterStrategy"] == "FULL", name


def test_every_step_has_a_catch_that_records_the_failure(definition: dict[str, Any]) -> None:
    states = all_states(definition["States"])
    for name in ("LoadImage", "ProcessRegions", "ProcessManyRegions", "Aggregate"):
        (catch,) = states[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["Next"] == "RecordJobFailure"
    (region_catch,) = states["ProcessRegion"]["Catch"]
    assert region_catch["Next"] == "RecordRegionFailure", "a failed region must not stop the others"
    assert states["RecordJobFailure"]["Next"] == "JobFailed"
    assert states["JobFailed"]["Type"] == "Fail"


def test_state_machines_log_all_events_and_trace(template: dict[str, Any]) -> None:
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 2  # the pipeline and the viewpoint ingest
    for machine in machines.values():
        props = machine["Properties"]
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
        assert props["TracingConfiguration"] == {"Enabled": True}


def test_tables_keys_ttl_pitr_on_demand(template: dict[str, Any]) -> None:
    tables = {
        tuple(k["AttributeName"] for k in r["Properties"]["KeySchema"]): r["Properties"]
        for r in resources(template, "AWS::DynamoDB::Table").values()
    }
    assert set(tables) == {("job_id",), ("image_id", "region_id"), ("viewpoint_id",)}
    for props in tables.values():
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expire_time", "Enabled": True}
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True


def test_each_function_attaches_the_layers_the_size_check_sums(template: dict[str, Any]) -> None:
    """The layers per function in the template are layers/build.py's FUNCTION_LAYERS, whose totals it checks."""
    build = runpy.run_path(str(BUILD_SCRIPT))
    layers = {
        logical_id: re.search(r"layers/(\w+)/requirements\.txt", layer["Properties"]["Description"]).group(1)  # type: ignore[union-attr]
        for logical_id, layer in resources(template, "AWS::Lambda::LayerVersion").items()
    }
    assert sorted(layers.values()) == sorted(build["LAYER_NAMES"])
    attached = {
        function["Properties"]["Description"].removeprefix("Tessera "): sorted(
            layers[ref["Ref"]] for ref in function["Properties"]["Layers"]
        )
        for function in tessera_functions(template).values()
    }
    assert attached == {name: sorted(names) for name, names in build["FUNCTION_LAYERS"].items()}
    assert [name for name, names in attached.items() if "parquet" in names] == ["Aggregate"]
    for function in tessera_functions(template).values():
        assert function["Properties"]["Runtime"] == "python3.13"
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    for layer in layers:
        assert "python3.13" in template["Resources"][layer]["Properties"]["CompatibleRuntimes"]


def test_handler_strings_resolve_to_callables(template: dict[str, Any]) -> None:
    for function in tessera_functions(template).values():
        module, _, name = function["Properties"]["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_functions_get_their_settings_from_the_stack(template: dict[str, Any]) -> None:
    names = LocalNames(template["Resources"])
    tables = {names.refs[k] for k in resources(template, "AWS::DynamoDB::Table") if k.startswith("Tracking")}
    for function in pipeline_functions(template).values():
        env = names.resolve(function["Properties"]["Environment"]["Variables"])
        assert {env["TESSERA_JOB_TABLE"], env["TESSERA_REGION_TABLE"]} == tables
        assert env["TESSERA_STATUS_TOPIC_ARN"].startswith("arn:aws:sns:")


def _s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
    }


@pytest.mark.parametrize(
    ("key", "starts_job"),
    [
        ("images/scene.tif", True),
        ("images/deep/folder/scene.TIFF", True),
        ("images/a.ntf", True),
        ("images/a.nitf", True),
        ("images/a.jp2", True),
        ("images/a.png", True),
        ("images/a.jpg", True),
        ("requests/job-1.json", True),
        ("images/notes.txt", False),
        ("images/request.json", False),
        ("uploads/scene.tif", False),
        ("requests/scene.tif", False),
    ],
)
def test_upload_rule_matches_image_and_request_keys(template: dict[str, Any], key: str, starts_job: bool) -> None:
    names = LocalNames(template["Resources"])
    (rule,) = pipeline_resources(template, "AWS::Events::Rule").values()
    pattern = EventPattern.load(json.dumps(names.resolve(rule["Properties"]["EventPattern"])))
    (bucket_id,) = [k for k, r in resources(template, "AWS::S3::Bucket").items() if "Images" in k]
    assert pattern.matches_event(_s3_event(names.refs[bucket_id], key)) is starts_job
    assert not pattern.matches_event(_s3_event("some-other-bucket", "images/scene.tif"))
    (target,) = rule["Properties"]["Targets"]
    assert "StateMachine" in target["Arn"]["Ref"]


def test_image_bucket_sends_events_to_eventbridge(template: dict[str, Any]) -> None:
    (notifications,) = resources(template, "Custom::S3BucketNotifications").values()
    assert notifications["Properties"]["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}


def test_buckets_are_private_encrypted_logged_and_tls_only(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 4  # images, results, viewpoint artifacts, access logs
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"] for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        statements = policies[name]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ), name
        if "AccessLogs" not in name:
            assert "LoggingConfiguration" in props, f"{name} must log access"


def test_no_iam_statement_allows_every_action(template: dict[str, Any]) -> None:
    for name, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions, name
            assert not any(a.endswith(":*") for a in actions), f"{name}: {actions}"


def test_every_wildcard_permission_is_acknowledged_with_a_reason(synthesized: Any, template: dict[str, Any]) -> None:
    app, _stack, _ = synthesized
    acknowledged: dict[str, str] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                acknowledged.update(entry.data)
    assert acknowledged, "cdk-nag acknowledgements are missing"
    assert all(reason.strip() for reason in acknowledged.values())
    wildcard_actions = {
        action
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if "*" in action
    }
    assert wildcard_actions, "expected CDK's grant wildcards (s3:GetObject*) in the template"
    for action in wildcard_actions:
        assert any(f"[Action::{action}]" in finding for finding in acknowledged), f"{action} is not acknowledged"


def _allowed(template: dict[str, Any], function_id: str) -> list[tuple[set[str], str]]:
    """(actions, resource as JSON) pairs the function's role allows."""
    role = template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    allowed = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            allowed.extend((set(actions), json.dumps(target)) for target in targets)
    return allowed


# What each handler calls (tessera/pipeline/*), and on which resource (a logical id prefix, or "*").
NEEDS = {
    "load_image": [
        ("s3:GetObject", "StorageImages"),
        ("s3:PutObject", "StorageResults"),
        ("dynamodb:UpdateItem", "TrackingJobs"),
        ("dynamodb:GetItem", "TrackingJobs"),
        ("sns:Publish", "PipelineJobStatus"),
        ("sagemaker:DescribeEndpoint", "endpoint"),
    ],
    "process_region": [
        ("s3:GetObject", "StorageImages"),
        ("s3:GetObject", "StorageResults"),
        ("s3:PutObject", "StorageResults"),
        ("dynamodb:UpdateItem", "TrackingRegions"),
        ("dynamodb:GetItem", "TrackingRegions"),
        ("dynamodb:UpdateItem", "TrackingJobs"),
        ("sns:Publish", "PipelineJobStatus"),
        ("sagemaker:InvokeEndpoint", "endpoint"),
    ],
    "aggregate": [
        ("s3:GetObject", "StorageResults"),
        ("s3:PutObject", "StorageResults"),
        ("dynamodb:Query", "TrackingRegions"),
        ("dynamodb:UpdateItem", "TrackingJobs"),
        ("dynamodb:GetItem", "TrackingJobs"),
        ("sns:Publish", "PipelineJobStatus"),
        ("kinesis:PutRecords", "stream"),
    ],
    "record_failure": [
        ("dynamodb:UpdateItem", "TrackingJobs"),
        ("dynamodb:UpdateItem", "TrackingRegions"),
        ("dynamodb:GetItem", "TrackingRegions"),
        ("s3:GetObject", "StorageImages"),
        ("sns:Publish", "PipelineJobStatus"),
    ],
}


def assert_may_call(template: dict[str, Any], handler: str, needs: list[tuple[str, str]]) -> None:
    """The role of the function running ``tessera.handlers.<handler>`` allows each (action, resource) in needs."""
    (function_id,) = [
        k
        for k, f in tessera_functions(template).items()
        if f["Properties"]["Handler"] == f"tessera.handlers.{handler}.handler"
    ]
    allowed = _allowed(template, function_id)
    for action, resource in needs:
        granted = [
            target
            for actions, target in allowed
            if any(a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in actions)
        ]
        assert any(resource in target for target in granted), f"{handler} may not {action} on {resource}"


@pytest.mark.parametrize("handler", sorted(NEEDS))
def test_each_function_may_call_what_its_handler_calls(template: dict[str, Any], handler: str) -> None:
    assert_may_call(template, handler, NEEDS[handler])


def test_a_region_out_of_time_is_retried_to_go_on(definition: dict[str, Any]) -> None:
    states = all_states(definition["States"])
    for name in ("ProcessRegion", "ProcessRegionInChild"):
        budget = [r for r in states[name]["Retry"] if r["ErrorEquals"] == ["RegionTimeBudgetError"]]
        assert budget and budget[0]["MaxAttempts"] >= 20, name
