"""``sync(connection)``: lock, fetch each granted endpoint, map, upsert and advance its cursor atomically."""

from __future__ import annotations

import logging

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from healthsync import metrics, signals
from healthsync.http.errors import PartnerError, RateLimited, TokenRevoked
from healthsync.models import Connection, EndpointState, HealthRecord, SyncRun
from healthsync.providers import Provider, get_provider
from healthsync.providers.declarations import Endpoint
from healthsync.scheduling import policy
from healthsync.sync.fetch import Batch, Window, fetch_raw, map_records, window_for
from healthsync.sync.lease import Lease, LeaseLost, fence, take_epoch
from healthsync.sync.session import PartnerSession
from healthsync.sync.store import Counts, delete_missing, upsert
from healthsync.webhooks.plan import Plan

log = logging.getLogger(__name__)


def granted(endpoint: Endpoint, connection: Connection) -> bool:
    if not endpoint.scope:
        return True
    needed = (endpoint.scope,) if isinstance(endpoint.scope, str) else endpoint.scope
    return any(scope in connection.scopes for scope in needed)


def sync(connection: Connection, trigger: str = SyncRun.Trigger.MANUAL) -> SyncRun:
    """Sync one connection now. Raises AlreadySyncing if another worker holds its lease."""
    provider = get_provider(connection.provider)
    with Lease(connection.pk) as lease:
        connection.refresh_from_db()
        epoch = take_epoch(connection)
        _close_abandoned_runs(connection, epoch)
        plan = Plan.load(connection)  # pending webhook notifications
        run = SyncRun.objects.create(connection=connection, trigger=plan.trigger(trigger), epoch=epoch)
        try:
            _run(provider, connection, lease, run, plan)
        except LeaseLost as exc:
            run.outcome, run.error = SyncRun.Outcome.LEASE_LOST, str(exc)
        finally:
            run.finished_at = timezone.now()
            run.save()
            if run.outcome != SyncRun.Outcome.LEASE_LOST:
                _finish(connection, run, epoch)
                plan.finish(connection, run)
    metrics.record_sync(provider.slug, run)
    if run.found_new_data:
        signals.records_synced.send(sender=SyncRun, connection=connection, run=run)
    return run


def _close_abandoned_runs(connection: Connection, epoch: int) -> None:
    """Runs of older epochs still marked running belonged to a worker that died: say so on their record."""
    SyncRun.objects.filter(connection=connection, outcome=SyncRun.Outcome.RUNNING, epoch__lt=epoch).update(
        outcome=SyncRun.Outcome.LEASE_LOST, finished_at=timezone.now(), error="the worker stopped before finishing"
    )


def _run(provider: Provider, connection: Connection, lease: Lease, run: SyncRun, plan: Plan) -> None:
    if connection.status == Connection.Status.REVOKED:
        run.outcome, run.error = SyncRun.Outcome.REVOKED, "the connection needs the user to reconnect"
        return
    session = PartnerSession(provider, connection, lease)
    failures, retry_at, tried = [], None, 0
    for endpoint in provider.endpoints():
        if not granted(endpoint, connection):
            run.details[endpoint.name] = {"skipped": "scope not granted"}
            continue
        if not plan.wants(endpoint, run.trigger):
            continue  # a webhook sync fetches what was notified
        tried += 1
        try:
            _sync_endpoint(provider, session, endpoint, run, plan)
        except TokenRevoked as exc:
            run.outcome, run.error = SyncRun.Outcome.REVOKED, str(exc)
            break
        except (PartnerError, OSError) as exc:
            failures.append(f"{endpoint.name}: {exc}")
            run.details[endpoint.name] = {"error": str(exc)}
            _record_endpoint_error(connection, endpoint, str(exc))
            if isinstance(exc, RateLimited) and exc.retry_at:
                retry_at = max(retry_at or exc.retry_at, exc.retry_at)
        finally:
            run.requests = session.requests
    if run.outcome == SyncRun.Outcome.RUNNING:
        run.outcome = (
            SyncRun.Outcome.SUCCESS if not failures
            else SyncRun.Outcome.FAILED if len(failures) == tried
            else SyncRun.Outcome.PARTIAL
        )
        run.error = "\n".join(failures)
    if retry_at:
        run.details["retry_at"] = retry_at.isoformat()


