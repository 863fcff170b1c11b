"""Run a sync now, inline, or on the configured executor: ``HEALTHSYNC["EXECUTOR"]`` = "embedded" | "celery".

Both executors run the same ``sync.engine.sync``; switching is a setting, not a code change.
"""

from __future__ import annotations

from functools import cache

from healthsync import conf
from healthsync.models import Connection, SyncRun
from healthsync.scheduling.worker import EmbeddedWorker
from healthsync.sync.engine import sync

EXECUTORS = ("embedded", "celery")


@cache
def embedded_pool() -> EmbeddedWorker:
    return EmbeddedWorker(threads=4)


def executor() -> str:
    name = conf.get("EXECUTOR")
    if name not in EXECUTORS:
        raise ValueError(f"HEALTHSYNC['EXECUTOR'] is {name!r}; choose one of {EXECUTORS}")
    return name


def sync_now(connection: Connection, trigger: str = SyncRun.Trigger.MANUAL) -> SyncRun:
    """Sync within the caller's thread. Raises AlreadySyncing if another worker holds the lease."""
    return sync(connection, trigger=trigger)


def enqueue(connection: Connection, trigger: str = SyncRun.Trigger.MANUAL) -> None:
    """Sync soon on the configured executor. On Celery the task is sent when the current transaction commits."""
    if executor() == "celery":
        from healthsync.executors.tasks import send_on_commit

        send_on_commit([(connection, trigger)])
    else:
        embedded_pool().submit(connection.pk, trigger)
