"""Push driving syncs, over real HTTP: duplicates and bursts coalesce, any order of create/update/delete ends in the
partner's state, deletion events delete, deauthorization revokes, and polls reconcile what push lost."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from healthsync import signals
from healthsync.models import (
    Connection,
    PushObservation,
    QuantitySample,
    SleepSession,
    SyncRun,
    WebhookEvent,
    Workout,
)
from healthsync.sync.engine import sync
from healthsync.webhooks import stats
from tests.test_webhooks import delivered, push_on, push_report, pushing, run_due, wait_for  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def strava_connected(pushing, connect_partner):  # noqa: ANN001, ANN201, F811
    strava = pushing("strava")
    connection = connect_partner("strava")
    call_command("healthsync_webhooks", "create", "strava")
    assert sync(connection, SyncRun.Trigger.CONNECT).outcome == "success"
    return strava, connection


def workouts(connection: Connection) -> dict[str, str]:
    return dict(Workout.objects.filter(connection=connection).values_list("external_id", "name"))


def truth_workouts(strava, connection: Connection) -> dict[str, str]:  # noqa: ANN001
    return {str(a["id"]): a["name"] for a in strava.truth(connection.external_user_id)["activities"]}


def test_duplicates_and_a_burst_make_one_sync(strava_connected):  # noqa: ANN001
    strava, connection = strava_connected
    strava.control("POST", "push", duplicate=1.0, delay_ms=200, retry_scale=0.002, scan_ms=50)
    for n in range(3):
        strava.upload(connection.external_user_id, "workout", sport="run", name=f"burst {n}")
    delivered(strava, 6)
    assert push_report(strava)["counts"] == {"delivered": 6}
    events = WebhookEvent.objects.filter(connection=connection)
    assert events.count() == 3 and {e.deliveries for e in events} == {2}
    runs = run_due()
    assert [r.trigger for r in runs] == [SyncRun.Trigger.WEBHOOK]
    assert runs[0].records_new == 3
    assert workouts(connection) == truth_workouts(strava, connection)
    assert not events.filter(status="pending").exists()


def test_out_of_order_create_update_delete(strava_connected):  # noqa: ANN001
    strava, connection = strava_connected
    strava.control("POST", "push", delay_ms=400, reorder=0.5, reorder_ms=600, retry_scale=0.002, scan_ms=20, seed=3)
    user = connection.external_user_id
    gone = strava.upload(user, "workout", sport="ride", name="short-lived")
    kept = strava.upload(user, "workout", sport="run", name="first name")
    wait_for(lambda: push_report(strava)["notifications"] >= 2, what="create notifications")
    strava.update(user, "workout", id=kept["id"], fields={"name": "renamed"})
    strava.delete(user, "workout", gone["id"])
    delivered(strava, 4)
    log = push_report(strava, log=True)["deliveries"]
    arrival = [d["notice"]["action"] for d in sorted(log, key=lambda d: d["delivered_at"])]
    sent = [d["notice"]["action"] for d in sorted(log, key=lambda d: d["id"])]
    assert sorted(arrival) == sorted(sent) == ["create", "create", "delete", "update"]
    run_due()
    assert workouts(connection) == truth_workouts(strava, connection)
    assert workouts(connection)[str(kept["id"])] == "renamed" and str(gone["id"]) not in workouts(connection)


def test_a_deletion_event_deletes_a_record_outside_the_poll_window(strava_connected):  # noqa: ANN001
    strava, connection = strava_connected
    old = (
        Workout.objects.filter(connection=connection, start__lt=timezone.now() - dt.timedelta(days=10))
        .order_by("start")
        .first()
    )
    assert old is not None  # a month of history was backfilled; the poll window only reaches back a week
    strava.delete(connection.external_user_id, "workout", old.external_id)
    delivered(strava, 1)
    (run,) = run_due()
    assert run.trigger == SyncRun.Trigger.WEBHOOK and run.records_deleted == 1
    assert not Workout.objects.filter(pk=old.pk).exists()
    assert workouts(connection) == truth_workouts(strava, connection)


def test_deauthorization_marks_the_connection_revoked(strava_connected):  # noqa: ANN001
    strava, connection = strava_connected
    seen = []

    def on_revoked(sender, connection, reason, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.append((connection.pk, reason))

    signals.connection_revoked.connect(on_revoked)
    try:
        strava.revoke(connection.external_user_id)  # the athlete revokes the app in their Strava settings
        delivered(strava, 1)
    finally:
        signals.connection_revoked.disconnect(on_revoked)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert seen and seen[0][0] == connection.pk
    assert WebhookEvent.objects.get().action == "deauthorize"
    strava.upload(connection.external_user_id, "workout")  # no longer authorized: no notification
    assert push_report(strava)["notifications"] == 1


def stored_ids(connection: Connection) -> set[str]:
    return {
        external_id
        for model in (Workout, SleepSession, QuantitySample)
        for external_id in model.objects.filter(connection=connection).values_list("external_id", flat=True)
    }


def upload_key(slug: str, kind: str, raw: dict) -> str:
    """Our natural key of an upload, from the partner's raw answer."""
    if slug == "withings" and kind == "weight":
        return f"{raw['grpid']}-1"
    return str(raw["id"])


