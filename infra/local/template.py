"""The synthesized CloudFormation template, and the intrinsic functions in it resolved to local names.

Local physical names are derived from logical ids (lower-cased for buckets), in the emulated account
``123456789012`` and region ``us-east-1``.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import ROOT

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _cdk_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text()).get("context", {}))


def synthesize(context: dict[str, Any] | None = None, outdir: Path | None = None) -> dict[str, Any]:
    """Synthesize the app (with cdk-nag) and return the stack's template.

    Uses the built layers when they exist, otherwise empty stand-ins: layer contents do not change the
    state machine or any resource the local run creates.
    """
    from infra.app import STACK_NAME, build_app
    from infra.constructs.layers import LAYER_NAMES

    merged = {**_cdk_context(), **(context or {})}
    outdir = outdir or Path(tempfile.mkdtemp(prefix="tessera-synth-"))
    layers = ROOT / str(merged.get("tessera:layersDir", "layers/build"))
    if not all((layers / name).is_dir() for name in LAYER_NAMES):
        stub = outdir / "layer-stand-ins"
        for name in LAYER_NAMES:
            (stub / name / "python").mkdir(parents=True, exist_ok=True)
        merged["tessera:layersDir"] = str(stub)
    app = build_app(context=merged, outdir=str(outdir / "cdk.out"))
    assembly = app.synth()
    return dict(assembly.get_stack_by_name(STACK_NAME).template)


#: Per resource type: its local ARN pattern, and what ``Ref`` returns ("name", "arn" or a pattern).
_LOCAL_NAMES: dict[str, tuple[str, str]] = {
    "AWS::S3::Bucket": ("arn:aws:s3:::{name}", "name"),
    "AWS::DynamoDB::Table": ("arn:aws:dynamodb:{region}:{account}:table/{name}", "name"),
    "AWS::SNS::Topic": ("arn:aws:sns:{region}:{account}:{name}", "arn"),
    "AWS::StepFunctions::StateMachine": ("arn:aws:states:{region}:{account}:stateMachine:{name}", "arn"),
    "AWS::Lambda::Function": ("arn:aws:lambda:{region}:{account}:function:{name}", "name"),
    "AWS::SQS::Queue": ("arn:aws:sqs:{region}:{account}:{name}", "https://sqs.{region}.amazonaws.com/{account}/{name}"),
    "AWS::IAM::Role": ("arn:aws:iam::{account}:role/{name}", "name"),
}


@dataclass
class LocalNames:
    """Physical names and ARNs of the template's resources in the emulator."""

    resources: dict[str, dict[str, Any]]
    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for logical_id, resource in self.resources.items():
            name = logical_id.lower()[:63] if resource["Type"] == "AWS::S3::Bucket" else logical_id
            arn_pattern, ref = _LOCAL_NAMES.get(resource["Type"], ("arn:aws:local:{region}:{account}:{name}", "name"))
            arn = arn_pattern.format(region=REGION, account=ACCOUNT, name=name)
            self.arns[logical_id] = arn
            self.refs[logical_id] = {"name": name, "arn": arn}.get(ref) or ref.format(
                region=REGION, account=ACCOUNT, name=name
            )

    def resolve(self, value: Any) -> Any:
        """Evaluate ``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select`` and ``Fn::Split``."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if attribute == "Arn":
                    return self.arns[logical_id]
                return logical_id if attribute in {"QueueName", "TopicName"} else self.refs[logical_id]
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Sub":
                return self._sub(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "TesseraStack",
        }
        return pseudo.get(name) or self.refs[name]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, _ = name.split(".", 1)
                return self.arns[logical_id]
            return self._ref(name)

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, text)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """The template's resources of one type, by logical id."""
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}
