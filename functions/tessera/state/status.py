"""Statuses of jobs and regions, and how a job's outcome follows from its regions (OSML's rules)."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    """OSML's request statuses, used for jobs and regions alike."""

    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        """True for SUCCESS, PARTIAL and FAILED."""
        return self in {RequestStatus.SUCCESS, RequestStatus.PARTIAL, RequestStatus.FAILED}


def region_status(total_tiles: int, failed_tiles: int) -> RequestStatus:
    """A region is FAILED if every tile failed, PARTIAL if some did, else SUCCESS.

    Example:
        >>> region_status(4, 0), region_status(4, 1), region_status(4, 4)
        (<RequestStatus.SUCCESS: 'SUCCESS'>, <RequestStatus.PARTIAL: 'PARTIAL'>, <RequestStatus.FAILED: 'FAILED'>)
    """
    if total_tiles > 0 and failed_tiles >= total_tiles:
        return RequestStatus.FAILED
    return RequestStatus.PARTIAL if failed_tiles else RequestStatus.SUCCESS


def job_status(region_count: int, region_success: int, region_partial: int, region_failed: int) -> RequestStatus:
    """SUCCESS when every region succeeded, FAILED when none produced anything, PARTIAL otherwise.

    Example:
        >>> job_status(3, 3, 0, 0), job_status(3, 2, 1, 0), job_status(3, 0, 0, 3)
        (<RequestStatus.SUCCESS: 'SUCCESS'>, <RequestStatus.PARTIAL: 'PARTIAL'>, <RequestStatus.FAILED: 'FAILED'>)
    """
    if region_count > 0 and region_success == region_count:
        return RequestStatus.SUCCESS
    if region_success + region_partial == 0:
        return RequestStatus.FAILED
    return RequestStatus.PARTIAL
