"""Drive the real OAuth round trip in tests: our connect view, the emulator's consent page, our callback."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.test import Client

from healthsync.demo.browser import consent


def approve_at_partner(authorize_url: str, decision: str = "approve", username: str | None = None) -> str:
    """Open the partner's consent page, press a button; return where the partner redirects the browser."""
    return consent(authorize_url, username=username, decision=decision)


def start_connect(client: Client, slug: str) -> str:
    response = client.get(f"/healthsync/connect/{slug}/?next=/")
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def callback(client: Client, location: str):  # noqa: ANN201
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}")


def connect(client: Client, slug: str, username: str | None = None):  # noqa: ANN201
    """The whole happy path; returns our callback's response."""
    return callback(client, approve_at_partner(start_connect(client, slug), username=username))
