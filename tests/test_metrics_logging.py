"""Structured logs: one JSON object a line, never a token nor personal data, even through a real connect + sync."""

from __future__ import annotations

import json
import logging

import pytest

from healthsync.logging import REDACTED, JsonFormatter, RedactingFilter, redact
from healthsync.models import Connection
from healthsync.sync.engine import sync
from tests.oauth_helpers import connect


def record(msg: str, *args, exc_info=None, **extra) -> logging.LogRecord:  # noqa: ANN001, ANN002, ANN003
    rec = logging.LogRecord("healthsync.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_line_is_json_with_the_usual_fields():
    line = json.loads(JsonFormatter().format(record("synced %s records", 12, provider="strava")))
    assert line["msg"] == "synced 12 records" and line["level"] == "WARNING" and line["provider"] == "strava"
    assert line["logger"] == "healthsync.test" and line["ts"].endswith("+00:00")


@pytest.mark.parametrize(
    "text, secret",
    [
        ("GET /api?access_token=abc123def&x=1", "abc123def"),
        ("POST body refresh_token=r-9f8e7d6c&grant_type=refresh_token", "r-9f8e7d6c"),
        ('{"access_token": "tok_live_12345", "expires_in": 3600}', "tok_live_12345"),
        ("{'refresh_token': 'rt-abcdef'}", "rt-abcdef"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.sig", "eyJhbGciOi"),
        ("code=AUTHCODE42 state=xyz", "AUTHCODE42"),
        ("client_secret=demo-secret", "demo-secret"),
        ("user alice@example.com connected", "alice@example.com"),
        ("opaque 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 here", "9f86d081884c7d65"),
    ],
)
def test_secrets_and_personal_data_in_messages_are_redacted(text, secret):
    out = JsonFormatter().format(record(text))
    assert secret not in out and REDACTED in out


def test_extras_arguments_and_tracebacks_are_redacted():
    try:
        raise ValueError("refused access_token=leaky-token-1")
    except ValueError:
        import sys

        exc = sys.exc_info()
    out = JsonFormatter().format(record(
        "refresh for %s", "bob@example.org", exc_info=exc,
        token={"access_token": "AT-1", "refresh_token": "RT-1", "expires_in": 3600}, email="bob@example.org",
    ))
    for secret in ("leaky-token-1", "AT-1", "RT-1", "bob@example.org"):
        assert secret not in out, secret
    line = json.loads(out)
    assert line["token"] == REDACTED and line["email"] == REDACTED


def test_redact_keeps_what_is_not_sensitive():
    data = {"provider": "strava", "records_new": 5, "nested": [{"password": "pw", "endpoint": "activities"}]}
    assert redact(data) == {"provider": "strava", "records_new": 5,
                            "nested": [{"password": REDACTED, "endpoint": "activities"}]}


def test_plain_text_handlers_can_redact_too():
    rec = record("token for %s is %s", "x", "access_token=zzz-1")
    RedactingFilter().filter(rec)
    assert "zzz-1" not in rec.getMessage()


@pytest.mark.django_db(transaction=True)
def test_a_real_connect_and_sync_logs_no_token(alice_client, partner_factory, user, caplog):
    handler = logging.StreamHandler()
    lines: list[str] = []
    handler.emit = lambda rec: lines.append(JsonFormatter().format(rec))  # type: ignore[method-assign]
    for name in ("healthsync", "httpx", "authlib"):
        logging.getLogger(name).addHandler(handler)
    old_levels = {name: logging.getLogger(name).level for name in ("healthsync", "httpx", "authlib")}
    try:
        for name in old_levels:
            logging.getLogger(name).setLevel(logging.DEBUG)
        partner_factory("strava")
        assert connect(alice_client, "strava").status_code == 302
        connection = Connection.objects.get(user=user)
        sync(connection)
        connection.refresh_from_db()
    finally:
        for name, level in old_levels.items():
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(level)
    assert lines, "expected some log lines at DEBUG"
    text = "\n".join(lines)
    assert connection.access_token and connection.access_token not in text
    assert connection.refresh_token not in text
    for line in lines:
        json.loads(line)
