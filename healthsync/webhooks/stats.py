"""Push health for the polling policy and operators. Every function is one or two indexed queries.

- ``push_active(connection)``: push is configured for its provider and an active, unexpired subscription covers
  it. A policy polls such a connection only to reconcile (``WEBHOOKS["RECONCILE_SECONDS"]``, or its own rate).
- ``miss_rate(slug, since=None)``: of the records syncs stored on connections with active push, the share no
  notification announced (found by a poll, or by a webhook sync for other data), in [0, 1]; None before anything
  was observed. ``weight="syncs"``: the share of (sync, endpoint) discoveries with any unannounced record.
- ``last_notification_at(connection)``: when the partner last notified us about this connection (None: never).
- ``summary(since=None)``: per provider, notifications, duplicates, syncs by trigger, the miss rate.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from healthsync.models import Connection, PushObservation, SyncRun, WebhookEvent, WebhookSubscription
from healthsync.providers import get_provider
from healthsync.providers.declarations import UserSubscriptions
from healthsync.webhooks import conf, push_of


def push_active(connection: Connection) -> bool:
    if not conf.enabled(connection.provider):
        return False
    push = push_of(get_provider(connection.provider))
    per_user = isinstance(push.subscribe, UserSubscriptions)
    live = WebhookSubscription.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()),
        provider=connection.provider,
        status=WebhookSubscription.Status.ACTIVE,
    )
    live = live.filter(connection=connection) if per_user else live.filter(connection__isnull=True)
    return live.exists()


def miss_rate(
    slug: str, since: dt.datetime | None = None, weight: Literal["records", "syncs"] = "records"
) -> float | None:
    rows = PushObservation.objects.filter(provider=slug)
    if since:
        rows = rows.filter(at__gte=since)
    if weight == "syncs":
        totals = rows.aggregate(all=Count("id"), missed=Count("id", filter=Q(missed__gt=0)))
    else:
        totals = rows.aggregate(all=Sum("records"), missed=Sum("missed"))
    return (totals["missed"] or 0) / totals["all"] if totals["all"] else None


def last_notification_at(connection: Connection) -> dt.datetime | None:
    return WebhookEvent.objects.filter(connection=connection).aggregate(at=Max("received_at"))["at"]


def summary(since: dt.datetime | None = None) -> dict[str, dict[str, object]]:
    events = WebhookEvent.objects.all()
    runs = SyncRun.objects.all()
    if since:
        events, runs = events.filter(received_at__gte=since), runs.filter(started_at__gte=since)
    out: dict[str, dict[str, object]] = {}
    for row in events.values("provider").annotate(n=Count("id"), sent=Sum("deliveries")):
        out.setdefault(row["provider"], {}).update(notifications=row["n"], duplicates=row["sent"] - row["n"])
    for row in runs.values("connection__provider", "trigger").annotate(n=Count("id")):
        entry = out.setdefault(row["connection__provider"], {})
        entry.setdefault("syncs", {})[row["trigger"]] = row["n"]  # type: ignore[union-attr]
    for slug, entry in out.items():
        entry["miss_rate"] = miss_rate(slug, since)
    return out
