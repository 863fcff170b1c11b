"""The normalized model against each partner's ground truth: first sync, idempotent re-sync, changes, deletions,
and a number of SQL statements per sync that does not grow with the number of records."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from healthsync.models import (
    BloodPressure,
    Connection,
    DailyActivity,
    EndpointState,
    QuantitySample,
    SleepSession,
    SyncRun,
    Workout,
)
from healthsync.sync.engine import sync
from tests.conftest import SLUGS

pytestmark = pytest.mark.django_db(transaction=True)


def epoch_of(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def expected_ids(slug: str, truth: dict, starts: dict[str, dt.datetime]) -> dict[tuple[str, str], set[str]]:
    """What the partner's truth says we should hold, per (endpoint, model), given each endpoint's window start.

    The windows follow each partner's own filter: Strava's ``after`` (start time), Withings' ``lastupdate``
    (modification time), Oura's ``start_date`` (day) and ``start_datetime`` (instant).
    """
    out: dict[tuple[str, str], set[str]] = {}

    def add(endpoint: str, model: type, key: object) -> None:
        out.setdefault((endpoint, model.__name__), set()).add(str(key))

    if slug == "strava":
        after = int(starts["activities"].timestamp())
        for a in truth["activities"]:
            if epoch_of(a["start_date"]) > after:
                add("activities", Workout, a["id"])
    elif slug == "withings":
        since = {name: int(start.timestamp()) for name, start in starts.items()}
        for g in truth["measuregrps"]:
            if g["modified"] > since["measures"]:
                types = {m["type"] for m in g["measures"]}
                for kind in types & {1, 6, 11}:
                    add("measures", QuantitySample, f"{g['grpid']}-{kind}")
                if {9, 10} <= types:
                    add("measures", BloodPressure, f"{g['grpid']}-bp")
        for a in truth["activities"]:
            if a["modified"] > since["activity"]:
                add("activity", DailyActivity, a["date"])
        for name, model in (("workouts", Workout), ("sleep", SleepSession)):
            for item in truth[name]:
                if item["modified"] > since[name]:
                    add(name, model, item["id"])
    else:
        for name, truth_name, model in (
            ("daily_activity", "daily_activity", DailyActivity),
            ("sleep", "sleep", SleepSession),
            ("workouts", "workout", Workout),
        ):
            first_day = starts[name].date().isoformat()
            for doc in truth[truth_name]:
                if doc["day"] >= first_day:
                    add(name, model, doc["id"])
        first = int(starts["heartrate"].timestamp())
        for h in truth["heartrate"]:
            if epoch_of(h["timestamp"]) >= first:
                add("heartrate", QuantitySample, f"hr-{h['timestamp']}")
    return out


def stored_ids(connection: Connection) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for model in (Workout, DailyActivity, SleepSession, QuantitySample, BloodPressure):
        for endpoint, external_id in model.objects.filter(user=connection.user_id).values_list(
            "endpoint", "external_id"
        ):
            out.setdefault((endpoint, model.__name__), set()).add(external_id)
    return out


def first_sync_windows(connection: Connection) -> dict[str, dt.datetime]:
    """Each endpoint's first window began ``backfill`` before the cursor it stored."""
    from healthsync.providers import get_provider

    backfill = get_provider(connection.provider).backfill
    return {
        state.endpoint: dt.datetime.fromisoformat(state.cursor) - backfill
        for state in EndpointState.objects.filter(connection=connection)
    }


@pytest.mark.parametrize("slug", SLUGS)
def test_first_sync_matches_truth_and_second_sync_is_a_no_op(slug, partner_factory, connect_partner):
    partner = partner_factory(slug)
    partner.freeze()
    connection = connect_partner(slug)

    first = sync(connection)

    assert first.outcome == SyncRun.Outcome.SUCCESS, first.error
    truth = partner.truth(connection.external_user_id)
    expected = expected_ids(slug, truth, first_sync_windows(connection))
    stored = stored_ids(connection)
    assert {key: len(ids) for key, ids in stored.items()} == {key: len(ids) for key, ids in expected.items()}
    assert stored == expected
    assert first.records_new == sum(map(len, expected.values())) > 0
    assert first.records_skipped == 0

    second = sync(connection)

    assert second.outcome == SyncRun.Outcome.SUCCESS, second.error
    assert (second.records_new, second.records_changed, second.records_deleted) == (0, 0, 0)
    assert stored_ids(connection) == expected


