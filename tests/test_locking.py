"""One sync per connection at a time, across threads and processes; a stale worker cannot commit; a killed
worker's lease runs out and the next sync loses and duplicates nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection as db
from django.db import connections

from healthsync.models import (
    Connection,
    DailyActivity,
    EndpointState,
    QuantitySample,
    SleepSession,
    SyncRun,
    Workout,
)
from healthsync.providers import get_provider
from healthsync.sync.engine import sync
from healthsync.sync.lease import AlreadySyncing, Lease, LeaseLost
from tests.test_sync_data import expected_ids, stored_ids

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("HEALTHSYNC_DB") == "postgres"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# A worker in another process: the same settings as this test (made JSON), then one sync of one connection.
CHILD = """
import json, os, sys
from django.conf import settings
settings.HEALTHSYNC = json.loads(os.environ["HS_TEST_HEALTHSYNC"])
settings.CACHES = json.loads(os.environ["HS_TEST_CACHES"])
import django
django.setup()
from healthsync.models import Connection
from healthsync.sync.engine import sync
from healthsync.sync.lease import AlreadySyncing
try:
    run = sync(Connection.objects.get(pk=int(sys.argv[1])))
    print(json.dumps({"outcome": run.outcome, "new": run.records_new, "error": run.error}))
except AlreadySyncing:
    print(json.dumps({"outcome": "already_syncing"}))
"""


def child_env(caches: dict | None = None) -> dict[str, str]:
    """Environment for a worker process that shares this test's database (a file or test_<name>) and cache."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example.settings", "PYTHONPATH": f"{ROOT / 'example'}:{ROOT}"}
    database = db.settings_dict
    if db.vendor == "sqlite":
        env["HEALTHSYNC_DB"] = "sqlite"
        env["HEALTHSYNC_SQLITE_PATH"] = str(database["NAME"])
    else:
        env["HEALTHSYNC_DB"] = "postgres"
        user = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
        env["DATABASE_URL_POSTGRES"] = (
            f"postgresql://{user}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
        )
    env["HS_TEST_HEALTHSYNC"] = json.dumps(django_settings.HEALTHSYNC)
    env["HS_TEST_CACHES"] = json.dumps(caches or django_settings.CACHES)
    return env


