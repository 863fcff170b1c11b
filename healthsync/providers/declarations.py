"""The vocabulary a provider module is written in: plain values that describe a partner's API.

A provider states facts (URLs, quirks, endpoints, paging); the platform turns them into behaviour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Json = Any
Params = dict[str, Any]


def dig(data: Json, path: str | None) -> Json:
    """Follow a dotted path ("athlete.id", "body.measuregrps") into parsed JSON; None means the whole thing."""
    if not path:
        return data
    for part in path.split("."):
        data = data[part]
    return data


# --- authorization -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuth2:
    """An OAuth 2.0 authorization-code grant, with the quirks partners are known for as named knobs."""

    authorize_url: str
    token_url: str
    scopes: Sequence[str]
    scope_sep: str = " "
    client_auth: Literal["post", "basic"] = "post"  # client credentials in the form body or a Basic header
    pkce: bool = False
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    token_params: Mapping[str, str] = field(default_factory=dict)  # extra form fields on every token request
    token_root: str | None = None  # the token sits under this key of the response (Withings: "body")
    revoke_url: str | None = None  # where the base posts the access token to revoke it


@dataclass(frozen=True)
class FromToken:
    """The partner's user id is a field of the token response."""

    path: str


@dataclass(frozen=True)
class FromEndpoint:
    """The partner's user id comes from a profile endpoint, fetched once at connect time."""

    path: str
    field: str = "id"


@dataclass(frozen=True)
class Envelope:
    """An RPC-style API that answers HTTP 200 with a status code inside the body (Withings)."""

    status: str = "status"
    ok: int = 0
    data: str | None = "body"
    rate_limited: frozenset[int] = frozenset()
    auth_failed: frozenset[int] = frozenset()


# --- paging --------------------------------------------------------------------------------------------------------


class Paging:
    """How to ask for the next page; ``next_params`` returns None after the last page."""

    def first_params(self) -> Params:
        return {}

    def next_params(self, params: Params, data: Json, items: list) -> Params | None:
        return None


@dataclass(frozen=True)
class PageNumber(Paging):
    """page=1,2,3… until a page comes back shorter than the page size (Strava)."""

    param: str = "page"
    size_param: str = "per_page"
    size: int = 100

    def first_params(self) -> Params:
        return {self.param: 1, self.size_param: self.size}

    def next_params(self, params: Params, data: Json, items: list) -> Params | None:
        return {**params, self.param: params[self.param] + 1} if len(items) >= self.size else None


@dataclass(frozen=True)
class NextToken(Paging):
    """A cursor the partner hands back, passed again as a query parameter (Oura, WHOOP, Google)."""

    param: str = "next_token"
    field: str = "next_token"

    def next_params(self, params: Params, data: Json, items: list) -> Params | None:
        token = dig(data, self.field)
        return {**params, self.param: token} if token else None


@dataclass(frozen=True)
class OffsetMore(Paging):
    """``more`` flag plus an ``offset`` to send back (Withings)."""

    param: str = "offset"
    more: str = "more"
    offset: str = "offset"

    def next_params(self, params: Params, data: Json, items: list) -> Params | None:
        return {**params, self.param: data[self.offset]} if data.get(self.more) else None


# --- incremental windows -------------------------------------------------------------------------------------------

TimeFormat = Literal["epoch", "date", "iso"]


def format_time(moment: dt.datetime, fmt: TimeFormat) -> str | int:
    if fmt == "epoch":
        return int(moment.timestamp())
    if fmt == "date":
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Since:
    """Ask only for data after the stored cursor minus ``lookback``.

    ``start``/``end`` name the request parameters (``end`` optional). ``by`` says what the partner filters on:
    "time" (the record's own time, so the answer is complete for the window and a record missing from it
    was deleted) or "modified" (a modified-since filter: absence says nothing).
    """

    start: str
    end: str | None = None
    fmt: TimeFormat = "epoch"
    lookback: dt.timedelta = dt.timedelta(0)
    by: Literal["time", "modified"] = "time"
    end_pad: dt.timedelta = dt.timedelta(0)  # date windows whose end is exclusive need a day more

    def params(self, window_start: dt.datetime, now: dt.datetime) -> Params:
        params: Params = {self.start: format_time(window_start, self.fmt)}
        if self.end:
            params[self.end] = format_time(now + self.end_pad, self.fmt)
        return params


