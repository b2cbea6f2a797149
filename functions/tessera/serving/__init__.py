"""A model server with the SageMaker / OSML container contract, serving the built-in models."""

from tessera.serving.model_server import ModelServer, decode_tile

__all__ = ["ModelServer", "decode_tile"]
