"""The embedded default: the synthesized state machine, run on this machine.

Nothing here is a second pipeline. The template that ``cdk synth`` produces is read, its resources are
created under its names in moto (run as an HTTP server), the state machine definition is executed by
moto's Step Functions interpreter, and every Lambda task is dispatched to the real handler in a worker
process. The handlers reach the emulated services only through endpoint settings.
"""

from infra.local.runner import JobRun, LocalPipeline

__all__ = ["JobRun", "LocalPipeline"]
