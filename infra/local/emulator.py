"""Start the emulator process and create the template's resources in it.

Only the resources the pipeline uses at run time are created (buckets and their EventBridge
notifications, tables with TTL, topics, the rule and its targets, the state machine, and the function
registry). IAM is not emulated: on AWS the same template's roles grant what the handlers need.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from infra.config import ROOT
from infra.local.template import ACCOUNT, REGION, LocalNames

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def endpoint_environment(port: int) -> dict[str, str]:
    """The only settings that differ between AWS and the emulator: endpoints, for boto3 and for GDAL."""
    return {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_S3_ENDPOINT": f"127.0.0.1:{port}",
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


class Emulator(AbstractContextManager["Emulator"]):
    """moto as an HTTP server on 127.0.0.1, with the template's resources, handlers in worker processes."""

    def __init__(
        self,
        template: dict[str, Any],
        *,
        log_path: Path,
        workers: int | None = None,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        self.template = template
        self.names = LocalNames(template["Resources"])
        self.log_path = log_path
        self.workers = workers or os.cpu_count() or 2
        self.port = free_port()
        self.endpoints = dict(endpoints or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )

    @property
    def endpoint(self) -> str:
        """The emulator's URL."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str) -> Any:
        """A boto3 client for the emulated account."""
        return self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def __enter__(self) -> Emulator:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        functions_file = self.log_path.parent / "functions.json"
        functions_file.write_text(json.dumps(self._functions(), indent=2))
        env = {**os.environ, **endpoint_environment(self.port)}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "functions"), env.get("PYTHONPATH", "")])
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.local.server",
                "--port",
                str(self.port),
                "--functions",
                str(functions_file),
                "--workers",
                str(self.workers),
                "--endpoints",
                json.dumps(self.endpoints),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_until_up()
        self._create_resources()
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"the emulator did not start within {timeout:.0f} s; see {self.log_path}")

    def _functions(self) -> dict[str, dict[str, Any]]:
        functions = {}
        for logical_id, resource in self.names.of_type("AWS::Lambda::Function").items():
            props = resource["Properties"]
            handler = props.get("Handler", "")
            if not handler.startswith("tessera."):
                continue  # CDK's own custom-resource handlers are not part of the pipeline
            variables = self.names.resolve(props.get("Environment", {}).get("Variables", {}))
            functions[logical_id] = {"handler": handler, "environment": {k: str(v) for k, v in variables.items()}}
        return functions

    def _create_resources(self) -> None:
        names = self.names
        s3, ddb, sns = self.client("s3"), self.client("dynamodb"), self.client("sns")
        for logical_id in names.of_type("AWS::S3::Bucket"):
            s3.create_bucket(Bucket=names.refs[logical_id])
        for resource in names.of_type("Custom::S3BucketNotifications").values():
            props = names.resolve(resource["Properties"])
            s3.put_bucket_notification_configuration(
                Bucket=props["BucketName"], NotificationConfiguration=props["NotificationConfiguration"]
            )
        for logical_id, resource in names.of_type("AWS::DynamoDB::Table").items():
            props = resource["Properties"]
            ddb.create_table(
                TableName=names.refs[logical_id],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )
            if "TimeToLiveSpecification" in props:
                ddb.update_time_to_live(
                    TableName=names.refs[logical_id], TimeToLiveSpecification=props["TimeToLiveSpecification"]
                )
        for logical_id in names.of_type("AWS::SNS::Topic"):
            sns.create_topic(Name=logical_id)
        sqs = self.client("sqs")
        for logical_id in names.of_type("AWS::SQS::Queue"):
            sqs.create_queue(QueueName=logical_id)
        self._create_state_machines()
        self._create_rules()
        self._create_pipes()
        self._create_endpoints()

    def _create_pipes(self) -> None:
        """EventBridge Pipes from SQS queues to the state machine (delivered by the emulator process)."""
        pipes = self.client("pipes")
        for logical_id, resource in self.names.of_type("AWS::Pipes::Pipe").items():
            props = self.names.resolve(resource["Properties"])
            pipes.create_pipe(
                Name=logical_id,
                RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{logical_id}",
                Source=props["Source"],
                SourceParameters=props.get("SourceParameters", {}),
                Target=props["Target"],
                TargetParameters=props.get("TargetParameters", {}),
            )

    def queue_url(self, output: str) -> str:
        """The emulated URL of a queue named by a stack output (e.g. ``ImageRequestQueueUrl``)."""
        name = self.output(output).rsplit("/", 1)[-1]
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def _create_endpoints(self) -> None:
        """One SageMaker endpoint (one variant, AllTraffic) per locally served model."""
        sagemaker = self.client("sagemaker")
        for name in self.endpoints:
            sagemaker.create_model(
                ModelName=name,
                ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/local-model",
                PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tessera-models:local"},
            )
            sagemaker.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": name,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "InitialVariantWeight": 1.0,
                    }
                ],
            )
            sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)

    def _create_state_machines(self) -> None:
        sfn = self.client("stepfunctions")
        for logical_id, resource in self.names.of_type("AWS::StepFunctions::StateMachine").items():
            props = resource["Properties"]
            definition = self.names.resolve(props["DefinitionString"])
            sfn.create_state_machine(
                name=logical_id,
                definition=definition if isinstance(definition, str) else json.dumps(definition),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{logical_id}Role",
                type=props.get("StateMachineType", "STANDARD"),
            )

    def _create_rules(self) -> None:
        events = self.client("events")
        for logical_id, resource in self.names.of_type("AWS::Events::Rule").items():
            props = self.names.resolve(resource["Properties"])
            events.put_rule(Name=logical_id, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")
            events.put_targets(
                Rule=logical_id,
                Targets=[{"Id": t["Id"], "Arn": t["Arn"], "RoleArn": t.get("RoleArn", "")} for t in props["Targets"]],
            )

    def state_machine_arn(self) -> str:
        """The pipeline's state machine (the stack's ``StateMachineArn`` output)."""
        return self.output("StateMachineArn")

    def output(self, name: str) -> str:
        """A stack output (e.g. ``ImageBucket``), resolved to its local value."""
        return str(self.names.resolve(self.template["Outputs"][name]["Value"]))
