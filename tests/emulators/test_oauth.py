"""OAuth flows of each emulator: consent, codes, token exchange, refresh rotation rules, revocation, expiry."""

from __future__ import annotations

import pytest
from emu_helpers import ALL_SCOPES, AUTHORIZE_PATH, CLIENT, REDIRECT, bearer, consent, exchange, login, refresh, tokens

SLUGS = ("strava", "withings", "oura")
PROBE = {
    "strava": ("GET", "/api/v3/athlete", {}),
    "withings": ("POST", "/measure", {"action": "getmeas"}),
    "oura": ("GET", "/v2/usercollection/personal_info", {}),
}


def probe(client, slug, token):
    method, path, data = PROBE[slug]
    if method == "GET":
        return client.get(path, headers=bearer(token))
    return client.post(path, data=data, headers=bearer(token))


def authorized(slug, response) -> bool:
    if slug == "withings":
        return response.status_code == 200 and response.json()["status"] == 0
    return response.status_code == 200


def rejected(slug, response) -> bool:
    if slug == "withings":
        return response.status_code == 200 and response.json() == {
            "status": 401,
            "error": "XRequestAuthentificationFailed",
        }
    if slug == "strava":
        return response.status_code == 401 and response.json() == {
            "message": "Authorization Error",
            "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
        }
    return response.status_code == 401


@pytest.mark.parametrize("slug", SLUGS)
def test_consent_page_lists_users_and_buttons(make_server, http, slug):
    server = make_server(slug)
    client = http(server)
    page = client.get(
        AUTHORIZE_PATH[slug],
        params={
            "client_id": "demo-client",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": ALL_SCOPES[slug],
            "state": "abc",
        },
    )
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    html = page.text
    assert '<button type="submit" name="decision" value="approve">Authorize</button>' in html
    assert '<button type="submit" name="decision" value="deny">Cancel</button>' in html
    assert f'name="username" value="{slug}-user-1"' in html
    for user in server.state.users():
        assert user["username"] in html and user["partner_user_id"] in html
    bad = client.get(AUTHORIZE_PATH[slug], params={"client_id": "nope", "redirect_uri": REDIRECT})
    assert bad.status_code == 400


@pytest.mark.parametrize("slug", SLUGS)
def test_deny_redirects_with_access_denied(make_server, http, slug):
    client = http(make_server(slug))
    query = consent(client, slug, decision="deny", state="s-9")
    assert query == {"error": ["access_denied"], "state": ["s-9"]}


@pytest.mark.parametrize("slug", SLUGS)
def test_code_exchange_is_single_use_and_bound(make_server, http, slug):
    server = make_server(slug)
    client = http(server)
    query = consent(client, slug, username=f"{slug}-user-2")
    assert query["state"] == ["st-123"]
    code = query["code"][0]
    first = exchange(client, slug, code)
    assert first.status_code == 200
    body = tokens(first.json(), slug)
    assert probe(client, slug, body["access_token"]).status_code == 200
    user2 = server.state.users()[1]["partner_user_id"]
    if slug == "strava":
        assert body["token_type"] == "Bearer" and body["expires_in"] == 21600
        assert body["expires_at"] == int(server.state.clock.now()) + 21600
        assert body["athlete"]["username"] == "strava-user-2" and str(body["athlete"]["id"]) == user2
        assert query["scope"] == [ALL_SCOPES["strava"]]
    elif slug == "withings":
        assert first.json()["status"] == 0
        assert body["expires_in"] == 10800 and body["token_type"] == "Bearer" and str(body["userid"]) == user2
        assert body["scope"] == ALL_SCOPES["withings"]
    else:
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert body["token_type"] == "bearer" and body["expires_in"] == 86400
    again = exchange(client, slug, code)
    if slug == "strava":
        assert again.status_code == 400
        assert again.json()["errors"][0]["resource"] == "AuthorizationCode"
    elif slug == "withings":
        assert again.status_code == 200 and again.json() == {"status": 503, "error": "Invalid Params: invalid code"}
    else:
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("slug", SLUGS)
def test_code_expires(make_server, http, slug):
    server = make_server(slug)
    client = http(server)
    code = consent(client, slug)["code"][0]
    server.state.clock.advance(31 if slug == "withings" else 601)  # Withings codes live 30 s, others 10 min
    response = exchange(client, slug, code)
    assert response.status_code in (200, 400)
    assert "access_token" not in response.text


