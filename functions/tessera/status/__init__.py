"""Job status messages (OSML's SNS format)."""

from tessera.status.sns import StatusPublisher, status_message

__all__ = ["StatusPublisher", "status_message"]
