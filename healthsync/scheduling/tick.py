"""The scheduler tick: claim due connections in priority order, hand them to an executor.

There is no per-user cron entry: schedule state is data (``next_sync_at``), and one tick finds what is due.
On PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``, so many tickers never claim the same row.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection as db, transaction
from django.utils import timezone

from healthsync import conf, metrics
from healthsync.models import Connection


def claim_due(limit: int, now: dt.datetime | None = None) -> list[Connection]:
    """Claim up to ``limit`` due connections, most overdue first, and push their due time past the lease.

    A claimed connection whose worker dies becomes due again when that lease-long delay ends.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = Connection.objects.filter(
            status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR], next_sync_at__lte=now
        ).order_by("next_sync_at")
        if db.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        claimed = list(due[:limit])
        if claimed:
            Connection.objects.filter(pk__in=[c.pk for c in claimed]).update(
                next_sync_at=now + dt.timedelta(seconds=conf.get("LEASE_SECONDS"))
            )
    metrics.scheduler_claimed(claimed, now)
    return claimed
