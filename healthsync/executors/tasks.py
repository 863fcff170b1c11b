"""The one task of the Celery executor: sync one connection. Idempotent, so at-least-once delivery is safe.

A re-delivered or duplicated message finds a sync that started after it was sent and stops there; a message
that arrives while another worker holds the connection's lease stops too (that sync covers it). Everything a
sync writes is an upsert on the partner's natural key, fenced by the connection's epoch.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from healthsync.models import Connection, SyncRun
from healthsync.sync.engine import sync
from healthsync.sync.lease import AlreadySyncing

log = logging.getLogger(__name__)

BACKFILL_TRIGGERS = {SyncRun.Trigger.CONNECT}
FRESH_TRIGGERS = {SyncRun.Trigger.WEBHOOK, SyncRun.Trigger.CLIENT}


def purpose(connection: Connection, trigger: str) -> str:
    """Which queue: fresh data (webhooks, a user's "sync now"), routine polls, or the first long backfill."""
    if trigger in FRESH_TRIGGERS:
        return "webhook"
    if trigger in BACKFILL_TRIGGERS or connection.last_success_at is None:
        return "backfill"
    return "scheduled"


@shared_task(
    name="healthsync.sync_connection",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),  # a dropped database connection: try again shortly
    retry_backoff=1,
    retry_backoff_max=10,
    max_retries=5,
)
def sync_connection(self, connection_id: int, trigger: str, sent_at: float) -> str:  # noqa: ANN001
    """Returns what happened, for logs: a SyncRun outcome, "duplicate", "busy" or "gone"."""
    since = dt.datetime.fromtimestamp(sent_at, tz=dt.UTC)
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "gone"
    if (
        SyncRun.objects.filter(connection_id=connection_id, started_at__gte=since, finished_at__isnull=False)
        .exclude(outcome=SyncRun.Outcome.LEASE_LOST)
        .exists()
    ):
        return "duplicate"  # a sync that started after this message was sent has done its work
    try:
        run = sync(connection, trigger=trigger)
    except AlreadySyncing:
        return "busy"
    return run.outcome


def send(items: Iterable[tuple[Connection, str]]) -> int:
    """Publish one task per (connection, trigger) on its purpose's queue, over one producer connection."""
    from healthsync.executors.celery_app import queue_name

    sent = 0
    now = time.time()
    with sync_connection.app.producer_or_acquire() as producer:
        for connection, trigger in items:
            sync_connection.apply_async(
                (connection.pk, str(trigger), now), queue=queue_name(purpose(connection, trigger)), producer=producer
            )
            sent += 1
    return sent


def send_on_commit(items: list[tuple[Connection, str]]) -> None:
    """Publish once the current transaction commits, so a worker never reads rows older than the claim."""

    def publish() -> None:
        try:
            send(items)
        except Exception:  # the broker is down: the claimed rows fall due again after the lease delay
            log.exception("could not enqueue %d syncs; they will be claimed again", len(items))

    transaction.on_commit(publish)
