"""Tokens: encrypted at rest, never shown or logged, key rotation, refresh (early, on 401, rotated), revocation."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.utils import timezone

from healthsync import signals
from healthsync.models import Connection, SyncRun
from healthsync.scheduling.tick import claim_due
from healthsync.sync.engine import sync
from tests.conftest import SLUGS
from tests.oauth_helpers import connect

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_PATHS = {"strava": "/oauth/token", "withings": "/v2/oauth2", "oura": "/oauth/token"}
API_PATHS = {"strava": "/api/v3/", "withings": "/", "oura": "/v2/"}


def raw_tokens(pk: int) -> tuple[str, str]:
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM healthsync_connection WHERE id = %s", [pk])
        return cursor.fetchone()


# --- at rest and in sight ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_tokens_are_encrypted_at_rest(slug, partner_factory, connect_partner, settings):
    partner_factory(slug)
    connection = connect_partner(slug)
    stored_access, stored_refresh = raw_tokens(connection.pk)
    fernet = Fernet(settings.HEALTHSYNC["TOKEN_KEYS"][0])
    for plain, stored in ((connection.access_token, stored_access), (connection.refresh_token, stored_refresh)):
        assert len(plain) >= 16
        assert plain not in stored
        assert fernet.decrypt(stored.encode()).decode() == plain


def test_tokens_never_in_repr_admin_api_or_logs(partner_factory, alice_client, user, caplog, admin_client):
    partner = partner_factory("oura")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="healthsync")
    assert connect(alice_client, "oura").status_code == 302
    connection = Connection.objects.get(user=user)
    assert sync(connection).outcome == SyncRun.Outcome.SUCCESS
    partner.expire(connection.external_user_id)  # a refresh on 401, logged as much as it ever is
    assert sync(connection).outcome == SyncRun.Outcome.SUCCESS
    connection.refresh_from_db()
    secrets = {connection.access_token, connection.refresh_token}
    assert len(caplog.records) > 0  # the capture works: httpx and healthsync did log
    assert any(r.name.startswith("healthsync") for r in caplog.records)

    seen = [
        caplog.text,
        repr(connection),
        str(connection),
        admin_client.get("/admin/healthsync/connection/").content.decode(),
        admin_client.get(f"/admin/healthsync/connection/{connection.pk}/change/").content.decode(),
        admin_client.get("/admin/healthsync/syncrun/").content.decode(),
        alice_client.get("/healthsync/api/connections/").content.decode(),
        alice_client.get("/healthsync/api/runs/").content.decode(),
    ]
    assert "Reconnect needed" in seen[3] or "Connected" in seen[3]  # the admin page did render the connection
    for text in seen:
        for secret in secrets:
            assert secret not in text
            assert secret[:12] not in text


# --- key rotation -------------------------------------------------------------------------------------------------


def test_rotate_keys_command(partner_factory, connect_partner, settings):
    old, new = settings.HEALTHSYNC["TOKEN_KEYS"][0], Fernet.generate_key().decode()
    partner = partner_factory("strava")
    connection = connect_partner("strava")
    access, refresh = connection.access_token, connection.refresh_token

    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "TOKEN_KEYS": [new]}  # the old key dropped too early
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        Connection.objects.get(pk=connection.pk)

    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "TOKEN_KEYS": [new, old]}
    call_command("healthsync_rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    stored_access, _ = raw_tokens(connection.pk)
    assert Fernet(new).decrypt(stored_access.encode()).decode() == access

    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "TOKEN_KEYS": [new]}  # now the old key can go
    rotated = Connection.objects.get(pk=connection.pk)
    assert (rotated.access_token, rotated.refresh_token) == (access, refresh)
    assert rotated.token_version == connection.token_version
    assert sync(rotated).outcome == SyncRun.Outcome.SUCCESS and partner.count("/api/v3/", status=200) == 1


# --- refresh ------------------------------------------------------------------------------------------------------


def test_refresh_shortly_before_expiry(partner_factory, connect_partner):
    partner = partner_factory("withings")
    connection = connect_partner("withings")
    old_refresh, version = connection.refresh_token, connection.token_version
    soon = timezone.now() + dt.timedelta(seconds=60)  # inside REFRESH_MARGIN_SECONDS
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=soon)
    partner.reset_requests()

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert partner.count("/v2/oauth2") == 1  # refreshed before the first call, once
    assert partner.count("/measure", status=200) >= 1
    connection.refresh_from_db()
    assert connection.refresh_token != old_refresh
    assert connection.token_version == version + 1
    assert connection.token_expires_at > timezone.now() + dt.timedelta(hours=1)


def test_no_refresh_when_the_token_is_fresh(partner_factory, connect_partner):
    partner = partner_factory("withings")
    connection = connect_partner("withings")
    partner.reset_requests()
    assert sync(connection).outcome == SyncRun.Outcome.SUCCESS
    assert partner.count("/v2/oauth2") == 0


@pytest.mark.parametrize("slug", SLUGS)
def test_refresh_on_401(slug, partner_factory, connect_partner):
    partner = partner_factory(slug)
    connection = connect_partner(slug)
    old_access = connection.access_token
    assert partner.expire(connection.external_user_id) >= 1
    partner.reset_requests()

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert partner.count(TOKEN_PATHS[slug]) == 1
    rejected = partner.count(API_PATHS[slug], status=401) if slug != "withings" else None
    assert rejected in (1, None)  # Withings says 401 inside an HTTP 200 envelope
    connection.refresh_from_db()
    assert connection.access_token != old_access and connection.status == Connection.Status.ACTIVE


def test_oura_single_use_refresh_tokens_are_persisted(partner_factory, connect_partner):
    partner = partner_factory("oura")
    connection = connect_partner("oura")
    used = []
    for _ in range(2):  # two expiries: the second refresh only works if we stored the first one's successor
        used.append(connection.refresh_token)
        partner.expire(connection.external_user_id)
        run = sync(connection)
        assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
        connection = Connection.objects.get(pk=connection.pk)  # what is in the database, not in memory
    assert partner.count("/oauth/token") == 3  # the code exchange and two refreshes
    assert len({*used, connection.refresh_token}) == 3
    # the partner really is single-use: the first refresh token is dead now
    replay = httpx.post(
        f"{partner.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": used[0], "client_id": "demo-client",
              "client_secret": "demo-secret"},
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("slug", SLUGS)
def test_refused_refresh_revokes_the_connection(slug, partner_factory, connect_partner, alice_client):
    partner = partner_factory(slug)
    connection = connect_partner(slug)
    received = []

    def on_revoked(sender, connection, reason, **kwargs):  # noqa: ANN001, ANN003
        received.append((connection.pk, reason))

    signals.connection_revoked.connect(on_revoked)
    try:
        partner.revoke(connection.external_user_id)  # the user revoked us at the partner
        run = sync(connection)
    finally:
        signals.connection_revoked.disconnect(on_revoked)

    assert run.outcome == SyncRun.Outcome.REVOKED
    assert "refused" in run.error
    assert received == [(connection.pk, "the partner refused our refresh token")]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert connection.access_token == "" and connection.refresh_token == ""
    assert raw_tokens(connection.pk) == ("", "")

    # the scheduler no longer polls it, even when its time has come; an active due one is claimed
    long_ago = timezone.now() - dt.timedelta(days=1)
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=long_ago)
    assert connection.pk not in [c.pk for c in claim_due(10)]
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.ACTIVE)
    assert connection.pk in [c.pk for c in claim_due(10)]
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.REVOKED, next_sync_at=long_ago)

    listed = alice_client.get("/healthsync/api/connections/").json()
    assert [(c["provider"], c["status"], c["reconnect_needed"]) for c in listed] == [(slug, "revoked", True)]

    # reconnecting makes it active again
    assert connect(alice_client, slug).status_code == 302
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and connection.access_token
