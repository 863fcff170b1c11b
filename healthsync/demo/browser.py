"""A minimal scripted browser: logs in to the app and clicks through a partner's consent page over HTTP."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx


class FormReader(HTMLParser):
    """The first form of a page: its action and the fields a browser would submit (checked boxes only)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, list[str]] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self._inside = a.get("action", ""), True
        elif tag == "input" and self._inside and a.get("name") and (a.get("type") != "checkbox" or "checked" in a):
            self.fields.setdefault(a["name"], []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def read_form(page: httpx.Response) -> tuple[httpx.URL, dict[str, list[str]]]:
    reader = FormReader()
    reader.feed(page.text)
    return page.url.join(reader.action or ""), reader.fields


def consent(authorize_url: str, username: str | None = None, decision: str = "approve") -> str:
    """Open a partner's consent page, log in as ``username``, press a button; return the redirect target."""
    page = httpx.get(authorize_url)
    page.raise_for_status()
    action, fields = read_form(page)
    if username:
        fields["username"] = [username]
    fields["decision"] = [decision]
    answer = httpx.post(action, data=fields)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"the consent page answered {answer.status_code}: {answer.text[:200]}")
    return answer.headers["location"]


class AppBrowser:
    """A logged-in session at our app, as a person's browser would have."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def login(self, username: str, password: str) -> None:
        page = self.http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        answer = self.http.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": str(self.http.base_url)},
        )
        if answer.status_code != 302:
            raise RuntimeError(f"login of {username} failed ({answer.status_code})")

    def connect(self, slug: str, partner_username: str) -> httpx.Response:
        """Connect Strava/Withings/Oura: our connect view → partner consent → our callback."""
        start = self.http.get(f"/healthsync/connect/{slug}/", params={"next": "/"})
        if start.status_code != 302:
            raise RuntimeError(f"connect {slug} answered {start.status_code}")
        back = consent(start.headers["location"], partner_username)
        return self.http.get(back)

    def close(self) -> None:
        self.http.close()
