"""OAuth connect/callback/disconnect through the real views, the partners' consent pages and token endpoints."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from django.contrib.messages import get_messages
from django.test import Client

from healthsync.models import Connection, PendingAuthorization
from healthsync.providers.strava import Strava
from tests.conftest import SLUGS
from tests.oauth_helpers import approve_at_partner, callback, start_connect

pytestmark = pytest.mark.django_db(transaction=True)


TOKEN_PATHS = {"strava": "/oauth/token", "withings": "/v2/oauth2", "oura": "/oauth/token"}


def with_query(location: str, **changes: str | None) -> str:
    """The partner's redirect with some query parameters replaced (None: removed)."""
    parts = urlsplit(location)
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def messages_of(response) -> list[str]:  # noqa: ANN001
    return [str(m) for m in get_messages(response.wsgi_request)]


def token_works(partner, token: str) -> bool:  # noqa: ANN001
    """Ask the partner's API who we are with ``token``; True when it accepts the token."""
    auth = {"Authorization": f"Bearer {token}"}
    if partner.slug == "strava":
        return httpx.get(f"{partner.url}/api/v3/athlete", headers=auth).status_code == 200
    if partner.slug == "oura":
        return httpx.get(f"{partner.url}/v2/usercollection/personal_info", headers=auth).status_code == 200
    answer = httpx.post(f"{partner.url}/measure", data={"action": "getmeas"}, headers=auth)
    return answer.status_code == 200 and answer.json()["status"] == 0


# --- the happy path, for every partner ------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_connect_through_the_consent_page(slug, alice_client, partner_factory, user):
    partner = partner_factory(slug)
    authorize_url = start_connect(alice_client, slug)
    assert authorize_url.startswith(partner.url)
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["client_id"] == ["demo-client"] and query["state"][0]
    assert PendingAuthorization.objects.filter(user=user, provider=slug, state=query["state"][0]).exists()

    response = callback(alice_client, approve_at_partner(authorize_url))

    assert response.status_code == 302 and response["Location"] == "/"
    assert any("is connected" in m for m in messages_of(response))
    connection = Connection.objects.get(user=user, provider=slug)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.external_user_id == partner.users()[0]["partner_user_id"]
    assert connection.scopes and connection.access_token and connection.refresh_token
    assert token_works(partner, connection.access_token)
    assert not PendingAuthorization.objects.exists()  # the state was consumed


# --- state: bound to the session, single use ------------------------------------------------------------------


@pytest.fixture
def strava(partner_factory):  # noqa: ANN001, ANN201
    return partner_factory("strava")


@pytest.mark.parametrize(
    "state, message",
    [(None, "no state"), ("forged-state-value", "already used or is unknown"), ("", "no state")],
)
def test_callback_with_missing_or_wrong_state_is_refused(state, message, strava, alice_client):
    location = approve_at_partner(start_connect(alice_client, "strava"))
    response = callback(alice_client, with_query(location, state=state))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Connection.objects.exists()


def test_state_is_single_use(strava, alice_client, user):
    location = approve_at_partner(start_connect(alice_client, "strava"))
    assert callback(alice_client, location).status_code == 302
    connection = Connection.objects.get(user=user)

    replay = callback(alice_client, location)

    assert replay.status_code == 400 and "already used" in replay.content.decode()
    connection.refresh_from_db()
    assert Connection.objects.count() == 1 and connection.token_version == 1


def test_state_is_bound_to_the_login_that_started_it(strava, alice_client, django_user_model):
    location = approve_at_partner(start_connect(alice_client, "strava"))
    bob = Client()
    bob.force_login(django_user_model.objects.create_user("bob", password="pw"))

    stolen = callback(bob, location)
    anonymous = callback(Client(), location)

    assert stolen.status_code == 400 and "another login" in stolen.content.decode()
    assert anonymous.status_code == 400  # and the state was consumed by bob's attempt
    assert callback(alice_client, location).status_code == 400
    assert not Connection.objects.exists()


def test_expired_state_is_refused(strava, alice_client, settings):
    location = approve_at_partner(start_connect(alice_client, "strava"))
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "AUTHORIZATION_TTL_SECONDS": 0}
    response = callback(alice_client, location)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert not Connection.objects.exists()


