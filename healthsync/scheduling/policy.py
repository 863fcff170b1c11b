"""When a connection is polled next. The fixed-interval policy lives here; smarter ones plug in by setting.

A policy answers two questions: after a sync, when is the next one due; and may a client's "sync now" run.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.utils import timezone
from django.utils.module_loading import import_string

from healthsync import conf
from healthsync.models import Connection, SyncRun
from healthsync.providers import get_provider

MAX_BACKOFF = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    next_allowed_at: dt.datetime | None = None
    reason: str = ""


class FixedIntervalPolicy:
    """Each partner's ``sync_every`` (or settings' SYNC_INTERVALS[slug]), doubled per consecutive failure."""

    def interval(self, connection: Connection) -> dt.timedelta:
        overrides = conf.provider_settings(connection.provider)
        if "sync_every_seconds" in overrides:
            return dt.timedelta(seconds=overrides["sync_every_seconds"])
        return get_provider(connection.provider).sync_every

    def next_sync_at(self, connection: Connection, run: SyncRun, failures: int) -> dt.datetime:
        now = timezone.now()
        wait = self.interval(connection)
        if failures:
            wait = min(wait * 2 ** min(failures, 10), MAX_BACKOFF)
        wait *= random.uniform(0.9, 1.1)  # spread connections that were due together
        due = now + wait
        retry_at = run.details.get("retry_at")
        if retry_at:
            due = max(due, dt.datetime.fromisoformat(retry_at))
        return due

    def client_sync(self, connection: Connection) -> Decision:
        if connection.status == Connection.Status.REVOKED:
            return Decision(False, None, "the connection needs the user to reconnect")
        if connection.last_sync_at:
            earliest = connection.last_sync_at + dt.timedelta(seconds=conf.get("CLIENT_SYNC_MIN_SECONDS"))
            if earliest > timezone.now():
                return Decision(False, earliest, "synced moments ago")
        return Decision(True)


def current() -> FixedIntervalPolicy:
    return import_string(conf.get("POLICY"))()


def next_sync_at(connection: Connection, run: SyncRun, failures: int) -> dt.datetime:
    return current().next_sync_at(connection, run, failures)
