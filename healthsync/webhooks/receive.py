"""Storing notifications: deduplicated, mapped to connections, and the connection made due after a debounce."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from healthsync import metrics, signals
from healthsync.models import Connection, SyncRun, WebhookEvent
from healthsync.webhooks import conf
from healthsync.webhooks.notices import Notice

log = logging.getLogger(__name__)


def store(slug: str, notices: list[Notice]) -> dict[str, int]:
    """Store what concerns a connected user; returns counts by outcome (stored, duplicate, unknown, ignored, revoked).

    A notification for a partner user we do not know changes nothing and is answered like any other.
    """
    outcome = {"stored": 0, "duplicate": 0, "unknown": 0, "ignored": 0, "revoked": 0}
    users = {n.user for n in notices}
    connections = {
        c.external_user_id: c
        for c in Connection.objects.filter(provider=slug, external_user_id__in=users).exclude(
            status=Connection.Status.REVOKED
        )
    }
    for notice in notices:
        connection = connections.get(notice.user)
        if connection is None:
            outcome["unknown"] += 1
        elif not notice.revoked and not notice.endpoints:
            outcome["ignored"] += 1  # a data type we do not sync (e.g. a profile change)
        elif not _insert(slug, connection, notice):
            outcome["duplicate"] += 1
        elif notice.revoked:
            _revoke(connection)
            outcome["revoked"] += 1
        else:
            make_due(connection)
            outcome["stored"] += 1
    metrics.webhook_batch(slug, outcome)
    return outcome


def _insert(slug: str, connection: Connection, notice: Notice) -> bool:
    """Store the notification; a repeat of a pending one only bumps its delivery count. True when it was new."""
    for _ in range(3):  # the pending twin may be consumed by a sync between our insert and our update
        try:
            _create(slug, connection, notice)
            return True
        except IntegrityError:
            twin = WebhookEvent.objects.filter(provider=slug, digest=notice.digest, status=WebhookEvent.Status.PENDING)
            if twin.update(deliveries=F("deliveries") + 1):
                return False
    return False


def _create(slug: str, connection: Connection, notice: Notice) -> None:
    with transaction.atomic():
        WebhookEvent.objects.create(
            provider=slug,
            digest=notice.digest,
            connection=connection,
            status=WebhookEvent.Status.REVOKED if notice.revoked else WebhookEvent.Status.PENDING,
            kind=notice.kind[:60],
            action=notice.action,
            object_id=notice.object_id[:200],
            endpoints=list(notice.endpoints),
            window_start=notice.window_start,
            window_end=notice.window_end,
            payload=notice.payload,
        )


def make_due(connection: Connection) -> None:
    """Sync the connection after the debounce, unless it is due earlier: a burst of notifications syncs once."""
    debounce = float(conf.get("DEBOUNCE_SECONDS"))
    if debounce <= 0:
        from healthsync.scheduling import dispatch

        transaction.on_commit(lambda: dispatch.enqueue(connection, SyncRun.Trigger.WEBHOOK))
        return
    due = timezone.now() + dt.timedelta(seconds=debounce)
    Connection.objects.filter(pk=connection.pk, next_sync_at__gt=due).exclude(
        status=Connection.Status.REVOKED
    ).update(next_sync_at=due)


def _revoke(connection: Connection) -> None:
    """The user revoked our access at the partner: stop syncing until they reconnect."""
    reason = "access was revoked at the partner"
    updated = Connection.objects.filter(pk=connection.pk).exclude(status=Connection.Status.REVOKED).update(
        status=Connection.Status.REVOKED, last_error=reason, updated_at=timezone.now()
    )
    if updated:
        connection.status, connection.last_error = Connection.Status.REVOKED, reason
        log.info("%s connection %s revoked by the partner's deauthorization event", connection.provider, connection.pk)
        signals.connection_revoked.send(sender=Connection, connection=connection, reason=reason)