def _sync_endpoint(provider: Provider, session: PartnerSession, endpoint: Endpoint, run: SyncRun, plan: Plan) -> None:
    connection = session.connection
    state, _ = EndpointState.objects.get_or_create(connection=connection, endpoint=endpoint.name)
    window = window_for(endpoint, state.cursor, provider.backfill, timezone.now())
    window, advance = plan.narrow(endpoint, window)  # a notified window: the cursor stays before unfetched data
    batch = map_records(endpoint, fetch_raw(session, endpoint, window))
    with transaction.atomic():
        fence(connection.pk, run.epoch)
        counts = upsert(connection, endpoint.name, batch.records)
        counts.deleted = _delete_missing(connection, endpoint, state, window, batch)
        counts.deleted += plan.delete(connection, endpoint, state.record_types)
        if advance:
            state.cursor = window.began_at.isoformat()
        state.last_success_at, state.last_error = timezone.now(), ""
        state.save(update_fields=["cursor", "last_success_at", "last_error", "record_types"])
    _add_to_run(run, endpoint, counts, batch)


def _delete_missing(
    connection: Connection, endpoint: Endpoint, state: EndpointState, window: Window, batch: Batch
) -> int:
    state.record_types = sorted({*state.record_types, *(r._meta.label for r in batch.records)})
    complete = endpoint.since is not None and endpoint.since.by == "time" and window.start is not None
    if not complete or batch.skipped:  # a skipped record might be one we hold: deleting it would lose data
        return 0
    record_models: list[type[HealthRecord]] = [apps.get_model(label) for label in state.record_types]
    return delete_missing(
        connection,
        endpoint.name,
        record_models,
        window.start,
        by_date=endpoint.since.fmt == "date",
        kept={str(r.external_id) for r in batch.records},
    )


def _add_to_run(run: SyncRun, endpoint: Endpoint, counts: Counts, batch: Batch) -> None:
    run.records_new += counts.new
    run.records_changed += counts.changed
    run.records_unchanged += counts.unchanged
    run.records_deleted += counts.deleted
    run.records_skipped += batch.skipped
    run.details[endpoint.name] = {
        "new": counts.new,
        "changed": counts.changed,
        "unchanged": counts.unchanged,
        "deleted": counts.deleted,
        "skipped": batch.skipped,
        **({"skip_reasons": batch.skip_reasons} if batch.skip_reasons else {}),
    }


def _record_endpoint_error(connection: Connection, endpoint: Endpoint, error: str) -> None:
    EndpointState.objects.filter(connection=connection, endpoint=endpoint.name).update(last_error=error[:2000])


def _finish(connection: Connection, run: SyncRun, epoch: int) -> None:
    """Write the connection's status and next due time, fenced like the data."""
    now = timezone.now()
    ok = run.outcome in (SyncRun.Outcome.SUCCESS, SyncRun.Outcome.PARTIAL)
    failures = 0 if ok else connection.consecutive_failures + 1
    fields: dict[str, object] = {
        "last_sync_at": now,
        "last_error": run.error[:2000],
        "consecutive_failures": failures,
        "next_sync_at": policy.next_sync_at(connection, run, failures),
    }
    if ok:
        fields["last_success_at"] = now
    if run.outcome != SyncRun.Outcome.REVOKED:
        fields["status"] = Connection.Status.ERROR if failures >= 3 else Connection.Status.ACTIVE
    try:
        with transaction.atomic():
            fence(connection.pk, epoch, **fields)
    except LeaseLost:
        return
    for name, value in fields.items():
        setattr(connection, name, value)