# --- endpoints -----------------------------------------------------------------------------------------------------

Mapper = Callable[[Json], Iterable[Any] | Any]


@dataclass
class Endpoint:
    """One data feed of the partner: where it is, how it pages, how it is windowed, where records sit."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    records: str | None = None  # dotted path of the record list in the (unwrapped) response
    page: Paging = field(default_factory=Paging)
    since: Since | None = None
    scope: str | None = None  # the scope this feed needs; skipped when the user did not grant it
    method: Literal["GET", "POST"] = "GET"
    name: str = ""
    mapper: Mapper | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def maps(self, fn: Mapper) -> staticmethod:
        """Decorator: a pure function from one raw partner record to zero or more normalized records."""
        self.mapper = fn
        return staticmethod(fn)


# --- push (webhooks) -----------------------------------------------------------------------------------------------
# The defaults of each subscription style are the values of the partner that made the style common.


@dataclass(frozen=True)
class Challenge:
    """The partner checks our callback with ``GET ?<token>=…&<challenge>=…``; we echo the challenge as JSON
    ``{<answer or challenge>: challenge}`` when the token is ours (Strava's ``hub.*``, Oura)."""

    token: str
    challenge: str
    answer: str = ""


@dataclass(frozen=True)
class HeadCheck:
    """The partner checks that our callback answers ``HEAD`` with 2xx before registering it (Withings)."""


@dataclass(frozen=True)
class Hmac:
    """``header`` = HMAC-SHA256(client secret, ``timestamp`` header + raw body) in hex (Oura: upper case)."""

    header: str
    timestamp: str
    upper: bool = True


@dataclass(frozen=True)
class AppSubscription:
    """One push subscription for the whole app, at a full URL, managed with the client credentials in the form
    (Strava). Created and checked by ``manage.py healthsync_webhooks``."""

    url: str
    fields: Mapping[str, str] = field(
        default_factory=lambda: {"callback": "callback_url", "token": "verify_token", "id": "id"}
    )


@dataclass(frozen=True)
class UserSubscriptions:
    """One subscription per connected user and notified category, made with the user's token on connect and
    revoked on disconnect (Withings Notify). ``path`` is relative to the provider's ``api``."""

    path: str
    category: str = "appli"
    callback: str = "callbackurl"
    subscribe: Mapping[str, str] = field(default_factory=lambda: {"action": "subscribe", "comment": "healthsync"})
    revoke: Mapping[str, str] = field(default_factory=lambda: {"action": "revoke"})
    listing: Mapping[str, str] = field(default_factory=lambda: {"action": "list"})
    profiles: str = "profiles"  # where the listing answer holds the subscriptions


@dataclass(frozen=True)
class TypedSubscriptions:
    """App-wide subscriptions, one per (notified data type, event type), managed with client-credential headers;
    they expire and are renewed at ``renew`` (Oura)."""

    url: str
    event_types: tuple[str, ...] = ("create", "update", "delete")
    renew: str = "renew/{id}"
    id_header: str = "x-client-id"
    secret_header: str = "x-client-secret"
    expires: str = "expiration_time"


@dataclass(frozen=True)
class Webhook:
    """How a partner pushes: its subscriptions, the callback check, the signature, and where a notification says
    who (``user``), what (``kind``, mapped by ``kinds`` to the endpoints it refreshes), which change (``action``,
    ``object_id``; "delete" deletes that record) and when (``start``/``end``: a window hint in epoch seconds).
    Values are dotted paths into the notification. ``revoked``: field values meaning the user revoked access."""

    subscribe: AppSubscription | UserSubscriptions | TypedSubscriptions
    verify: Challenge | HeadCheck
    user: str
    kinds: Mapping[str, tuple[str, ...]]
    kind: str | None = None
    action: str | None = None
    object_id: str | None = None
    start: str | None = None
    end: str | None = None
    signature: Hmac | None = None
    form: bool = False  # form-encoded notifications (Withings), else JSON
    revoked: Mapping[str, str] = field(default_factory=dict)
    deadline: float = 10.0  # seconds the partner waits for our answer before it retries