def spawn(connection_id: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(connection_id)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def result_of(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def wait_for(condition, timeout: float = 15.0, step: float = 0.05) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


# --- threads ------------------------------------------------------------------------------------------------------


def test_threads_exactly_one_syncs(partner_factory, connect_partner):
    partner = partner_factory("strava")
    connection = connect_partner("strava")
    partner.faults(latency_ms=400)

    for round_ in range(1, 4):  # a race: give it several chances to show
        start = threading.Barrier(6)
        results: list[object] = []

        def worker(start: threading.Barrier = start, results: list = results) -> None:
            try:
                start.wait()
                results.append(sync(Connection.objects.get(pk=connection.pk)))
            except AlreadySyncing as exc:
                results.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        runs = [r for r in results if isinstance(r, SyncRun)]
        refused = [r for r in results if isinstance(r, AlreadySyncing)]
        assert len(runs) == 1 and len(refused) == 5, results
        assert runs[0].outcome == SyncRun.Outcome.SUCCESS
        assert SyncRun.objects.count() == round_
        assert partner.count("/api/v3/athlete/activities") == round_


# --- processes ----------------------------------------------------------------------------------------------------


def redis_caches() -> dict:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:  # fail, never skip: the PostgreSQL run promises a Redis-backed lease test
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    backend = "django.core.cache.backends.redis.RedisCache"
    return {"default": {"BACKEND": backend, "LOCATION": REDIS_URL, "KEY_PREFIX": f"hs-test-{uuid.uuid4().hex[:8]}"}}


@pytest.mark.parametrize("cache", ["file", *(["redis"] if POSTGRES else [])])
def test_two_processes_exactly_one_syncs(cache, partner_factory, connect_partner, settings):
    partner = partner_factory("strava")
    connection = connect_partner("strava")
    caches = redis_caches() if cache == "redis" else None
    if caches:
        settings.CACHES = caches  # this process sees the same lease store as the workers
    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache" if caches else "FileBasedCache")
    partner.faults(latency_ms=2500)  # long enough that both workers' syncs overlap

    env = child_env(caches)
    workers = [spawn(connection.pk, env) for _ in range(2)]
    results = sorted(result_of(w)["outcome"] for w in workers)

    assert results == ["already_syncing", "success"]
    assert SyncRun.objects.filter(connection=connection).count() == 1
    assert partner.count("/api/v3/athlete/activities") == 1
    probe = Lease(connection.pk)
    probe.acquire()  # released by its owner on the way out
    probe.release()


# --- fencing ------------------------------------------------------------------------------------------------------


def test_a_worker_whose_lease_expired_cannot_commit(partner_factory, connect_partner, settings):
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "LEASE_SECONDS": 1}
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    partner.faults(latency_ms=2500)
    stale: list[SyncRun] = []

    def slow_worker() -> None:
        try:
            stale.append(sync(Connection.objects.get(pk=connection.pk)))
        finally:
            connections.close_all()

    worker = threading.Thread(target=slow_worker)
    worker.start()
    wait_for(lambda: SyncRun.objects.filter(connection=connection).exists())  # it holds the lease, and waits
    time.sleep(1.2)  # its lease runs out meanwhile
    partner.clear_faults()
    fresh = sync(Connection.objects.get(pk=connection.pk))  # a second holder takes over (a new epoch)
    cursor = EndpointState.objects.get(connection=connection).cursor
    late = partner.upload(connection.external_user_id, "workout")  # only the stale worker's answer has it
    worker.join(30)

    assert fresh.outcome == SyncRun.Outcome.SUCCESS and fresh.records_new > 0
    assert stale[0].outcome == SyncRun.Outcome.LEASE_LOST
    assert stale[0].epoch < fresh.epoch
    assert SyncRun.objects.get(pk=stale[0].pk).outcome == SyncRun.Outcome.LEASE_LOST
    assert not Workout.objects.filter(external_id=str(late["id"])).exists()  # nothing of the stale one's
    assert EndpointState.objects.get(connection=connection).cursor == cursor
    assert Workout.objects.count() == fresh.records_new
    connection.refresh_from_db()
    assert connection.sync_epoch == fresh.epoch


def test_only_the_owner_releases_its_lease(connect_partner, partner_factory):
    partner_factory("strava")
    pk = connect_partner("strava").pk
    owner, other = Lease(pk, seconds=30), Lease(pk, seconds=30)
    owner.acquire()
    with pytest.raises(AlreadySyncing):
        other.acquire()
    other.release()  # not its lease: nothing happens
    with pytest.raises(AlreadySyncing):
        Lease(pk).acquire()
    owner.release()
    successor = Lease(pk, seconds=1)
    successor.acquire()  # free again

    time.sleep(1.2)  # the successor's lease expires; a third worker takes over
    third = Lease(pk, seconds=30)
    third.acquire()
    with pytest.raises(LeaseLost):
        successor.renew()  # the expired holder learns it at its next call
    successor.release()  # and releasing does not free the third worker's lease
    with pytest.raises(AlreadySyncing):
        Lease(pk).acquire()
    third.release()


# --- a worker killed mid-sync -------------------------------------------------------------------------------------


def test_killed_worker_lease_expires_and_the_next_sync_loses_nothing(partner_factory, connect_partner, settings):
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "LEASE_SECONDS": 2}
    partner = partner_factory("withings")
    partner.freeze()
    connection = connect_partner("withings")
    partner.faults(paths=["/v2/sleep"], latency_ms=10_000)  # the last endpoint hangs

    worker = spawn(connection.pk, child_env())
    try:
        wait_for(lambda: EndpointState.objects.filter(connection=connection, endpoint="workouts")
                 .exclude(cursor="").exists(), timeout=30)
        time.sleep(0.3)  # now it waits for the sleep endpoint
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    committed = dict(EndpointState.objects.filter(connection=connection).exclude(cursor="")
                     .values_list("endpoint", "cursor"))
    assert set(committed) == {"measures", "activity", "workouts"}
    assert SyncRun.objects.get(connection=connection).outcome == SyncRun.Outcome.RUNNING  # it died mid-run
    partner.clear_faults()

    with pytest.raises(AlreadySyncing):  # its lease outlives it, briefly
        sync(Connection.objects.get(pk=connection.pk))
    time.sleep(2.1)
    run = sync(Connection.objects.get(pk=connection.pk))

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.details["sleep"]["new"] > 0 and run.records_new == run.details["sleep"]["new"]
    backfill = get_provider("withings").backfill
    states = dict(EndpointState.objects.filter(connection=connection).values_list("endpoint", "cursor"))
    starts = {name: dt.datetime.fromisoformat(committed.get(name, states[name])) - backfill for name in states}
    expected = expected_ids("withings", partner.truth(connection.external_user_id), starts)
    assert stored_ids(connection) == expected  # nothing lost
    assert all(expected.values())
    for model in (QuantitySample, DailyActivity, Workout, SleepSession):  # and nothing twice
        rows = model.objects.filter(user=connection.user_id).count()
        assert rows == sum(len(ids) for (_, name), ids in expected.items() if name == model.__name__)

