"""What can go wrong when asking a forecast service (one hierarchy; messages never hold a key)."""

from __future__ import annotations

from datetime import datetime


class ForecastError(Exception):
    """A forecast could not be had this time; the last good one stays in use."""


class ForecastUnavailable(ForecastError):
    """Transport failure, timeout or a 5xx: try again at the next poll."""


class ForecastRateLimited(ForecastError):
    """The service's limit is reached: wait until ``retry_at`` (None: the service did not say)."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class ForecastRejected(ForecastError):
    """The service refused the request (bad parameters or key): a person must fix the settings."""


class ForecastMalformed(ForecastError):
    """The answer is not in the documented format."""
