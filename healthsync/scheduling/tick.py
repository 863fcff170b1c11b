"""The scheduler tick: claim due connections in priority order, hand them to an executor.

There is no per-user cron entry: schedule state is data (``next_sync_at``), and one tick finds what is due.
On PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``, so many tickers never claim the same row.

The due rows are found through the partial index ``healthsync_due_idx`` (``next_sync_at`` where the status is
active or error), oldest first; among a few times ``limit`` such candidates the tick claims those whose
expected pending data is largest (the policy's planned rate × time since the last sync), so a busy tick serves
the most valuable first and a long-overdue connection still rises to the top (no starvation).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from healthsync import conf, metrics
from healthsync.models import Connection, PollingState

log = logging.getLogger(__name__)

CANDIDATES_PER_SLOT = 4
_control_lock = threading.Lock()
_last_control = [0.0]
_last_push_upkeep = [0.0]
PUSH_UPKEEP_SECONDS = 3600.0


def _score(connection: Connection, priority: float | None, now: dt.datetime) -> float:
    since = connection.last_sync_at or connection.created_at or now
    waited = max((now - since).total_seconds(), 0.0) + max((now - connection.next_sync_at).total_seconds(), 0.0)
    return (priority if priority and priority > 0 else 1.0) * (waited + 1.0)


def claim_due(limit: int, now: dt.datetime | None = None) -> list[Connection]:
    """Claim up to ``limit`` due connections, highest priority first, and push their due time past the lease.

    A claimed connection whose worker dies becomes due again when that lease-long delay ends.
    """
    now = now or timezone.now()
    run_controllers(now)
    keep_push_subscriptions()
    if limit <= 0:
        return []
    with transaction.atomic():
        due = Connection.objects.filter(
            status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR], next_sync_at__lte=now
        ).order_by("next_sync_at")
        if db.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        candidates = list(due[: limit * CANDIDATES_PER_SLOT])
        if len(candidates) > limit:
            priority = dict(
                PollingState.objects.filter(pk__in=[c.pk for c in candidates]).values_list("pk", "priority")
            )
            candidates.sort(key=lambda c: -_score(c, priority.get(c.pk), now))
        claimed = candidates[:limit]
        if claimed:
            Connection.objects.filter(pk__in=[c.pk for c in claimed]).update(
                next_sync_at=now + dt.timedelta(seconds=conf.get("LEASE_SECONDS"))
            )
    metrics.scheduler_claimed(claimed, now)
    return claimed


def run_controllers(now: dt.datetime | None = None, force: bool = False) -> int:
    """Every few minutes (``HEALTHSYNC["POLLING"]["control_seconds"]``), run each partner's policy controller
    (shadow price, clusters, hour-of-week shape). Never raises: a controller failure must not stop claims."""
    from healthsync.scheduling import policy

    period = float(policy.polling_settings()["control_seconds"])
    if not force and time.monotonic() - _last_control[0] < period:
        return 0
    if not _control_lock.acquire(blocking=False):
        return 0
    try:
        _last_control[0] = time.monotonic()
        current = policy.current()
        providers = list(Connection.objects.values_list("provider", flat=True).distinct())
        for provider in providers:
            try:
                current.control(provider, now)
            except Exception:
                log.exception("the %s policy controller failed for %s", type(current).__name__, provider)
        return len(providers)
    finally:
        _control_lock.release()


def keep_push_subscriptions(force: bool = False) -> bool:
    """Hourly: renew push subscriptions before they expire (Oura's lapse). Never raises. Creating and checking
    subscriptions stays a deliberate operator step: ``manage.py healthsync_webhooks maintain``."""
    from healthsync.webhooks import subscriptions

    if not force and time.monotonic() - _last_push_upkeep[0] < PUSH_UPKEEP_SECONDS:
        return False
    _last_push_upkeep[0] = time.monotonic()
    try:
        subscriptions.renew_due()
    except Exception:
        log.exception("push subscription upkeep failed")
    return True
