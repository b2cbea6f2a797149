"""Reusable constructs: storage, tracking tables, Lambda layers, and the pipeline itself."""

from infra.constructs.layers import PythonLayers
from infra.constructs.model_endpoint import ModelEndpoint
from infra.constructs.pipeline import ImagePipeline
from infra.constructs.request_queue import RequestQueue
from infra.constructs.storage import ImageryBuckets, TrackingTables

__all__ = ["ImagePipeline", "ImageryBuckets", "ModelEndpoint", "PythonLayers", "RequestQueue", "TrackingTables"]
