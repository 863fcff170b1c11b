"""Crash and fault tests: real Celery worker processes, a tick process, Redis, PostgreSQL and the emulators.

Each test ends on the same invariants (``checks.assert_invariants``): no duplicate records, no lost records
(against the emulators' ground truth), no two overlapping syncs of one connection that both went on to commit
(from the run records), and no partner window ever exceeded (from the emulators' own request counts).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.utils import timezone

from healthsync.models import SyncRun
from tests.faults.checks import assert_invariants, synced_since, wait_synced
from tests.faults.cluster import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_workers_sync_every_connection_once(cluster_factory, partner_factory, connect_users):
    strava, oura = partner_factory("strava", users=4), partner_factory("oura", users=3)
    connections = connect_users(strava, 4) + connect_users(oura, 3)
    cluster = cluster_factory([strava, oura])
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_ready()
    started = timezone.now()
    cluster.start_tick()
    wait_synced(connections, started, cluster, timeout=90)
    assert_invariants([strava, oura], connections)
    runs = SyncRun.objects.filter(connection__in=connections)
    assert runs.count() == len(connections), [(r.connection_id, r.outcome) for r in runs]
