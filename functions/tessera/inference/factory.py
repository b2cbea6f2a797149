"""Choose the detector for a job."""

from __future__ import annotations

from typing import Any

from tessera.errors import InvalidRequestError
from tessera.inference.base import Detector
from tessera.inference.builtin import BUILTIN_MODELS
from tessera.inference.http import HTTPDetector
from tessera.inference.sagemaker import SageMakerDetector
from tessera.requests import JobSpec, ModelInvokeMode


def detector_for(job: JobSpec, session: Any = None) -> Detector:
    """The detector that serves ``job.model_name`` in ``job.model_invoke_mode``.

    ``session`` is the boto3 session for SageMaker endpoints (already assuming the model's role, if any).

    Raises:
        InvalidRequestError: for an unknown built-in model or an HTTP endpoint that is not a URL.
    """
    mode = job.model_invoke_mode
    if mode is ModelInvokeMode.BUILTIN:
        model = BUILTIN_MODELS.get(job.model_name)
        if model is None:
            known = ", ".join(sorted(BUILTIN_MODELS))
            raise InvalidRequestError(
                f"imageProcessor.name: unknown built-in model {job.model_name!r} (known: {known})",
                field="imageProcessor.name",
            )
        return model(job.model_parameters)
    if mode is ModelInvokeMode.HTTP_ENDPOINT:
        if not job.model_name.startswith(("http://", "https://")):
            raise InvalidRequestError(
                f"imageProcessor.name: an HTTP_ENDPOINT model must be an http(s) URL, got {job.model_name!r}",
                field="imageProcessor.name",
            )
        return HTTPDetector(
            job.model_name,
            parameters=job.model_parameters,
            tile_format=job.tile_format.value,
            tile_compression=job.tile_compression.value,
        )
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session()
    client = session.client(
        "sagemaker-runtime", config=Config(retries={"mode": "adaptive", "max_attempts": 30}, read_timeout=70)
    )
    return SageMakerDetector(
        client,
        job.model_name,
        parameters=job.model_parameters,
        tile_format=job.tile_format.value,
        tile_compression=job.tile_compression.value,
    )
