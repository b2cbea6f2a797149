"""Models on SageMaker endpoints (OSML's SM_ENDPOINT), through the runtime's InvokeEndpoint."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tessera.errors import ModelError
from tessera.imagery import TileData, encode_tile
from tessera.inference.contract import parse_model_response

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
else:
    SageMakerClient = Any
    SageMakerRuntimeClient = Any

#: InvokeEndpoint arguments a request may pass through ``imageProcessorParameters`` (as OSML does).
ALLOWED_PARAMETERS = {
    "ContentType",
    "Accept",
    "CustomAttributes",
    "TargetModel",
    "TargetVariant",
    "TargetContainerHostname",
    "InferenceId",
    "EnableExplanations",
    "InferenceComponentName",
    "SessionId",
}


def choose_variant(sagemaker: SageMakerClient, endpoint: str, rng: random.Random | None = None) -> str | None:
    """A production variant picked at random by its current weight (OSML's rule when none is pinned)."""
    try:
        variants = sagemaker.describe_endpoint(EndpointName=endpoint).get("ProductionVariants", [])
    except (ClientError, BotoCoreError) as err:
        raise ModelError(f"cannot describe SageMaker endpoint {endpoint}: {err}") from None
    weighted = [(v["VariantName"], float(v.get("CurrentWeight", 1.0))) for v in variants]
    if not weighted or sum(w for _, w in weighted) <= 0:
        return None
    names, weights = zip(*weighted, strict=True)
    return (rng or random.Random()).choices(names, weights=weights)[0]


class SageMakerDetector:
    """Invokes a SageMaker endpoint per tile; botocore retries throttling (adaptive mode)."""

    def __init__(
        self,
        client: SageMakerRuntimeClient,
        endpoint: str,
        *,
        parameters: dict[str, Any] | None = None,
        tile_format: str = "NITF",
        tile_compression: str = "NONE",
    ) -> None:
        self.name = endpoint
        self.client = client
        self.endpoint = endpoint
        self.tile_format = tile_format
        self.tile_compression = tile_compression
        self.parameters = {k: v for k, v in (parameters or {}).items() if k in ALLOWED_PARAMETERS}
        self.parameters.setdefault("ContentType", "application/octet-stream")

    def detect(self, tile: TileData) -> list[dict[str, Any]]:
        """Invoke the endpoint with the encoded tile and parse the features in the answer."""
        body = encode_tile(tile, self.tile_format, self.tile_compression)
        try:
            response = self.client.invoke_endpoint(EndpointName=self.endpoint, Body=body, **self.parameters)
        except (ClientError, BotoCoreError) as err:
            raise ModelError(f"SageMaker endpoint {self.endpoint} failed: {err}") from None
        return parse_model_response(response["Body"].read(), self.endpoint)
