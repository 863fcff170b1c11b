"""Token state: stored encrypted, refreshed before expiry or on a 401, rotated refresh tokens never lost."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from healthsync import conf, signals
from healthsync.auth import oauth
from healthsync.http.errors import TokenRevoked
from healthsync.models import Connection
from healthsync.providers import Provider

log = logging.getLogger(__name__)


def expiry_of(token: dict[str, Any]) -> dt.datetime | None:
    if token.get("expires_at"):
        return dt.datetime.fromtimestamp(int(token["expires_at"]), tz=dt.UTC)
    if token.get("expires_in"):
        return timezone.now() + dt.timedelta(seconds=int(token["expires_in"]))
    return None


def token_fields(token: dict[str, Any], previous_refresh: str = "") -> dict[str, Any]:
    return {
        "access_token": token["access_token"],
        # a partner that does not rotate leaves the refresh token out of its answer: keep the one we have
        "refresh_token": token.get("refresh_token") or previous_refresh,
        "token_expires_at": expiry_of(token),
    }


def store_refreshed(connection: Connection, token: dict[str, Any]) -> bool:
    """Persist a refreshed token pair at once, compare-and-set on ``token_version``.

    The rotated refresh token is written in its own transaction, before any data work, so a sync that fails
    later cannot lose it. False means another process refreshed first; the caller reloads.
    """
    fields = token_fields(token, connection.refresh_token)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if locked.token_version != connection.token_version:
            return False
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.token_version += 1
        locked.save(update_fields=[*fields, "token_version", "updated_at"])
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.token_version += 1
    return True


def needs_refresh(connection: Connection) -> bool:
    if not connection.token_expires_at:
        return False
    margin = dt.timedelta(seconds=conf.get("REFRESH_MARGIN_SECONDS"))
    return connection.token_expires_at - margin <= timezone.now()


def refresh(provider: Provider, connection: Connection) -> None:
    """Refresh now. The caller holds the connection's sync lease, so no one else refreshes in parallel."""
    if not connection.refresh_token:
        raise TokenRevoked(f"{provider.slug} gave no refresh token and the access token expired")
    version = connection.token_version
    try:
        token = oauth.refresh(provider, connection.refresh_token)
    except TokenRevoked:
        connection.refresh_from_db()
        if connection.token_version != version:  # someone else rotated it meanwhile: theirs is the good one
            return
        mark_revoked(connection, "the partner refused our refresh token")
        raise
    if not store_refreshed(connection, token):
        connection.refresh_from_db()


def ensure_fresh(provider: Provider, connection: Connection) -> None:
    if needs_refresh(connection):
        refresh(provider, connection)


def mark_revoked(connection: Connection, reason: str) -> None:
    """Stop polling a connection whose tokens the partner no longer accepts, and tell the host app."""
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.REVOKED,
        access_token="",
        refresh_token="",
        last_error=reason,
        token_version=F("token_version") + 1,
        updated_at=timezone.now(),
    )
    connection.refresh_from_db()
    log.info("connection %s (%s) revoked: %s", connection.pk, connection.provider, reason)
    signals.connection_revoked.send(sender=Connection, connection=connection, reason=reason)