# --- the partner says no ------------------------------------------------------------------------------------------


def test_user_declines_at_the_partner(strava, alice_client):
    location = approve_at_partner(start_connect(alice_client, "strava"), decision="deny")
    assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]

    response = callback(alice_client, location)

    assert response.status_code == 302
    assert any("declined" in m for m in messages_of(response))
    assert not Connection.objects.exists()


@pytest.mark.parametrize("slug", SLUGS)
def test_code_the_partner_rejects(slug, partner_factory, alice_client):
    partner = partner_factory(slug)
    location = approve_at_partner(start_connect(alice_client, slug))

    response = callback(alice_client, with_query(location, code="0" * 40))

    assert response.status_code == 302
    assert any("refused the authorization" in m for m in messages_of(response)), messages_of(response)
    assert not Connection.objects.exists()
    assert partner.count(TOKEN_PATHS[slug]) == 1  # we asked once; the partner said no


def test_callback_without_code(strava, alice_client):
    location = approve_at_partner(start_connect(alice_client, "strava"))
    response = callback(alice_client, with_query(location, code=None))
    assert any("no authorization code" in m for m in messages_of(response))
    assert not Connection.objects.exists()


# --- disconnect ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_disconnect_revokes_at_the_partner_then_deletes_tokens(slug, partner_factory, connect_partner, alice_client):
    partner = partner_factory(slug)
    connection = connect_partner(slug)
    token = connection.access_token
    assert token_works(partner, token)

    response = alice_client.post(f"/healthsync/disconnect/{slug}/")

    assert response.status_code == 302
    assert not token_works(partner, token)  # revoked at the partner
    assert not Connection.objects.filter(pk=connection.pk).exists()  # and our copy is gone


def test_disconnect_needs_a_post_and_only_touches_your_own(strava, connect_partner, alice_client, django_user_model):
    connection = connect_partner("strava")
    assert alice_client.get("/healthsync/disconnect/strava/").status_code == 405
    bob = Client()
    bob.force_login(django_user_model.objects.create_user("bob", password="pw"))
    assert bob.post("/healthsync/disconnect/strava/").status_code == 404
    assert token_works(strava, connection.access_token)
    assert Connection.objects.filter(pk=connection.pk).exists()


# --- PKCE ---------------------------------------------------------------------------------------------------------


class PkceStrava(Strava):
    """Test-only: Strava's declarations with the PKCE knob turned on."""

    slug = "pkce_strava"
    auth = dataclasses.replace(Strava.auth, pkce=True)


class RecordingProxy:
    """A real HTTP reverse proxy on loopback that remembers the bodies of the requests it forwards."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append((self.command, self.path, body.decode()))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, proxy.target + self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_pkce_knob_sends_a_challenge_and_its_verifier(strava, alice_client, user, settings):
    proxy = RecordingProxy(strava.url)
    try:
        providers = dict(settings.HEALTHSYNC["PROVIDERS"])
        providers["pkce_strava"] = {**providers["strava"], "origin": proxy.url}
        settings.HEALTHSYNC = {**settings.HEALTHSYNC, "PROVIDERS": providers}

        authorize_url = start_connect(alice_client, "pkce_strava")
        query = parse_qs(urlsplit(authorize_url).query)
        pending = PendingAuthorization.objects.get(user=user)
        response = callback(alice_client, approve_at_partner(authorize_url))
    finally:
        proxy.close()

    assert response.status_code == 302
    assert query["code_challenge_method"] == ["S256"]
    token_posts = [parse_qs(body) for method, path, body in proxy.seen if path.startswith("/oauth/token")]
    assert len(token_posts) == 1
    verifier = token_posts[0]["code_verifier"][0]
    assert verifier == pending.code_verifier and len(verifier) >= 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [challenge]
    assert Connection.objects.get(user=user, provider="pkce_strava").status == Connection.Status.ACTIVE

    # the knob off (plain Strava): no challenge in the URL, no verifier stored
    plain = parse_qs(urlsplit(start_connect(alice_client, "strava")).query)
    assert "code_challenge" not in plain
    assert PendingAuthorization.objects.get(user=user, provider="strava").code_verifier == ""
