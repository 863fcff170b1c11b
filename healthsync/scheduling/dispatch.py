"""Run a sync now, inline or on the process's embedded pool (the Celery executor plugs in here later)."""

from __future__ import annotations

from functools import cache

from healthsync.models import Connection, SyncRun
from healthsync.scheduling.worker import EmbeddedWorker
from healthsync.sync.engine import sync


@cache
def embedded_pool() -> EmbeddedWorker:
    return EmbeddedWorker(threads=4)


def sync_now(connection: Connection, trigger: str = SyncRun.Trigger.MANUAL) -> SyncRun:
    """Sync within the caller's thread. Raises AlreadySyncing if another worker holds the lease."""
    return sync(connection, trigger=trigger)


def enqueue(connection: Connection, trigger: str = SyncRun.Trigger.MANUAL) -> None:
    embedded_pool().submit(connection.pk, trigger)
