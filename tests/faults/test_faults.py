"""Crash and fault tests: real Celery worker processes, a tick process, Redis, PostgreSQL and the emulators.

Each test ends on the same invariants (``checks.assert_invariants``): no duplicate records, no lost records
(against the emulators' ground truth), no two overlapping syncs of one connection that both went on to commit
(from the run records), and no partner window ever exceeded (from the emulators' own request counts).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest
from django.db import connection as db
from django.utils import timezone

from healthsync.models import HealthRecord, SyncRun, record_models
from tests.faults.checks import assert_invariants, wait_synced
from tests.faults.cluster import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def start(cluster, workers: int = 2) -> dt.datetime:  # noqa: ANN001
    for _ in range(workers):
        cluster.start_worker()
    cluster.wait_ready()
    started = timezone.now()
    cluster.start_tick()
    return started


def run_of(connection_id: int) -> SyncRun:
    return wait_for(
        lambda: SyncRun.objects.filter(connection_id=connection_id, outcome=SyncRun.Outcome.RUNNING).first(),
        20,
        f"connection {connection_id}'s sync to start",
        every=0.05,
    )


def test_two_workers_sync_every_connection_once(cluster_factory, partner_factory, connect_users):
    strava, oura = partner_factory("strava", users=4), partner_factory("oura", users=3)
    connections = connect_users(strava, 4) + connect_users(oura, 3)
    cluster = cluster_factory([strava, oura])
    started = start(cluster)
    wait_synced(connections, started, cluster, timeout=90)
    assert_invariants([strava, oura], connections)
    runs = SyncRun.objects.filter(connection__in=connections)
    assert runs.count() == len(connections), [(r.connection_id, r.outcome) for r in runs]


def test_sigkill_worker_mid_sync(cluster_factory, partner_factory, connect_users):
    """The process running a sync dies: the message goes back to the queue, the row falls due again."""
    oura, strava = partner_factory("oura", users=3), partner_factory("strava", users=3)
    oura.faults(latency_ms=150)  # an Oura backfill is ~20 requests: about 3 s
    connections = connect_users(oura, 3) + connect_users(strava, 3)
    oura_ids = {c.pk for c in connections if c.provider == "oura"}
    cluster = cluster_factory([oura, strava])
    started = start(cluster)
    task = cluster.wait_active(lambda t: t["args"][0] in oura_ids)
    victim = task["args"][0]
    killed_run = run_of(victim)
    time.sleep(1.0)  # well inside the sync: some feeds stored, others not yet
    os.kill(task["worker_pid"], signal.SIGKILL)
    killed_at = timezone.now()

    wait_synced(connections, started, cluster, timeout=90)
    wait_synced([c for c in connections if c.pk == victim], killed_at, cluster, timeout=60)
    killed_run.refresh_from_db()
    # it died mid-sync; the next holder of the lease closed its record
    assert killed_run.outcome == SyncRun.Outcome.LEASE_LOST, killed_run.outcome
    assert killed_run.error == "the worker stopped before finishing"
    logs = "\n".join(w.log_path.read_text() for w in cluster.workers)
    assert "WorkerLostError" in logs  # acks_late + reject_on_worker_lost: Celery saw the loss and re-queued
    assert_invariants([oura, strava], connections)


def test_sigstop_past_lease_then_sigcont_does_not_commit(cluster_factory, partner_factory, connect_users):
    """A worker paused past its lease wakes up after another took over: the fencing epoch discards its writes."""
    strava = partner_factory("strava", users=2)
    strava.faults(latency_ms=3000)  # the sync waits 3 s on its one request; we pause it there
    connections = connect_users(strava, 2)
    cluster = cluster_factory([strava])
    started = start(cluster)
    task = cluster.wait_active(lambda t: True)
    victim = task["args"][0]
    paused = run_of(victim)
    os.kill(task["worker_pid"], signal.SIGSTOP)
    try:
        assert SyncRun.objects.get(pk=paused.pk).outcome == SyncRun.Outcome.RUNNING, "paused too late"
        # the lease (4 s) runs out, the tick claims the row again, another process takes over and finishes
        successor = wait_for(
            lambda: SyncRun.objects.filter(
                connection_id=victim, epoch__gt=paused.epoch, outcome=SyncRun.Outcome.SUCCESS
            ).first(),
            40,
            "another worker to take over the paused sync",
            every=0.1,
        )
    finally:
        os.kill(task["worker_pid"], signal.SIGCONT)
    wait_for(
        lambda: SyncRun.objects.get(pk=paused.pk).outcome != SyncRun.Outcome.RUNNING, 30, "the paused sync to end"
    )
    paused.refresh_from_db()
    assert paused.outcome == SyncRun.Outcome.LEASE_LOST, (paused.outcome, paused.error)
    assert paused.records_new == 0
    late = [
        model.objects.filter(connection_id=victim, synced_at__gt=successor.finished_at).count()
        for model in record_models().values()
    ]
    assert sum(late) == 0, "the paused worker wrote records after it lost its lease"
    wait_synced(connections, started, cluster, timeout=30)
    assert_invariants([strava], connections)


def test_redis_restart_during_a_run(cluster_factory, partner_factory, connect_users, private_redis):
    """Redis (broker, leases, budgets) restarts empty mid-run: lost tasks fall due again, nothing is lost."""
    oura, strava = partner_factory("oura", users=3), partner_factory("strava", users=3)
    oura.faults(latency_ms=100)
    connections = connect_users(oura, 3) + connect_users(strava, 3)
    cluster = cluster_factory([oura, strava], redis_url=private_redis.url, sync_every=3)
    # kombu 5.x can end a worker whose connection drops while it holds an unacknowledged message ("Unrecoverable
    # error: AttributeError ... 'hostname'"); production runs workers under a supervisor, and so does this test
    cluster.supervise = True
    start(cluster)
    cluster.wait_active(lambda t: True)
    time.sleep(0.5)
    private_redis.restart(down_seconds=1.0)
    restarted = timezone.now()
    wait_synced(connections, restarted, cluster, timeout=90)
    assert_invariants([oura, strava], connections)
    print("worker restarts by the supervisor:", cluster.restarts)


def test_postgres_connections_dropped(cluster_factory, partner_factory, connect_users):
    """Every worker's and the tick's database connection is terminated, three times, while syncs run."""
    oura, strava = partner_factory("oura", users=3), partner_factory("strava", users=3)
    oura.faults(latency_ms=100)
    connections = connect_users(oura, 3) + connect_users(strava, 3)
    cluster = cluster_factory([oura, strava], sync_every=3)
    start(cluster)
    cluster.wait_active(lambda t: True)
    dropped = 0
    for _ in range(3):
        time.sleep(0.7)
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            dropped += cursor.fetchone()[0]
    assert dropped > 0
    last_drop = timezone.now()
    wait_synced(connections, last_drop, cluster, timeout=90)
    assert_invariants([oura, strava], connections)


def test_partner_429_storm(cluster_factory, partner_factory, connect_users):
    """Oura answers every call with 429 for a while: workers wait as told (all at once), then catch up."""
    # a 2 s rolling window, so the storm's Retry-After (the window's reset) is short and the test stays quick
    oura = partner_factory("oura", users=4, rate_window=2)
    connections = connect_users(oura, 4)
    oura.faults(storm_429=True)
    oura.control("DELETE", "requests")
    cluster = cluster_factory([oura], sync_every=3)
    start(cluster)
    storm = 5.0
    time.sleep(storm)
    oura.control("DELETE", "faults")
    during = oura.control("GET", "requests").json()
    ended = timezone.now()
    wait_synced(connections, ended, cluster, timeout=90)
    assert_invariants([oura], connections)
    answered_429 = during["by_status"].get("429", 0)
    assert answered_429 > 0
    # Retry-After is 1 s and the pause is shared: about one 429 per worker process per second, not a hammering
    assert answered_429 <= (storm + 2) * 4 * 2, during
    failed = SyncRun.objects.filter(connection__in=connections, outcome=SyncRun.Outcome.FAILED)
    assert all("rate limit" in r.error or "budget" in r.error for r in failed), [r.error for r in failed]


def test_shared_budget_holds_across_workers(cluster_factory, partner_factory, connect_users):
    """Four sync processes share Strava's aligned 15-minute window in Redis: the partner never sees one too many."""
    limit = 8
    strava = partner_factory("strava", users=6, limits=(200, 2000, limit, 1000))
    connections = connect_users(strava, 6)
    cluster = cluster_factory(
        [strava],
        sync_every=1,  # everyone wants to sync again every second: demand far above the window
        PROVIDERS={"strava": {"app_limits": [f"{limit} per 15 minutes aligned", "1000 per day aligned"]}},
        MAX_WAIT_SECONDS=0.5,
    )
    started = start(cluster)
    wait_synced(connections, started, cluster, timeout=60)
    wait_for(
        lambda: SyncRun.objects.filter(connection__in=connections, error__contains="budget").exists(),
        30,
        "a sync to find the shared budget spent",
    )
    report = strava.control("GET", "requests").json()
    assert not report["any_window_exceeded"], report["rate_limits"]
    assert "429" not in report["by_status"], report["by_status"]
    read = next(w for w in report["rate_limits"] if w["name"] == "read_15min")
    assert read["max_count"] == limit  # the window was used to the last request, and not one past it
    refused = SyncRun.objects.filter(connection__in=connections, error__contains="budget").first()
    retry_at = dt.datetime.fromisoformat(refused.details["retry_at"])
    assert retry_at.minute % 15 == 0 and retry_at.second == 1  # the next :00/:15/:30/:45, plus the skew margin
    assert_invariants([strava], connections)
    assert HealthRecord  # the records themselves were compared with the truth above
