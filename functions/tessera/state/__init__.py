"""Job and region tracking: statuses (pure) and the DynamoDB tables that hold them."""

from tessera.state.status import RequestStatus, job_status, region_status

__all__ = ["RequestStatus", "job_status", "region_status"]
