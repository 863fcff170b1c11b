"""What a sync owes the pending notifications of its connection, and what it learns about push.

``engine.sync`` loads a ``Plan`` under the connection's lease. A sync that consumes notifications is a "webhook"
sync: it fetches only the notified endpoints (plus those push never covers), narrows a window to the notified
time (then its cursor stays put: the narrowed window skipped older data), deletes records deletion events name,
and marks the notifications done. Every poll or webhook sync of a connection with active push records, per
endpoint that stored changes, how many changed records no notification announced (``PushObservation``): the
miss rate.
"""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.utils import timezone

from healthsync.models import Connection, EndpointState, PushObservation, SyncRun, WebhookEvent
from healthsync.providers import get_provider
from healthsync.providers.declarations import Endpoint
from healthsync.sync.fetch import Window
from healthsync.webhooks import conf, push_of

MAX_EVENTS = 1000  # more pending than this: sync every endpoint in full, the rest are covered by it anyway
OBSERVED_TRIGGERS = {SyncRun.Trigger.SCHEDULED, SyncRun.Trigger.WEBHOOK}
SLACK = dt.timedelta(seconds=1)  # a record at the edge of a notified window counts as announced


class Plan:
    def __init__(
        self, connection: Connection, events: list[WebhookEvent], covered: set[str], synced: set[str] | None = None
    ) -> None:
        self.connection = connection
        self.synced = synced or set()  # endpoints that had a cursor before this sync (the others backfill)
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
        covered = {name for names in push.kinds.values() for name in names}
        synced = set()
        if conf.enabled(connection.provider):  # a first fetch is a backfill, not something push missed
            states = EndpointState.objects.filter(connection=connection, endpoint__in=covered).exclude(cursor="")
            synced = set(states.values_list("endpoint", flat=True))
        return cls(connection, events, covered, synced)

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

        def written(d: dict) -> int:
            return d.get("new", 0) + d.get("changed", 0) + d.get("deleted", 0)

        details = {name: d for name, d in run.details.items() if name in self.synced and isinstance(d, dict)}
        found = {name: d for name, d in details.items() if written(d)}
        if not found or not push_active(connection):
            return
        observations = []
        for name, d in found.items():
            missed = 0 if self.overflow else self._unannounced(connection, run, name, d)
            records = written(d)
            observations.append(PushObservation(provider=connection.provider, connection=connection, run=run,
                                                endpoint=name, records=records, missed=min(missed, records), at=now))
        PushObservation.objects.bulk_create(observations)

    def _unannounced(self, connection: Connection, run: SyncRun, endpoint: str, counts: dict) -> int:
        """How many of the records this run wrote to ``endpoint`` no notification named (by id or time window)."""
        events = [e for e in self.events if endpoint in e.endpoints]
        deleted = 0 if any(e.action == "delete" for e in events) else counts.get("deleted", 0)
        if not counts.get("new", 0) + counts.get("changed", 0):
            return deleted
        ids = {e.object_id for e in events if e.object_id}
        windows = [(e.window_start - SLACK, (e.window_end or e.window_start) + SLACK) for e in events if e.window_start]
        if any(not e.object_id and not e.window_start for e in events):
            return deleted  # a notification for the whole data type announces everything in it
        state = EndpointState.objects.filter(connection=connection, endpoint=endpoint).first()
        missed = 0
        for label in state.record_types if state else []:
            rows = apps.get_model(label).objects.filter(
                user_id=connection.user_id, provider=connection.provider, endpoint=endpoint
            ).filter(synced_at__gte=run.started_at)
            for external_id, start in rows.values_list("external_id", "start"):
                if external_id not in ids and not any(lo <= start <= hi for lo, hi in windows):
                    missed += 1
        return deleted + missed
