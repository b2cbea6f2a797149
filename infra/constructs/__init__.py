"""Reusable constructs: storage, tables, Lambda layers, the pipeline and the tile server."""

from infra.constructs.layers import PythonLayers
from infra.constructs.model_endpoint import ModelEndpoint
from infra.constructs.pipeline import ImagePipeline
from infra.constructs.request_queue import RequestQueue
from infra.constructs.storage import ImageryBuckets, TrackingTables
from infra.constructs.tile_server import TileServer

__all__ = [
    "ImagePipeline",
    "ImageryBuckets",
    "ModelEndpoint",
    "PythonLayers",
    "RequestQueue",
    "TileServer",
    "TrackingTables",
]
