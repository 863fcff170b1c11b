"""Helpers shared by the emulator tests (OAuth flows against a running emulator, spec locations)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
# the vendors' specs, kept unmodified beside the repository (CI lays shared/ there); HEALTHSYNC_SPECS_DIR overrides
SPECS = Path(os.environ.get("HEALTHSYNC_SPECS_DIR", REPO_ROOT.parent / "shared" / "specs"))
# A fixed "now" (a Tuesday, 12:07 UTC) so every run sees the same world.
START = datetime(2026, 3, 10, 12, 7, 30, tzinfo=UTC).timestamp()
REDIRECT = "http://app.test/callback"
CLIENT = {"client_id": "demo-client", "client_secret": "demo-secret"}
AUTHORIZE_PATH = {
    "strava": "/oauth/authorize",
    "withings": "/oauth2_user/authorize2",
    "oura": "/oauth/authorize",
}
ALL_SCOPES = {
    "strava": "read,activity:read_all,profile:read_all",
    "withings": "user.info,user.metrics,user.activity,user.sleepevents",
    "oura": "email personal daily heartrate workout tag session spo2Daily",
}


def consent(
    client: httpx.Client,
    slug: str,
    scope: str | None = None,
    decision: str = "approve",
    username: str | None = None,
    state: str = "st-123",
) -> dict[str, list[str]]:
    """Drive the consent form like a browser; return the query of the redirect."""
    query = {
        "client_id": "demo-client",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope if scope is not None else ALL_SCOPES[slug],
        "state": state,
    }
    page = client.get(AUTHORIZE_PATH[slug], params=query)
    assert page.status_code == 200, page.text
    form = {**query, "decision": decision, "username": username or f"{slug}-user-1"}
    response = client.post(AUTHORIZE_PATH[slug], data=form)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def exchange(client: httpx.Client, slug: str, code: str, **extra: str) -> httpx.Response:
    if slug == "strava":
        data = {**CLIENT, "code": code, "grant_type": "authorization_code"}
        return client.post("/oauth/token", data={**data, **extra})
    if slug == "withings":
        data = {
            "action": "requesttoken",
            "grant_type": "authorization_code",
            **CLIENT,
            "code": code,
            "redirect_uri": REDIRECT,
        }
        return client.post("/v2/oauth2", data={**data, **extra})
    data = {"grant_type": "authorization_code", **CLIENT, "code": code, "redirect_uri": REDIRECT}
    return client.post("/oauth/token", data={**data, **extra})


def refresh(client: httpx.Client, slug: str, refresh_token: str) -> httpx.Response:
    if slug == "withings":
        return client.post(
            "/v2/oauth2",
            data={
                "action": "requesttoken",
                "grant_type": "refresh_token",
                **CLIENT,
                "refresh_token": refresh_token,
            },
        )
    return client.post("/oauth/token", data={"grant_type": "refresh_token", **CLIENT, "refresh_token": refresh_token})


def tokens(body: dict[str, Any], slug: str) -> dict[str, Any]:
    return body["body"] if slug == "withings" else body


def login(client: httpx.Client, slug: str, scope: str | None = None, username: str | None = None) -> dict[str, Any]:
    query = consent(client, slug, scope=scope, username=username)
    response = exchange(client, slug, query["code"][0])
    assert response.status_code == 200, response.text
    return tokens(response.json(), slug)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
