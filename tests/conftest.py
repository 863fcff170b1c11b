"""Shared fixtures: partner emulators on loopback, settings pointing at them, connected users."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import httpx
import pytest
from django.conf import settings as django_settings

from healthsync.emulators import start_emulator
from healthsync.models import Connection
from healthsync.providers import get_provider
from healthsync.sync import session
from tests.oauth_helpers import connect

SLUGS = ("strava", "withings", "oura")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("HEALTHSYNC_DB") == "postgres":
        assert django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), "expected PostgreSQL"


@pytest.fixture(autouse=True)
def fresh_partner_clients() -> Iterator[None]:
    """Each test starts with empty request budgets and new HTTP pools (they are per-process singletons)."""
    session.client_for.cache_clear()
    get_provider.cache_clear()
    yield
    session.client_for.cache_clear()


@pytest.fixture(autouse=True)
def fast_settings(settings) -> None:  # noqa: ANN001
    settings.HEALTHSYNC = {
        **settings.HEALTHSYNC,
        "HTTP_BACKOFF_SECONDS": 0.01,
        "HTTP_TIMEOUT_SECONDS": 3.0,
        "MAX_WAIT_SECONDS": 2.0,
        "LEASE_SECONDS": 30,
    }


class Partner:
    """A running emulator plus the settings that point healthsync at it."""

    def __init__(self, slug: str, server, settings) -> None:  # noqa: ANN001
        self.slug = slug
        self.server = server
        self.url = server.base_url
        self.state = server.state
        providers = dict(settings.HEALTHSYNC["PROVIDERS"])
        providers[slug] = {**providers.get(slug, {}), "origin": self.url}
        settings.HEALTHSYNC = {**settings.HEALTHSYNC, "PROVIDERS": providers}

    def control(self, method: str, path: str, **json) -> httpx.Response:  # noqa: ANN003
        response = httpx.request(method, f"{self.url}/_emulator/{path}", json=json or None)
        assert response.status_code < 400, response.text
        return response

    def users(self) -> list[dict]:
        return self.control("GET", "users").json()

    def truth(self, user_id: str) -> dict:
        return httpx.get(f"{self.url}/_emulator/truth", params={"user": user_id}).json()

    def faults(self, **faults) -> None:  # noqa: ANN003
        self.control("POST", "faults", **faults)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def freeze(self) -> None:
        """Stop the partner's world from moving (devices uploading, daily totals growing) during a test."""
        self.control("POST", "clock", freeze=True)

    def upload(self, user: str, kind: str, **fields) -> dict:  # noqa: ANN003
        return self.control("POST", "upload", user=user, kind=kind, **fields).json()

    def update(self, user: str, kind: str, **body) -> dict:  # noqa: ANN003
        return self.control("POST", "update", user=user, kind=kind, **body).json()

    def delete(self, user: str, kind: str, id) -> dict:  # noqa: ANN001, A002
        return self.control("POST", "delete", user=user, kind=kind, id=id).json()

    def expire(self, user: str) -> int:
        return self.control("POST", "expire", user=user).json()["expired"]

    def revoke(self, user: str) -> int:
        return self.control("POST", "revoke", user=user).json()["revoked"]

    def requests(self) -> dict:
        return self.control("GET", "requests").json()

    def reset_requests(self) -> None:
        self.control("DELETE", "requests")

    def count(self, prefix: str = "", status: int | None = None) -> int:
        """Requests the partner received on paths starting with ``prefix`` (optionally: answered ``status``)."""
        paths = self.requests()["paths"]
        return sum(
            entry["count"] if status is None else entry["by_status"].get(str(status), 0)
            for path, entry in paths.items()
            if path.startswith(prefix)
        )


@pytest.fixture
def partner_factory(settings) -> Iterator[Callable[..., Partner]]:  # noqa: ANN001
    started: list = []

    def start(slug: str, **options) -> Partner:  # noqa: ANN003
        server = start_emulator(slug, **{"seed": 7, "users": 3, **options})
        started.append(server)
        return Partner(slug, server, settings)

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=SLUGS)
def partner(request, partner_factory) -> Partner:  # noqa: ANN001
    return partner_factory(request.param)


@pytest.fixture
def user(django_user_model):  # noqa: ANN001, ANN201
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def alice_client(client, user):  # noqa: ANN001, ANN201
    client.force_login(user)
    return client


@pytest.fixture
def connected(alice_client, partner, user) -> Connection:  # noqa: ANN001
    """Alice connected to the partner's first synthetic user through the real OAuth flow."""
    response = connect(alice_client, partner.slug)
    assert response.status_code == 302, response.content
    return Connection.objects.get(user=user, provider=partner.slug)


@pytest.fixture
def connect_partner(alice_client, user):  # noqa: ANN001, ANN201
    """Connect alice (or another logged-in client) to a started partner through the real OAuth round trip."""

    def run(slug: str, client=None, username: str | None = None) -> Connection:  # noqa: ANN001
        client = client or alice_client
        response = connect(client, slug, username=username)
        assert response.status_code == 302, response.content
        return Connection.objects.get(user=client.session["_auth_user_id"], provider=slug)

    return run
