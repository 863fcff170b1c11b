"""A sync's view of one partner account: authenticated calls, token refresh on 401, request counting."""

from __future__ import annotations

from functools import cache
from typing import Any

from healthsync.auth import tokens
from healthsync.http.client import PartnerClient
from healthsync.http.errors import Unauthorized
from healthsync.models import Connection
from healthsync.providers import Provider
from healthsync.sync.lease import Lease


@cache
def client_for(slug: str, provider: Provider) -> PartnerClient:
    """One pooled client (and one request budget) per partner, shared by every sync in the process."""
    return PartnerClient(slug, provider.envelope, provider.app_limits, provider.user_limits)


class PartnerSession:
    def __init__(self, provider: Provider, connection: Connection, lease: Lease | None = None) -> None:
        self.provider = provider
        self.connection = connection
        self.lease = lease
        self.client = client_for(provider.slug, provider)
        self.requests = 0

    def _count(self) -> None:
        self.requests += 1

    def call(self, path: str, params: dict[str, Any], method: str = "GET") -> Any:
        """One API call; an expired or refused access token is refreshed once and the call repeated."""
        if self.lease:
            self.lease.renew()
        tokens.ensure_fresh(self.provider, self.connection)
        try:
            return self._send(path, params, method)
        except Unauthorized:
            tokens.refresh(self.provider, self.connection)
            return self._send(path, params, method)

    def _send(self, path: str, params: dict[str, Any], method: str) -> Any:
        return self.client.call(
            method,
            self.provider.api_url(path),
            params=params,
            token=self.connection.access_token,
            user_key=self.connection.external_user_id or str(self.connection.pk),
            on_request=self._count,
        )
