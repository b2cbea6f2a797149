"""The pipeline's steps as plain functions over injected services: load → regions → aggregate.

Each Lambda handler parses its event, calls one of these, and shapes the reply. They take their
collaborators (tables, stores, publisher) through :class:`Services`, so tests run them against moto or
in-memory fakes without patching.
"""

from tessera.pipeline.aggregate import aggregate_job
from tessera.pipeline.failure import record_failure
from tessera.pipeline.load import load_job
from tessera.pipeline.region import process_region
from tessera.pipeline.services import Services

__all__ = ["Services", "aggregate_job", "load_job", "process_region", "record_failure"]
