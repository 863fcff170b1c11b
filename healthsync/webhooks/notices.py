"""Reading a partner's notification, as its ``Webhook`` declaration describes it. Pure: no database, no clock.

Everything here raises ``Malformed`` (answer 400) or ``Unauthentic`` (answer 401); nothing has side effects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from healthsync.providers.declarations import Challenge, HeadCheck, Hmac, Webhook, dig

ACTIONS = frozenset({"create", "update", "delete"})


class Malformed(ValueError):
    """The body is not a notification of this partner."""


class Unauthentic(Exception):  # noqa: N818 - reads as the verdict
    """A missing or wrong signature, or a timestamp outside the tolerance (a replay)."""


@dataclass
class Notice:
    user: str
    kind: str = ""
    action: str = ""
    object_id: str = ""
    endpoints: tuple[str, ...] = ()
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    revoked: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    digest: str = ""


def handshake(push: Webhook, method: str, query: Mapping[str, str], token: str) -> tuple[int, dict[str, str] | None]:
    """The answer to the partner's callback check: (status, JSON body or None)."""
    verify = push.verify
    if isinstance(verify, HeadCheck):
        return 200, None
    assert isinstance(verify, Challenge)
    if method == "HEAD":
        return 200, None
    given, challenge = query.get(verify.token), query.get(verify.challenge)
    if given is None or challenge is None:
        return 400, {"error": "not a subscription check"}
    if not hmac.compare_digest(given.encode(), token.encode()):
        return 401, {"error": "unknown verify token"}
    return 200, {verify.answer or verify.challenge: challenge}


def verify(signature: Hmac, secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: float) -> None:
    """Check the HMAC in constant time, then that its timestamp is fresh (an old signed body is a replay)."""
    given, stamp = headers.get(signature.header), headers.get(signature.timestamp)
    if not given or not stamp:
        raise Unauthentic("missing signature")
    expected = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).hexdigest()
    if signature.upper:
        expected = expected.upper()
    given = given.strip().removeprefix("sha256=")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Unauthentic("wrong signature")
    try:
        sent = float(stamp)
    except ValueError:
        raise Unauthentic("unreadable timestamp") from None
    if sent > 1e11:  # milliseconds
        sent /= 1000
    if abs(now - sent) > tolerance:
        raise Unauthentic("stale timestamp")


def parse(push: Webhook, body: bytes) -> list[Notice]:
    """The notifications in a body (a JSON object, a JSON list of them, or a form)."""
    try:
        text = body.decode("utf-8")
        if push.form:
            items: Any = [dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))]
        else:
            data = json.loads(text)
            items = data if isinstance(data, list) else [data]
    except (UnicodeDecodeError, ValueError):
        raise Malformed("the body is not a notification") from None
    if not items or not all(isinstance(i, dict) for i in items):
        raise Malformed("expected a notification object")
    digest = hashlib.sha256(body).hexdigest()
    notices = [_notice(push, item) for item in items]
    for n, notice in enumerate(notices):
        notice.digest = digest if len(notices) == 1 else hashlib.sha256(f"{digest}:{n}".encode()).hexdigest()
    return notices


def _text(data: Any, path: str | None, required: bool = True) -> str:
    if not path:
        return ""
    try:
        value = dig(data, path)
    except (KeyError, TypeError):
        if required:
            raise Malformed(f"no {path!r} in the notification") from None
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int) or (required and value == ""):
        raise Malformed(f"{path!r} is not an identifier")
    return str(value)


def _moment(data: Any, path: str | None) -> dt.datetime | None:
    text = _text(data, path, required=False)
    if not text:
        return None
    try:
        return dt.datetime.fromtimestamp(int(text), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise Malformed(f"{path!r} is not a unix time") from None


def _revoked(push: Webhook, data: Any) -> bool:
    if not push.revoked:
        return False
    try:
        return all(str(dig(data, path)).lower() == value for path, value in push.revoked.items())
    except (KeyError, TypeError):
        return False


def _notice(push: Webhook, data: dict[str, Any]) -> Notice:
    notice = Notice(user=_text(data, push.user), payload=data)
    notice.revoked = _revoked(push, data)
    notice.kind = _text(data, push.kind)
    notice.action = _text(data, push.action).lower()
    if push.action and notice.action not in ACTIONS:
        raise Malformed(f"unknown action {notice.action!r}")
    notice.object_id = _text(data, push.object_id, required=False)
    notice.endpoints = tuple(push.kinds.get(notice.kind, ()))
    notice.window_start, notice.window_end = _moment(data, push.start), _moment(data, push.end)
    if notice.revoked:
        notice.action = "deauthorize"
    return notice