@pytest.mark.parametrize("slug", SLUGS)
def test_wrong_client_secret(make_server, http, slug):
    client = http(make_server(slug))
    code = consent(client, slug)["code"][0]
    response = exchange(client, slug, code, client_secret="wrong")
    if slug == "strava":
        assert response.status_code == 401
        assert response.json()["errors"][0] == {"resource": "Application", "field": "client_secret", "code": "invalid"}
    elif slug == "withings":
        assert response.status_code == 200 and response.json()["status"] == 503
    else:
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("slug", ["withings", "oura"])
def test_redirect_uri_must_match(make_server, http, slug):
    client = http(make_server(slug))
    code = consent(client, slug)["code"][0]
    response = exchange(client, slug, code, redirect_uri="http://evil.test/cb")
    assert "access_token" not in response.text


def test_strava_partial_scope_grant(make_server, http):
    client = http(make_server("strava"))
    query = {
        "client_id": "demo-client",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "read,activity:read_all",
        "state": "x",
    }
    form = {
        **query,
        "decision": "approve",
        "username": "strava-user-1",
        "granted_scope_present": "1",
        "granted_scope": "read",
    }
    response = client.post("/oauth/authorize", data=form)
    location = response.headers["location"]
    assert "scope=read&" in location + "&" and "activity" not in location
    from urllib.parse import parse_qs, urlsplit

    code = parse_qs(urlsplit(location).query)["code"][0]
    token = exchange(client, "strava", code).json()["access_token"]
    denied = client.get("/api/v3/athlete/activities", headers=bearer(token))
    assert denied.status_code == 401
    assert denied.json()["errors"][0] == {
        "resource": "AccessToken",
        "field": "activity:read_permission",
        "code": "missing",
    }


def test_strava_refresh_rotation(make_server, http):
    server = make_server("strava")
    client = http(server)
    first = login(client, "strava")
    early = refresh(client, "strava", first["refresh_token"])
    assert early.status_code == 200
    body = early.json()
    assert "athlete" not in body
    # more than an hour left: Strava hands back the same access token, but a new refresh token
    assert body["access_token"] == first["access_token"] and body["refresh_token"] != first["refresh_token"]
    stale = refresh(client, "strava", first["refresh_token"])
    assert stale.status_code == 400
    assert stale.json() == {
        "message": "Bad Request",
        "errors": [{"resource": "RefreshToken", "field": "refresh_token", "code": "invalid"}],
    }
    server.state.clock.advance(5 * 3600 + 1)
    late = refresh(client, "strava", body["refresh_token"]).json()
    assert late["access_token"] != first["access_token"] and late["expires_in"] == 21600
    server.state.clock.advance(3600)  # the first access token is now 6 h old
    assert rejected("strava", probe(client, "strava", first["access_token"]))
    assert authorized("strava", probe(client, "strava", late["access_token"]))


def test_withings_refresh_grace_until_new_token_used(make_server, http):
    server = make_server("withings")
    client = http(server)
    first = login(client, "withings")
    second = tokens(refresh(client, "withings", first["refresh_token"]).json(), "withings")
    assert second["refresh_token"] != first["refresh_token"]
    # old refresh token still valid during the grace window...
    third = refresh(client, "withings", first["refresh_token"]).json()
    assert third["status"] == 0
    # ...until the access token issued in exchange for it is used
    assert authorized("withings", probe(client, "withings", third["body"]["access_token"]))
    assert refresh(client, "withings", first["refresh_token"]).json() == {
        "status": 503,
        "error": "Invalid Params: invalid refresh_token",
    }
    # the second refresh token's grace ends after 8 h even if its successor is never used
    fourth = refresh(client, "withings", second["refresh_token"]).json()
    assert fourth["status"] == 0
    server.state.clock.advance(8 * 3600 - 10)
    assert refresh(client, "withings", second["refresh_token"]).json()["status"] == 0
    server.state.clock.advance(20)
    assert refresh(client, "withings", second["refresh_token"]).json()["status"] == 503


