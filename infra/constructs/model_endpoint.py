"""An optional SageMaker endpoint serving a model container (e.g. Tessera's model server).

Deployed when the context gives ``tessera:modelImageUri`` (an ECR image that implements the SageMaker
container contract: ``GET /ping``, ``POST /invocations`` on port 8080 — ``tessera serve-model`` does).
Jobs then use it with ``imageProcessor: {"name": <EndpointName output>, "type": "SM_ENDPOINT"}``.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct


class ModelEndpoint(Construct):
    """Model, endpoint configuration (one variant) and endpoint for one container image."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image_uri: str,
        instance_type: str = "ml.m5.xlarge",
        instance_count: int = 1,
        environment: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        repository = image_uri.split("/", 1)[1].split(":")[0].split("@")[0] if "/" in image_uri else "*"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name=repository)],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/Endpoints/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], resources=[logs]
            )
        )
        self.role = role
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image_uri, environment=environment or {}
            ),
        )
        self.model.node.add_dependency(role)
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name="AllTraffic",
                    model_name=self.model.attr_model_name,
                    initial_instance_count=instance_count,
                    instance_type=instance_type,
                    initial_variant_weight=1.0,
                )
            ],
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=self.config.attr_endpoint_config_name
        )

    @property
    def endpoint_name(self) -> str:
        """The endpoint's name, for ``imageProcessor.name``."""
        return self.endpoint.attr_endpoint_name
