"""What can go wrong talking to a partner, as exceptions the sync engine records in plain words."""

from __future__ import annotations

import datetime as dt


class PartnerError(Exception):
    """The partner answered, but not with usable data (an HTTP error, an error status, malformed JSON)."""


class MalformedResponse(PartnerError):
    pass


class PartnerUnavailable(PartnerError):
    """Timeouts, connection failures and 5xx that outlived our retries."""


class Unauthorized(PartnerError):
    """The partner refused the access token (HTTP 401 or an envelope's auth-failure status)."""


class RateLimited(PartnerError):
    """The partner, or our own budget for it, says wait; ``retry_at`` is when trying again makes sense."""

    def __init__(self, message: str, retry_at: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class TokenRevoked(PartnerError):
    """The partner rejected our refresh token (invalid_grant): the user must reconnect."""