def test_oura_refresh_tokens_are_single_use(make_server, http):
    client = http(make_server("oura"))
    first = login(client, "oura")
    second = refresh(client, "oura", first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["access_token"] != first["access_token"]
    reuse = refresh(client, "oura", first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert refresh(client, "oura", second.json()["refresh_token"]).status_code == 200


@pytest.mark.parametrize(("slug", "ttl"), [("strava", 21600), ("withings", 10800), ("oura", 86400)])
def test_access_token_expiry_follows_clock(make_server, http, slug, ttl):
    server = make_server(slug)
    client = http(server)
    token = login(client, slug)["access_token"]
    server.state.clock.advance(ttl - 1)
    assert authorized(slug, probe(client, slug, token))
    server.state.clock.advance(1)
    assert rejected(slug, probe(client, slug, token))


@pytest.mark.parametrize("slug", SLUGS)
def test_control_revoke_and_expire(make_server, http, slug):
    server = make_server(slug)
    client = http(server)
    user = server.state.users()[0]["partner_user_id"]
    token = login(client, slug)
    assert client.post("/_emulator/expire", json={"user": user}).json()["expired"] >= 1
    assert rejected(slug, probe(client, slug, token["access_token"]))
    renewed = tokens(refresh(client, slug, token["refresh_token"]).json(), slug)
    assert authorized(slug, probe(client, slug, renewed["access_token"]))
    assert client.post("/_emulator/revoke", json={"user": user}).status_code == 200
    assert rejected(slug, probe(client, slug, renewed["access_token"]))
    assert "access_token" not in refresh(client, slug, renewed["refresh_token"]).text


def test_partner_revocation_endpoints(make_server, http):
    strava = http(make_server("strava"))
    token = login(strava, "strava")["access_token"]
    response = strava.post("/oauth/deauthorize", data={"access_token": token})
    assert response.status_code == 200 and response.json() == {"access_token": token}
    assert rejected("strava", probe(strava, "strava", token))

    oura = http(make_server("oura"))
    token = login(oura, "oura")["access_token"]
    assert oura.get("/oauth/revoke", params={"access_token": token}).status_code == 200
    assert rejected("oura", probe(oura, "oura", token))

    withings_server = make_server("withings")
    withings = http(withings_server)
    body = login(withings, "withings")
    revoke = {"action": "revoke", **CLIENT, "userid": str(body["userid"])}
    assert withings.post("/v2/oauth2", data=revoke).json() == {"status": 0, "body": {}}
    assert rejected("withings", probe(withings, "withings", body["access_token"]))


def test_withings_signed_requests(make_server, http):
    import time

    from healthsync.emulators.withings import signature

    client = http(make_server("withings"))
    ts = str(int(time.time()))
    nonce_response = client.post(
        "/v2/signature",
        data={
            "action": "getnonce",
            "client_id": "demo-client",
            "timestamp": ts,
            "signature": signature("demo-secret", "getnonce", "demo-client", ts),
        },
    )
    nonce = nonce_response.json()["body"]["nonce"]
    code = consent(client, "withings")["code"][0]
    data = {
        "action": "requesttoken",
        "grant_type": "authorization_code",
        "client_id": "demo-client",
        "nonce": nonce,
        "signature": signature("demo-secret", "requesttoken", "demo-client", nonce),
        "code": code,
        "redirect_uri": REDIRECT,
    }
    assert client.post("/v2/oauth2", data=data).json()["status"] == 0
    bad = {**data, "signature": "0" * 64}
    assert client.post("/v2/oauth2", data=bad).json()["status"] == 503
