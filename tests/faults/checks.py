"""The invariants every fault test ends on, read from the database, the run records and the emulators."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from healthsync.models import Connection, DailyActivity, QuantitySample, SleepSession, SyncRun, Workout
from healthsync.providers import get_provider
from tests.faults.cluster import wait_for

# partner feed in the emulator's ground truth -> (our model, the record's external_id, its day or instant)
TRUTH = {
    "strava": {"activities": (Workout, lambda r: str(r["id"]), lambda r: r["start_date"])},
    "oura": {
        "daily_activity": (DailyActivity, lambda r: str(r["id"]), lambda r: r["day"]),
        "sleep": (SleepSession, lambda r: str(r["id"]), lambda r: r["day"]),
        "workout": (Workout, lambda r: str(r["id"]), lambda r: r["day"]),
        "heartrate": (QuantitySample, lambda r: f"hr-{r['timestamp']}", lambda r: r["timestamp"]),
    },
}
EDGE = dt.timedelta(minutes=2)  # records this close to the first backfill's start may fall either side
DONE = (SyncRun.Outcome.SUCCESS,)


def synced_since(connections: list[Connection], since: dt.datetime) -> bool:
    """Every connection has a successful sync that started after ``since``."""
    ok = SyncRun.objects.filter(
        connection__in=connections, outcome__in=DONE, started_at__gte=since
    ).values_list("connection_id", flat=True)
    return set(ok) >= {c.pk for c in connections}


def wait_synced(connections: list[Connection], since: dt.datetime, cluster=None, timeout: float = 60.0) -> None:  # noqa: ANN001
    def done() -> bool:
        if cluster is not None:
            cluster.assert_alive()
        return synced_since(connections, since)

    wait_for(done, timeout, f"{len(connections)} connections to sync", 0.25)


def missing_and_extra(partner, connection: Connection) -> tuple[set, set]:  # noqa: ANN001
    """The partner's records we lack, and ours it lacks, within the history the first sync asked for."""
    truth = partner.truth(connection.external_user_id)
    first = SyncRun.objects.filter(connection=connection).order_by("started_at").first()
    assert first is not None, f"{connection} never synced"
    since = first.started_at - get_provider(connection.provider).backfill
    missing, extra = set(), set()
    for feed, (model, key, when) in TRUTH[partner.slug].items():
        expected, edge = set(), set()
        for record in truth[feed]:
            stamp = when(record)
            if len(stamp) == 10:  # a day: the window asks from the backfill start's day
                (expected if dt.date.fromisoformat(stamp) >= since.date() else edge).add(key(record))
                continue
            at = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if abs(at - since) < EDGE:
                edge.add(key(record))
            elif at > since:
                expected.add(key(record))
        stored = list(
            model.objects.filter(connection=connection, provider=partner.slug).values_list("external_id", flat=True)
        )
        assert len(stored) == len(set(stored)), f"duplicate {model.__name__} rows for {connection}"
        missing |= {(feed, k) for k in expected - set(stored)}
        extra |= {(feed, k) for k in set(stored) - expected - edge}
    return missing, extra


def no_overlapping_syncs(connections: list[Connection]) -> list[str]:
    """Per connection, two syncs that overlapped in time must include one the fencing stopped or a crash."""
    problems = []
    stopped = (SyncRun.Outcome.LEASE_LOST, SyncRun.Outcome.RUNNING)  # RUNNING at the end: its process died
    far = timezone.now() + dt.timedelta(days=1)
    for connection in connections:
        runs = list(SyncRun.objects.filter(connection=connection).order_by("epoch"))
        epochs = [r.epoch for r in runs]
        if len(set(epochs)) != len(epochs):
            problems.append(f"connection {connection.pk}: two runs share an epoch: {epochs}")
        for a, b in itertools.combinations(runs, 2):  # a.epoch < b.epoch
            overlap = a.started_at < (b.finished_at or far) and b.started_at < (a.finished_at or far)
            if overlap and a.outcome not in stopped:
                problems.append(
                    f"connection {connection.pk}: run {a.pk} ({a.outcome}, epoch {a.epoch}) overlapped "
                    f"run {b.pk} ({b.outcome}, epoch {b.epoch}) and was not fenced off"
                )
    return problems


def assert_invariants(partners: list, connections: list[Connection]) -> None:  # noqa: ANN001
    """No duplicate and no lost records, no two live syncs of one connection at once, no partner window exceeded."""
    by_slug = {p.slug: p for p in partners}
    for connection in connections:
        missing, extra = missing_and_extra(by_slug[connection.provider], connection)
        assert not missing, f"{connection}: lost {len(missing)} records, e.g. {sorted(missing)[:5]}"
        assert not extra, f"{connection}: {len(extra)} records the partner does not have, e.g. {sorted(extra)[:5]}"
    problems = no_overlapping_syncs(connections)
    assert not problems, "\n".join(problems)
    for partner in partners:
        report = partner.control("GET", "requests").json()
        assert not report["any_window_exceeded"], f"{partner.slug} window exceeded: {report['rate_limits']}"
