"""Push, over real HTTP both ways: the emulators call our app (served on loopback by ``live_server``).

Handshakes, signatures, replays, unknown users, oversize and malformed bodies, subscription lifecycle. The
sync side (coalescing, ordering, deletions, deauthorization, reconciliation) is in ``test_webhooks_sync.py``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from healthsync.models import Connection, SyncRun, WebhookEvent, WebhookSubscription
from healthsync.scheduling.tick import claim_due
from healthsync.sync.engine import sync
from healthsync.webhooks import conf as push_conf

pytestmark = pytest.mark.django_db(transaction=True)


# --- helpers (imported by test_webhooks_sync) ----------------------------------------------------------------------


def wait_for(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def push_report(partner, log: bool = False) -> dict:  # noqa: ANN001
    return httpx.get(f"{partner.url}/_emulator/push", params={"log": "1"} if log else {}).json()


def delivered(partner, n: int | None = None) -> dict:  # noqa: ANN001
    """Wait until the emulator has nothing in flight (and, with ``n``, at least n deliveries ended)."""

    def done() -> dict | None:
        report = push_report(partner)
        ended = sum(v for k, v in report["counts"].items() if k != "queued")
        return report if report["pending"] == 0 and (n is None or ended >= n) else None

    return wait_for(done, what="deliveries")  # type: ignore[return-value]


def run_due(timeout: float = 30.0) -> list[SyncRun]:
    """Be the scheduler: sync what is due until no notification is pending and nothing is due."""
    runs: list[SyncRun] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for connection in claim_due(20):
            runs.append(sync(connection, SyncRun.Trigger.SCHEDULED))
        pending = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, connection__status="active")
        if not pending.exists():
            return runs
        time.sleep(0.05)
    raise AssertionError("notifications still pending")


@pytest.fixture
def push_on(settings, live_server):  # noqa: ANN001, ANN201
    """Push configured: partners call back ``live_server``; a short debounce; fast partner retries."""

    def configure(**options) -> None:  # noqa: ANN003
        settings.HEALTHSYNC = {
            **settings.HEALTHSYNC,
            "WEBHOOKS": {**settings.HEALTHSYNC.get("WEBHOOKS", {}), **options},
        }

    configure(BASE_URL=live_server.url, DEBOUNCE_SECONDS=0.3, HTTP_TIMEOUT_SECONDS=5.0)
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "POLICY": "healthsync.webhooks.policy.PushAwareFixedPolicy"}
    return configure


@pytest.fixture
def pushing(partner_factory, push_on):  # noqa: ANN001, ANN201
    """Start a partner with fast retries and a frozen world (only our uploads change it)."""

    def start(slug: str, **options) -> object:  # noqa: ANN003
        partner = partner_factory(slug, **options)
        partner.freeze()
        partner.control("POST", "push", retry_scale=0.002, scan_ms=50, seed=1)
        return partner

    return start


def callback(live_server, slug: str) -> str:  # noqa: ANN001
    return f"{live_server.url}/healthsync/webhooks/{slug}/"


# --- handshakes ----------------------------------------------------------------------------------------------------


def test_strava_subscription_handshake_and_check(pushing, live_server):  # noqa: ANN001
    strava = pushing("strava")
    call_command("healthsync_webhooks", "create", "strava")
    sub = WebhookSubscription.objects.get(provider="strava", connection=None)
    assert sub.status == "active" and sub.callback_url == callback(live_server, "strava")
    assert strava.state.subscription["callback_url"] == sub.callback_url
    assert str(strava.state.subscription["id"]) == sub.partner_id
    call_command("healthsync_webhooks", "check", "strava")  # in place: nothing recreated
    assert strava.state.subscription["id"] == int(sub.partner_id)
    strava.state.subscription = None  # lost at the partner: check recreates it
    call_command("healthsync_webhooks", "check", "strava")
    assert strava.state.subscription is not None
    assert WebhookSubscription.objects.get(provider="strava").partner_id == str(strava.state.subscription["id"])


def test_strava_handshake_refuses_a_wrong_verify_token(pushing, live_server):  # noqa: ANN001
    strava = pushing("strava")
    creds = {"client_id": "demo-client", "client_secret": "demo-secret"}
    wrong = httpx.post(f"{strava.url}/api/v3/push_subscriptions",
                       data={**creds, "callback_url": callback(live_server, "strava"), "verify_token": "guess"})
    assert wrong.status_code == 400 and "does not return 200" in wrong.text
    assert strava.state.subscription is None
    right = httpx.post(f"{strava.url}/api/v3/push_subscriptions", data={
        **creds, "callback_url": callback(live_server, "strava"), "verify_token": push_conf.verify_token("strava")})
    assert right.status_code == 201, right.text
    direct = httpx.get(callback(live_server, "strava"), params={"hub.mode": "subscribe", "hub.challenge": "abc",
                                                               "hub.verify_token": push_conf.verify_token("strava")})
    assert direct.json() == {"hub.challenge": "abc"}


def test_oura_handshake_and_subscriptions_per_type(pushing, live_server):  # noqa: ANN001
    oura = pushing("oura")
    call_command("healthsync_webhooks", "create", "oura")
    subs = WebhookSubscription.objects.filter(provider="oura", status="active")
    assert sorted(subs.values_list("kind", flat=True)) == sorted(
        f"{t}:{e}" for t in ("daily_activity", "sleep", "workout") for e in ("create", "update", "delete")
    )
    assert len(oura.state.webhooks) == 9 and all(s.expires_at for s in subs)
    bad = httpx.post(f"{oura.url}/v2/webhook/subscription",
                     headers={"x-client-id": "demo-client", "x-client-secret": "demo-secret"},
                     json={"callback_url": callback(live_server, "oura"), "verification_token": "guess",
                           "event_type": "create", "data_type": "tag"})
    assert bad.status_code == 400 and len(oura.state.webhooks) == 9
    refused = httpx.get(callback(live_server, "oura"), params={"verification_token": "guess", "challenge": "x"})
    assert refused.status_code == 401


def test_push_off_means_no_callback(partner_factory, client):  # noqa: ANN001
    partner_factory("strava")
    assert client.get("/healthsync/webhooks/strava/?hub.challenge=x").status_code == 404


# --- signatures, replays, unknown users, bad bodies -----------------------------------------------------------------


@pytest.fixture
def oura_connected(pushing, connect_partner):  # noqa: ANN001, ANN201
    oura = pushing("oura")
    connection = connect_partner("oura")
    call_command("healthsync_webhooks", "create", "oura")
    return oura, connection


def upload_workout(partner, connection) -> dict:  # noqa: ANN001
    return partner.upload(connection.external_user_id, "workout", sport="run")


@pytest.mark.parametrize("signature", ["valid", "invalid", "missing"])
def test_oura_signatures(oura_connected, signature):  # noqa: ANN001
    oura, connection = oura_connected
    oura.control("POST", "push", signature=signature, retry_scale=0.0005, scan_ms=50)
    upload_workout(oura, connection)
    report = delivered(oura, 1)
    log = push_report(oura, log=True)["deliveries"]
    statuses = [status for d in log for _, status in d["attempts"]]
    if signature == "valid":
        assert statuses == [200] and report["counts"] == {"delivered": 1}
        assert WebhookEvent.objects.get().connection_id == connection.pk
    else:
        assert statuses == [401] * 11, statuses  # refused, and Oura's ten retries refused too
        assert report["counts"] == {"failed": 1}
        assert not WebhookEvent.objects.exists()


def test_replayed_notification(oura_connected, push_on):  # noqa: ANN001
    oura, connection = oura_connected
    upload_workout(oura, connection)
    delivered(oura, 1)
    (first,) = push_report(oura, log=True)["deliveries"]
    assert httpx.post(f"{oura.url}/_emulator/push/replay", json={"id": first["id"]}).json() == {"status": 200}
    event = WebhookEvent.objects.get()
    assert event.deliveries == 2  # within the tolerance a replay is a duplicate: recognised, nothing new
    push_on(TOLERANCE_SECONDS=1)
    time.sleep(2.1)
    assert httpx.post(f"{oura.url}/_emulator/push/replay", json={"id": first["id"]}).json() == {"status": 401}
    event.refresh_from_db()
    assert event.deliveries == 2 and WebhookEvent.objects.count() == 1


def test_stale_timestamp_is_refused(oura_connected):  # noqa: ANN001
    oura, connection = oura_connected
    oura.control("POST", "push", timestamp_skew=-3600, retry_scale=0.0005, scan_ms=50)
    upload_workout(oura, connection)
    delivered(oura, 1)
    assert push_report(oura)["counts"] == {"failed": 1}
    assert not WebhookEvent.objects.exists()


def test_unknown_partner_user_gets_success_and_nothing_happens(oura_connected):  # noqa: ANN001
    oura, connection = oura_connected
    stranger = next(u for u in oura.users() if u["partner_user_id"] != connection.external_user_id)
    oura.state.issue_tokens(stranger["username"])  # authorized the app elsewhere, never connected here
    before = Connection.objects.values_list("pk", "next_sync_at")
    oura.upload(stranger["partner_user_id"], "workout", sport="run")
    delivered(oura, 1)
    log = push_report(oura, log=True)["deliveries"]
    assert [d["attempts"][0][1] for d in log] == [200]
    assert not WebhookEvent.objects.exists()
    assert list(Connection.objects.values_list("pk", "next_sync_at")) == list(before)


def test_malformed_body_is_400_without_side_effects(oura_connected):  # noqa: ANN001
    oura, connection = oura_connected
    oura.control("POST", "push", malformed=1.0, retry_scale=0.0005, scan_ms=50)
    due = Connection.objects.get().next_sync_at
    upload_workout(oura, connection)
    delivered(oura, 1)
    log = push_report(oura, log=True)["deliveries"]
    assert {status for d in log for _, status in d["attempts"]} == {400}
    assert not WebhookEvent.objects.exists() and Connection.objects.get().next_sync_at == due


def test_oversize_body_is_413(oura_connected, push_on, live_server):  # noqa: ANN001
    oura, connection = oura_connected
    push_on(MAX_BODY_BYTES=64)
    upload_workout(oura, connection)
    delivered(oura, 1)
    log = push_report(oura, log=True)["deliveries"]
    assert {status for d in log for _, status in d["attempts"]} == {413}
    assert not WebhookEvent.objects.exists()
    chunked = httpx.post(callback(live_server, "oura"), content=iter([b"x" * 50, b"y" * 50]))  # no length
    assert chunked.status_code in (401, 413)  # refused either way, never read past the cap
    assert not WebhookEvent.objects.exists()


# --- subscription lifecycle ----------------------------------------------------------------------------------------


def test_oura_renewal_before_expiry(pushing, push_on):  # noqa: ANN001
    oura = pushing("oura", webhook_ttl=3 * 86400)
    call_command("healthsync_webhooks", "create", "oura")
    first = dict(WebhookSubscription.objects.values_list("partner_id", "expires_at"))
    push_on(RENEW_BEFORE_SECONDS=86400)  # three days left: not due yet
    call_command("healthsync_webhooks", "renew")
    assert dict(WebhookSubscription.objects.values_list("partner_id", "expires_at")) == first
    oura.control("POST", "clock", advance=2.5 * 86400)  # half a day left at the partner
    push_on(RENEW_BEFORE_SECONDS=7 * 86400)
    call_command("healthsync_webhooks", "renew")
    for sub in WebhookSubscription.objects.all():
        assert sub.renewed_at and sub.expires_at - first[sub.partner_id] == dt.timedelta(days=2.5)
        at_partner = oura.state.webhooks[sub.partner_id]["expires"]
        assert abs(at_partner - sub.expires_at.timestamp()) < 1
        assert at_partner > oura.state.clock.now() + 2.9 * 86400


def test_withings_subscribes_on_connect_and_revokes_on_disconnect(pushing, connect_partner, alice_client, live_server):  # noqa: ANN001, E501
    withings = pushing("withings")
    connection = connect_partner("withings")
    subs = WebhookSubscription.objects.filter(connection=connection, status="active")
    assert sorted(subs.values_list("kind", flat=True)) == ["1", "16", "4", "44"]
    user = connection.external_user_id
    assert sorted(a for (u, a, url) in withings.state.notify if u == user) == [1, 4, 16, 44]
    assert {url for (_, _, url) in withings.state.notify} == {callback(live_server, "withings")}
    assert httpx.head(callback(live_server, "withings")).status_code == 200
    call_command("healthsync_webhooks", "check", "withings")
    response = alice_client.post("/healthsync/disconnect/withings/")
    assert response.status_code in (302, 200)
    assert not withings.state.notify
    assert not Connection.objects.exists()


def test_withings_form_notification_narrows_the_sync(pushing, connect_partner):  # noqa: ANN001
    withings = pushing("withings")
    connection = connect_partner("withings")
    sync(connection, SyncRun.Trigger.CONNECT)
    at = int(withings.state.clock.now()) - 60
    withings.upload(connection.external_user_id, "weight", weight_kg=71.5, at=at)
    delivered(withings, 1)
    event = WebhookEvent.objects.get()
    assert (event.kind, event.endpoints) == ("1", ["measures"])
    assert event.window_start == dt.datetime.fromtimestamp(at, dt.UTC)
    Connection.objects.update(next_sync_at=timezone.now() + dt.timedelta(seconds=0.3))  # as after the connect sync
    (run,) = run_due()
    assert run.trigger == SyncRun.Trigger.WEBHOOK and run.outcome == "success"
    assert set(run.details) == {"measures"}
    assert run.records_new == 2  # weight and body fat
    event.refresh_from_db()
    assert event.status == "done" and event.run_id == run.pk