def spread(slug: str, kind: str, at: int) -> dict:
    """Withings announces time windows, not ids: give each upload its own (the clock is frozen)."""
    if slug != "withings":
        return {}
    return {"weight": {"at": at}, "workout": {"start": at}, "sleep": {"start": at, "end": at + 7200}}[kind]


@pytest.mark.parametrize("slug", ["strava", "withings", "oura"])
def test_reconciliation_with_five_percent_of_notifications_lost(slug, pushing, connect_partner):  # noqa: ANN001, F811
    """Uploads one at a time, each notification 5% likely to be lost: push syncs what it hears of, a reconciliation
    poll the rest; every loss is measured as a miss, and every upload ends up stored."""
    partner = pushing(slug)
    connection = connect_partner(slug)
    if slug != "withings":
        call_command("healthsync_webhooks", "create", slug)
    assert sync(connection, SyncRun.Trigger.CONNECT).outcome == "success"
    partner.control("POST", "push", loss=0.05, seed=11, retry_scale=0.002, scan_ms=20)
    user = connection.external_user_id
    kinds = {"strava": ["workout"], "withings": ["weight", "workout", "sleep"], "oura": ["workout", "sleep"]}[slug]
    uploads, base = [], int(partner.state.clock.now()) - 41 * 3 * 3600
    for n in range(40):
        kind = kinds[n % len(kinds)]
        uploads.append(upload_key(slug, kind, partner.upload(user, kind, **spread(slug, kind, base + n * 3 * 3600))))
        delivered(partner, n + 1)
        run_due()
    report = push_report(partner)
    lost = report["counts"].get("dropped", 0)
    assert report["notifications"] == len(uploads) and lost >= 1, report
    Connection.objects.update(next_sync_at=timezone.now())  # the slow reconciliation poll falls due
    (poll,) = run_due()
    assert poll.trigger == SyncRun.Trigger.SCHEDULED and poll.outcome == "success"
    truth = partner.truth(user)
    truth_ids = {str(item.get("id", item.get("grpid"))) for items in truth.values() for item in items}
    assert {u.removesuffix("-1") if slug == "withings" else u for u in uploads} <= truth_ids  # the partner's truth
    assert set(uploads) <= stored_ids(connection)  # holds every upload, and so do we
    missed = sum(PushObservation.objects.values_list("missed", flat=True))
    assert missed >= lost
    assert 0 < stats.miss_rate(slug) < 0.5
    assert stats.last_notification_at(connection) is not None and stats.push_active(connection)
    assert stats.summary()[slug]["syncs"][SyncRun.Trigger.WEBHOOK] >= len(uploads) - lost - 1
