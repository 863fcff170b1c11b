"""What a sync owes the pending notifications of its connection, and what it learns about push.

``engine.sync`` loads a ``Plan`` under the connection's lease. A sync that consumes notifications is a "webhook"
sync: it fetches only the notified endpoints (plus those push never covers), narrows a window to the notified
time (then its cursor stays put: the narrowed window skipped older data), deletes records deletion events name,
and marks the notifications done. Every poll or webhook sync of a connection with active push records, per
endpoint that stored changes, whether a notification led to it (``PushObservation``): the miss rate.
"""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.utils import timezone

from healthsync.models import Connection, PushObservation, SyncRun, WebhookEvent
from healthsync.providers import get_provider
from healthsync.providers.declarations import Endpoint
from healthsync.sync.fetch import Window
from healthsync.webhooks import conf, push_of

MAX_EVENTS = 1000  # more pending than this: sync every endpoint in full, the rest are covered by it anyway
OBSERVED_TRIGGERS = {SyncRun.Trigger.SCHEDULED, SyncRun.Trigger.WEBHOOK}


class Plan:
    def __init__(self, connection: Connection, events: list[WebhookEvent], covered: set[str]) -> None:
        self.connection = connection
        self.events = events
        self.covered = covered  # endpoints some notification kind refreshes
        self.notified = {name for e in events for name in e.endpoints}
        self.last_id = max((e.pk for e in events), default=0)
        self.overflow = len(events) >= MAX_EVENTS

    @classmethod
    def load(cls, connection: Connection) -> Plan:
        push = push_of(get_provider(connection.provider))
        if push is None:
            return cls(connection, [], set())
        events = list(
            WebhookEvent.objects.filter(connection=connection, status=WebhookEvent.Status.PENDING).order_by("pk")[
                :MAX_EVENTS
            ]
        )
        return cls(connection, events, {name for names in push.kinds.values() for name in names})

    def trigger(self, trigger: str) -> str:
        """A scheduled sync that consumes notifications is a webhook sync (it runs because of them)."""
        return SyncRun.Trigger.WEBHOOK if self.events and trigger == SyncRun.Trigger.SCHEDULED else trigger

    def wants(self, endpoint: Endpoint, trigger: str) -> bool:
        if trigger != SyncRun.Trigger.WEBHOOK or not self.events or self.overflow:
            return True
        return endpoint.name in self.notified or endpoint.name not in self.covered

    def narrow(self, endpoint: Endpoint, window: Window) -> tuple[Window, bool]:
        """The window to fetch and whether the cursor may advance to its end."""
        mine = [e for e in self.events if endpoint.name in e.endpoints]
        if not mine or window.start is None or endpoint.since is None or self.overflow:
            return window, True
        if any(e.window_start is None for e in mine):
            return window, True  # a notification without a hint wants the whole window
        start = min(e.window_start for e in mine) - endpoint.since.lookback
        if start <= window.start:
            return window, True
        return Window(start, window.began_at), False

    def delete(self, connection: Connection, endpoint: Endpoint, record_types: list[str]) -> int:
        """Delete the records deletion notifications name, by natural key."""
        ids = {e.object_id for e in self.events if e.action == "delete" and endpoint.name in e.endpoints}
        ids.discard("")
        if not ids:
            return 0
        deleted = 0
        for label in record_types:
            model = apps.get_model(label)
            deleted += model.objects.filter(
                user_id=connection.user_id, provider=connection.provider, endpoint=endpoint.name, external_id__in=ids
            ).delete()[0]
        return deleted

    def finish(self, connection: Connection, run: SyncRun) -> None:
        """After the sync: notifications done, observations recorded, and a sync soon for any that arrived since."""
        now = timezone.now()
        ok = run.outcome in (SyncRun.Outcome.SUCCESS, SyncRun.Outcome.PARTIAL, SyncRun.Outcome.REVOKED)
        if self.events and ok:
            failed = {name for name, d in run.details.items() if isinstance(d, dict) and "error" in d}
            done = [e.pk for e in self.events if not failed.intersection(e.endpoints)]
            WebhookEvent.objects.filter(pk__in=done, status=WebhookEvent.Status.PENDING).update(
                status=WebhookEvent.Status.DONE, processed_at=now, run=run
            )
        if ok and run.trigger in OBSERVED_TRIGGERS and self.covered:
            self._observe(connection, run, now)
        if (
            WebhookEvent.objects.filter(connection=connection, status=WebhookEvent.Status.PENDING, pk__gt=self.last_id)
            .exists()
        ):
            due = now + dt.timedelta(seconds=float(conf.get("DEBOUNCE_SECONDS")))
            Connection.objects.filter(pk=connection.pk, next_sync_at__gt=due).update(next_sync_at=due)

    def _observe(self, connection: Connection, run: SyncRun, now: dt.datetime) -> None:
        from healthsync.webhooks.stats import push_active

        found = {
            name: d.get("new", 0) + d.get("changed", 0) + d.get("deleted", 0)
            for name, d in run.details.items()
            if name in self.covered and isinstance(d, dict)
        }
        found = {name: n for name, n in found.items() if n}
        if not found or not push_active(connection):
            return
        PushObservation.objects.bulk_create(
            PushObservation(
                provider=connection.provider,
                connection=connection,
                run=run,
                endpoint=name,
                announced=name in self.notified or self.overflow,
                records=n,
                at=now,
            )
            for name, n in found.items()
        )
