"""Fault injection through ``/_emulator/faults``: each fault type, path scoping, never on control/consent."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from emu_helpers import ALL_SCOPES, AUTHORIZE_PATH, REDIRECT, bearer

CALL = {
    "strava": lambda c, t: c.get("/api/v3/athlete/activities", headers=bearer(t)),
    "withings": lambda c, t: c.post("/v2/measure", data={"action": "getworkouts", "lastupdate": 0}, headers=bearer(t)),
    "oura": lambda c, t: c.get("/v2/usercollection/workout", params={"start_date": "2000-01-01"}, headers=bearer(t)),
}


def setup(make_server, http, slug, **faults):
    server = make_server(slug)
    client = http(server)
    user = server.state.users()[0]["partner_user_id"]
    token = server.state.issue_tokens(user).access.token
    response = client.post("/_emulator/faults", json={"seed": 3, **faults})
    assert response.status_code == 200, response.text
    return server, client, token


def records(slug, body):
    if slug == "strava":
        return body
    if slug == "withings":
        return body["body"]["series"]
    return body["data"]


@pytest.mark.parametrize("slug", ["strava", "withings", "oura"])
def test_error_malformed_truncated(make_server, http, slug):
    server, client, token = setup(make_server, http, slug, error_rate=1.0)
    response = CALL[slug](client, token)
    assert response.status_code in (500, 502, 503)
    # the control API and the consent page are never faulted
    assert client.get("/_emulator/users").status_code == 200
    consent = client.get(
        AUTHORIZE_PATH[slug], params={"client_id": "demo-client", "redirect_uri": REDIRECT, "scope": ALL_SCOPES[slug]}
    )
    assert consent.status_code == 200

    client.post("/_emulator/faults", json={"malformed_rate": 1.0})
    response = CALL[slug](client, token)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()

    client.post("/_emulator/faults", json={"truncated_rate": 1.0})
    response = CALL[slug](client, token)
    assert response.status_code == 200 and len(response.content) > 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)

    assert client.delete("/_emulator/faults").status_code == 200
    assert CALL[slug](client, token).status_code == 200
    assert server.state.faults.injected == {}


@pytest.mark.parametrize("slug", ["strava", "withings", "oura"])
def test_bad_field_and_unknown_type(make_server, http, slug):
    server, client, token = setup(make_server, http, slug)
    clean = records(slug, CALL[slug](client, token).json())
    client.post("/_emulator/faults", json={"bad_field_rate": 1.0, "seed": 1})
    dirty = records(slug, CALL[slug](client, token).json())
    assert len(dirty) == len(clean)
    changed = [(a, b) for a, b in zip(clean, dirty, strict=True) if a != b]
    assert len(changed) == 1
    before, after = changed[0]
    diffs = [k for k in before if before[k] != after.get(k)]
    assert len(diffs) == 1 and type(before[diffs[0]]) is not type(after[diffs[0]])

    client.post("/_emulator/faults", json={"unknown_type_rate": 1.0})
    dirty = records(slug, CALL[slug](client, token).json())
    if slug == "strava":
        assert "HoverboardRide" in {a["sport_type"] for a in dirty}
    elif slug == "withings":
        assert 9999 in {w["category"] for w in dirty}
    else:
        assert "zorbFootball" in {w["activity"] for w in dirty}
    assert server.state.faults.injected == {"bad_field": 1, "unknown_type": 1}


def test_storm_429_is_partner_shaped(make_server, http):
    server, client, token = setup(make_server, http, "strava", storm_429=True)
    response = CALL["strava"](client, token)
    assert response.status_code == 429 and response.json()["message"] == "Rate Limit Exceeded"
    server, client, token = setup(make_server, http, "withings", storm_429=True)
    response = CALL["withings"](client, token)
    assert response.status_code == 200 and response.json()["status"] == 601
    server, client, token = setup(make_server, http, "oura", storm_429=True)
    response = CALL["oura"](client, token)
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_latency_and_rates_and_paths(make_server, http):
    server, client, token = setup(make_server, http, "oura", latency_ms=150)
    started = time.monotonic()
    assert CALL["oura"](client, token).status_code == 200
    assert time.monotonic() - started >= 0.15
    client.post("/_emulator/faults", json={"error_rate": 0.5, "seed": 7})
    statuses = [CALL["oura"](client, token).status_code for _ in range(40)]
    assert 8 < sum(s >= 500 for s in statuses) < 32
    # faults scoped to the token endpoint leave data calls alone
    client.post("/_emulator/faults", json={"error_rate": 1.0, "paths": ["/oauth/token"]})
    assert CALL["oura"](client, token).status_code == 200
    assert client.post("/oauth/token", data={"grant_type": "refresh_token"}).status_code >= 500
    assert client.post("/_emulator/faults", json={"nonsense": 1}).status_code == 400


def test_timeout_hangs_and_stop_releases(make_server, http):
    server, client, token = setup(make_server, http, "strava", timeout_rate=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v3/athlete", headers=bearer(token), timeout=0.5)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
