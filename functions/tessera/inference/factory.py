"""Choose the detector for a job."""

from __future__ import annotations

from tessera.errors import InvalidRequestError
from tessera.inference.base import Detector
from tessera.inference.builtin import BUILTIN_MODELS
from tessera.requests import JobSpec, ModelInvokeMode


def detector_for(job: JobSpec) -> Detector:
    """The detector that serves ``job.model_name`` in ``job.model_invoke_mode``.

    Raises:
        InvalidRequestError: for an unknown built-in model or an invoke mode this deployment cannot reach.
    """
    if job.model_invoke_mode is ModelInvokeMode.BUILTIN:
        model = BUILTIN_MODELS.get(job.model_name)
        if model is None:
            known = ", ".join(sorted(BUILTIN_MODELS))
            raise InvalidRequestError(
                f"imageProcessor.name: unknown built-in model {job.model_name!r} (known: {known})",
                field="imageProcessor.name",
            )
        return model()
    raise InvalidRequestError(
        f"imageProcessor.type: {job.model_invoke_mode.value} models are not available in this version; use BUILTIN",
        field="imageProcessor.type",
    )