def test_values_are_normalized(partner_factory, connect_partner):
    """A Strava activity in canonical units and UTC, compared field by field with the partner's own record."""
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    uploaded = partner.upload(connection.external_user_id, "workout", sport="run")
    sync(connection)
    workout = Workout.objects.get(user=connection.user_id, external_id=str(uploaded["id"]))
    assert workout.sport == Workout.Sport.RUNNING and workout.sport_raw == "Run"
    assert workout.start == dt.datetime.fromisoformat(uploaded["start_date"].replace("Z", "+00:00"))
    assert workout.start.utcoffset() == dt.timedelta(0)
    assert (workout.end - workout.start).total_seconds() == uploaded["elapsed_time"]
    assert workout.duration_s == uploaded["moving_time"] and workout.distance_m == uploaded["distance"]
    assert workout.avg_heart_rate == uploaded["average_heartrate"]
    assert workout.local_date.isoformat() == uploaded["start_date_local"][:10]


# --- changes and deletions at the partner -------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["withings", "oura"])
def test_changed_daily_steps_update_the_row(slug, partner_factory, connect_partner):
    partner = partner_factory(slug)
    partner.freeze()
    connection = connect_partner(slug)
    sync(connection)
    latest = DailyActivity.objects.filter(user=connection.user_id).order_by("-local_date").first()
    rows = DailyActivity.objects.count()

    partner.update(connection.external_user_id, "daily", day=latest.local_date.isoformat(),
                   fields={"steps": (latest.steps or 0) + 1234})
    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.records_changed >= 1 and run.records_new == 0
    assert DailyActivity.objects.get(pk=latest.pk).steps == (latest.steps or 0) + 1234  # updated in place
    assert DailyActivity.objects.count() == rows


CHANGES = {"strava": ("name", "Renamed at the partner", "name"), "withings": ("calories", 777, "energy_kcal"),
           "oura": ("calories", 777.0, "energy_kcal")}


@pytest.mark.parametrize("slug", SLUGS)
def test_changed_workout_updates_the_row(slug, partner_factory, connect_partner):
    partner = partner_factory(slug)
    partner.freeze()
    connection = connect_partner(slug)
    uploaded = partner.upload(connection.external_user_id, "workout", sport="ride")
    sync(connection)
    row = Workout.objects.get(user=connection.user_id, external_id=str(uploaded["id"]))
    field, value, column = CHANGES[slug]
    assert getattr(row, column) != value

    partner.update(connection.external_user_id, "workout", id=uploaded["id"], fields={field: value})
    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.records_changed == 1 and run.records_new == 0
    row.refresh_from_db()
    assert getattr(row, column) == value


@pytest.mark.parametrize("slug, removed", [("strava", 1), ("oura", 1), ("withings", 0)])
def test_partner_side_deletion(slug, removed, partner_factory, connect_partner):
    """Strava and Oura windows are complete (filtered on the record's own time): a missing record was deleted.
    Withings filters on modification time, so absence proves nothing and the row is kept."""
    partner = partner_factory(slug)
    partner.freeze()
    connection = connect_partner(slug)
    uploaded = partner.upload(connection.external_user_id, "workout", sport="walk")
    sync(connection)
    assert Workout.objects.filter(external_id=str(uploaded["id"])).exists()
    before = Workout.objects.count()

    partner.delete(connection.external_user_id, "workout", uploaded["id"])
    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.records_deleted == removed
    assert Workout.objects.filter(external_id=str(uploaded["id"])).exists() == (not removed)
    assert Workout.objects.count() == before - removed


# --- SQL statements per sync --------------------------------------------------------------------------------------


def statements(queries: list[dict]) -> Counter:
    return Counter(q["sql"].split()[0].upper() for q in queries)


def test_queries_per_sync_do_not_grow_with_records(partner_factory, connect_partner):
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    sync(connection)
    counts = {}
    for n in (10, 1000):
        for _ in range(n):
            partner.state.upload(connection.external_user_id, "workout")  # in-process: 1000 HTTP calls add nothing
        with CaptureQueriesContext(db) as captured:
            run = sync(connection)
        assert run.outcome == SyncRun.Outcome.SUCCESS and run.records_new == n, run.error
        counts[n] = captured.captured_queries
    print(
        f"\nSQL statements per sync on {db.vendor}: 10 new records -> {len(counts[10])} "
        f"{dict(statements(counts[10]))}; 1000 new records -> {len(counts[1000])} {dict(statements(counts[1000]))}"
    )
    assert len(counts[1000]) == len(counts[10])
    assert statements(counts[1000]) == statements(counts[10])
