"""cdk-nag is live: an unacknowledged finding fails synthesis."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from infra.config import TesseraConfig
from infra.stack import TesseraStack
from tests.infra.conftest import cdk_context


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    app = cdk.App(context=cdk_context(tmp_path), outdir=str(tmp_path / "cdk.out"))
    stack = TesseraStack(app, "TesseraStack", config=TesseraConfig.from_context(app.node))
    s3.Bucket(stack, "CarelessBucket")  # no access logs, no TLS enforcement: AwsSolutions-S1, S10
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_missing_layers_fail_with_instructions(tmp_path: Path) -> None:
    context = cdk_context(tmp_path)
    context["tessera:layersDir"] = str(tmp_path / "nowhere")
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    with pytest.raises(FileNotFoundError, match="make layers"):
        TesseraStack(app, "TesseraStack", config=TesseraConfig.from_context(app.node))


def test_configured_output_buckets_and_roles_are_granted_and_pass_nag(tmp_path: Path) -> None:
    context = cdk_context(
        tmp_path,
        **{
            "tessera:outputBucketNames": "team-a-results",
            "tessera:trustedRoleArns": "arn:aws:iam::111122223333:role/r",
        },
    )
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    stack = TesseraStack(app, "TesseraStack", config=TesseraConfig.from_context(app.node))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    template = app.synth().get_stack_by_name("TesseraStack").template
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        s["Action"] == "sts:AssumeRole" and s["Resource"] == "arn:aws:iam::111122223333:role/r" for s in statements
    )
    assert any(s["Action"] == "s3:PutObject" and "team-a-results" in json.dumps(s["Resource"]) for s in statements)
    assert stack.config.output_bucket_names == "team-a-results"


def test_a_model_image_deploys_a_sagemaker_endpoint_that_passes_nag(tmp_path: Path) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tessera-models:1.0"
    context = cdk_context(tmp_path, **{"tessera:modelImageUri": image})
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    TesseraStack(app, "TesseraStack", config=TesseraConfig.from_context(app.node))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    template = app.synth().get_stack_by_name("TesseraStack").template
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint"} <= kinds
    (model,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    assert model["Properties"]["PrimaryContainer"]["Image"] == image
    assert "ModelEndpointName" in template["Outputs"]
