"""The Prometheus endpoint and what the core counts: syncs, partner requests, records, lock contention, lag."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from healthsync import metrics
from healthsync.models import Connection
from healthsync.sync.engine import sync
from healthsync.sync.lease import AlreadySyncing, Lease
from tests.oauth_helpers import connect

pytestmark = pytest.mark.django_db(transaction=True)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sync_counts_itself_its_requests_and_its_records(alice_client, partner_factory, user):
    partner_factory("strava")
    assert connect(alice_client, "strava").status_code == 302
    connection = Connection.objects.get(user=user)
    before = {
        "syncs": value("healthsync_syncs_total", provider="strava", outcome="success", trigger="manual"),
        "ok": value("healthsync_partner_requests_total", provider="strava", status="200"),
        "new": value("healthsync_records_upserted_total", provider="strava", result="new"),
        "timed": value("healthsync_sync_duration_seconds_count", provider="strava"),
    }
    run = sync(connection)
    assert run.outcome == "success", run.error
    syncs = value("healthsync_syncs_total", provider="strava", outcome="success", trigger="manual")
    assert syncs == before["syncs"] + 1
    assert value("healthsync_partner_requests_total", provider="strava", status="200") >= before["ok"] + run.requests
    new = value("healthsync_records_upserted_total", provider="strava", result="new")
    assert new == before["new"] + run.records_new
    assert value("healthsync_sync_duration_seconds_count", provider="strava") == before["timed"] + 1
    assert value("healthsync_partner_request_duration_seconds_count", provider="strava") > 0


def test_transport_errors_are_counted_by_partner(alice_client, partner_factory, user):
    strava = partner_factory("strava")
    assert connect(alice_client, "strava").status_code == 302
    connection = Connection.objects.get(user=user)
    before = value("healthsync_partner_requests_total", provider="strava", status="error")
    strava.server.stop()
    run = sync(connection)
    assert run.outcome == "failed"
    assert value("healthsync_partner_requests_total", provider="strava", status="error") > before


def test_lock_contention_is_counted(user):
    connection = Connection.objects.create(user=user, provider="strava", external_user_id="1")
    before = value("healthsync_lock_contention_total", where="sync")
    with Lease(connection.pk), pytest.raises(AlreadySyncing):
        sync(connection)
    assert value("healthsync_lock_contention_total", where="sync") == before + 1


def test_scheduler_lag_and_webhook_helpers():
    now = timezone.now()
    late = type("C", (), {"next_sync_at": now - dt.timedelta(seconds=42)})()
    before = value("healthsync_scheduler_lag_seconds_sum")
    metrics.scheduler_claimed([late], now)
    assert value("healthsync_scheduler_lag_seconds_sum") == pytest.approx(before + 42)
    metrics.webhook_delivered("strava", "rejected")
    assert value("healthsync_webhook_deliveries_total", provider="strava", outcome="rejected") >= 1
    before = value("healthsync_webhook_deliveries_total", provider="oura", outcome="stored")
    metrics.webhook_batch("oura", {"stored": 2, "duplicate": 0})
    assert value("healthsync_webhook_deliveries_total", provider="oura", outcome="stored") == before + 2


def test_helpers_never_raise():
    metrics.record_sync("strava", object())  # not a run at all
    metrics.scheduler_claimed(None, None)


def test_endpoint_exposes_counters_and_connection_gauges(client, user, settings):
    settings.DEBUG = True  # as in the demo: loopback scrapes need no token
    Connection.objects.create(user=user, provider="oura", external_user_id="x", status="revoked")
    response = client.get("/healthsync/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'healthsync_connections{provider="oura",status="revoked"} 1.0' in text
    for name in ("healthsync_syncs_total", "healthsync_partner_requests_total", "healthsync_records_upserted_total",
                 "healthsync_lock_contention_total", "healthsync_webhook_deliveries_total",
                 "healthsync_scheduler_lag_seconds"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert "alice" not in text


def test_endpoint_with_a_token_refuses_anonymous_scrapes(client, settings, django_user_model):
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "METRICS_TOKEN": "s3cret"}
    assert client.get("/healthsync/metrics").status_code == 403
    assert client.get("/healthsync/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/healthsync/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    client.force_login(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    assert client.get("/healthsync/metrics").status_code == 200


def test_endpoint_refuses_remote_anonymous_scrapes(client, settings):
    settings.DEBUG = True
    assert client.get("/healthsync/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_loopback_scrapes_need_debug_or_an_explicit_setting(client, settings):
    settings.DEBUG = False  # in production a reverse proxy makes every caller look local
    assert client.get("/healthsync/metrics").status_code == 403
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "METRICS_LOOPBACK": True}
    assert client.get("/healthsync/metrics").status_code == 200
