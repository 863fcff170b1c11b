"""Drive the real OAuth round trip in tests: our connect view, the emulator's consent page, our callback."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
from django.test import Client


class FormParser(HTMLParser):
    """Collects the first form's action and its input values, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and not self.action:
            self.action, self._in_form = a.get("action", ""), True
        elif tag == "input" and self._in_form and a.get("name") and (a.get("type") != "checkbox" or "checked" in a):
            self.fields.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def approve_at_partner(authorize_url: str, decision: str = "approve", username: str | None = None) -> str:
    """Open the partner's consent page, press a button; return where the partner redirects the browser."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text[:300]
    form = FormParser()
    form.feed(page.text)
    fields = [(k, v) for k, v in form.fields if not (username and k == "username")]
    if username:
        fields.append(("username", username))
    fields.append(("decision", decision))
    action = httpx.URL(authorize_url).join(form.action or authorize_url)
    data: dict[str, list[str]] = {}
    for key, value in fields:
        data.setdefault(key, []).append(value)
    answer = httpx.post(action, data=data)
    assert answer.status_code in (302, 303), answer.text[:300]
    return answer.headers["location"]


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
