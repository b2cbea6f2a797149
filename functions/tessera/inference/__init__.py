"""Models: the detector contract, built-in models, and the model response parser."""

from tessera.inference.base import Detector
from tessera.inference.builtin import BUILTIN_MODELS, CenterPointDetector, FailureDetector, FloodDetector, ModelFailure
from tessera.inference.factory import detector_for

__all__ = [
    "BUILTIN_MODELS",
    "CenterPointDetector",
    "Detector",
    "FailureDetector",
    "FloodDetector",
    "ModelFailure",
    "detector_for",
]
