"""Subscription lifecycle at partners: create, check, renew, remove. Three styles, declared by providers:

- ``AppSubscription`` (Strava): one per app; the partner calls our callback (handshake) while we create it.
- ``TypedSubscriptions`` (Oura): app-wide per (data type, event type); they expire, ``renew_due`` renews them.
- ``UserSubscriptions`` (Withings): per connected user and category, on connect (``connection_created``) and
  revoked on disconnect; the partner sends ``HEAD`` to our callback before it registers one.

Every subscription we hold is a ``WebhookSubscription`` row. Nothing here runs in a sync.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import httpx
from django.utils import timezone

from healthsync.http.errors import PartnerError
from healthsync.models import Connection, WebhookSubscription
from healthsync.providers import Provider, get_provider
from healthsync.providers.declarations import AppSubscription, TypedSubscriptions, UserSubscriptions, Webhook
from healthsync.sync.engine import granted
from healthsync.sync.session import PartnerSession
from healthsync.webhooks import conf, push_of

log = logging.getLogger(__name__)
Active = WebhookSubscription.Status.ACTIVE


class SubscriptionError(Exception):
    """The partner refused or could not be reached; the message says why."""


def _push(slug: str) -> tuple[Provider, Webhook]:
    provider = get_provider(slug)
    push = push_of(provider)
    if push is None:
        raise SubscriptionError(f"{slug} declares no push")
    if not conf.enabled(slug):
        raise SubscriptionError(f"push is off for {slug}: set HEALTHSYNC['WEBHOOKS']['BASE_URL']")
    return provider, push


def _http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = httpx.request(method, url, timeout=float(conf.get("HTTP_TIMEOUT_SECONDS")), **kwargs)
    except httpx.HTTPError as exc:
        raise SubscriptionError(f"{method} {url}: {exc}") from exc
    if response.status_code >= 400:
        raise SubscriptionError(f"{method} {url}: HTTP {response.status_code} {response.text[:300]}")
    return response


def _record(slug: str, connection: Connection | None, kind: str, **fields: Any) -> WebhookSubscription:
    sub, _ = WebhookSubscription.objects.update_or_create(
        provider=slug, connection=connection, kind=kind, defaults={"callback_url": conf.callback_url(slug), **fields}
    )
    return sub


def _expiry(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- app-wide, one per app (Strava) --------------------------------------------------------------------------------


def _app_credentials(provider: Provider) -> dict[str, str]:
    creds = provider.settings()
    return {"client_id": creds.get("client_id", ""), "client_secret": creds.get("client_secret", "")}


def _app_listing(provider: Provider, style: AppSubscription) -> list[dict]:
    return _http("GET", provider.url(style.url), params=_app_credentials(provider)).json()


def _ensure_app(provider: Provider, style: AppSubscription) -> list[WebhookSubscription]:
    callback, f = conf.callback_url(provider.slug), style.fields
    existing = _app_listing(provider, style)
    mine = [s for s in existing if s.get(f["callback"]) == callback]
    for other in existing:  # the partner allows one: a subscription to another callback is ours from before
        if other not in mine:
            _http("DELETE", f"{provider.url(style.url)}/{other[f['id']]}", params=_app_credentials(provider))
    if not mine:
        data = {**_app_credentials(provider), f["callback"]: callback, f["token"]: conf.verify_token(provider.slug)}
        mine = [_http("POST", provider.url(style.url), data=data).json()]
    return [_record(provider.slug, None, "", partner_id=str(mine[0][f["id"]]), status=Active, last_error="")]


def _remove_app(provider: Provider, style: AppSubscription) -> int:
    removed = 0
    for sub in WebhookSubscription.objects.filter(provider=provider.slug, connection=None, status=Active):
        _http("DELETE", f"{provider.url(style.url)}/{sub.partner_id}", params=_app_credentials(provider))
        sub.status = WebhookSubscription.Status.REMOVED
        sub.save(update_fields=["status"])
        removed += 1
    return removed


# --- app-wide, per data type and event type, expiring (Oura) -------------------------------------------------------


def _typed_headers(provider: Provider, style: TypedSubscriptions) -> dict[str, str]:
    creds = _app_credentials(provider)
    return {style.id_header: creds["client_id"], style.secret_header: creds["client_secret"]}


def _ensure_typed(provider: Provider, push: Webhook, style: TypedSubscriptions) -> list[WebhookSubscription]:
    headers, url, callback = _typed_headers(provider, style), provider.url(style.url), conf.callback_url(provider.slug)
    existing = {
        (s["data_type"], s["event_type"]): s
        for s in _http("GET", url, headers=headers).json()
        if s.get("callback_url") == callback
    }
    subs = []
    for data_type in push.kinds:
        for event_type in style.event_types:
            found = existing.get((data_type, event_type))
            if found is None:
                body = {"callback_url": callback, "verification_token": conf.verify_token(provider.slug),
                        "event_type": event_type, "data_type": data_type}
                found = _http("POST", url, headers=headers, json=body).json()
            subs.append(
                _record(provider.slug, None, f"{data_type}:{event_type}", partner_id=found["id"], status=Active,
                        expires_at=_expiry(found.get(style.expires)), last_error="")
            )
    return subs


def _renew_typed(provider: Provider, style: TypedSubscriptions, sub: WebhookSubscription) -> None:
    url = f"{provider.url(style.url)}/{style.renew.format(id=sub.partner_id)}"
    answer = _http("PUT", url, headers=_typed_headers(provider, style)).json()
    sub.expires_at, sub.renewed_at, sub.last_error = _expiry(answer.get(style.expires)), timezone.now(), ""
    sub.save(update_fields=["expires_at", "renewed_at", "last_error"])


def _remove_typed(provider: Provider, style: TypedSubscriptions) -> int:
    removed = 0
    for sub in WebhookSubscription.objects.filter(provider=provider.slug, connection=None, status=Active):
        _http("DELETE", f"{provider.url(style.url)}/{sub.partner_id}", headers=_typed_headers(provider, style))
        sub.status = WebhookSubscription.Status.REMOVED
        sub.save(update_fields=["status"])
        removed += 1
    return removed


# --- per user and category (Withings) ------------------------------------------------------------------------------


def categories(provider: Provider, push: Webhook, connection: Connection) -> list[str]:
    """The notification categories whose endpoints the user granted."""
    names = {e.name for e in provider.endpoints() if granted(e, connection)}
    return [kind for kind, endpoints in push.kinds.items() if names.intersection(endpoints)]


def subscribe_user(connection: Connection) -> list[WebhookSubscription]:
    """Subscribe one connection to every category it needs; a refusal is recorded on the row, not raised."""
    provider, push = _push(connection.provider)
    style = push.subscribe
    assert isinstance(style, UserSubscriptions)
    session, callback, subs = PartnerSession(provider, connection), conf.callback_url(provider.slug), []
    for category in categories(provider, push, connection):
        try:
            session.call(style.path, {**style.subscribe, style.callback: callback, style.category: category}, "POST")
            subs.append(_record(provider.slug, connection, category, status=Active, last_error=""))
        except (PartnerError, OSError) as exc:
            log.warning("%s notify subscription for connection %s failed: %s", provider.slug, connection.pk, exc)
            subs.append(_record(provider.slug, connection, category, status=WebhookSubscription.Status.FAILED,
                                last_error=str(exc)[:2000]))
    return subs


def unsubscribe_user(connection: Connection) -> int:
    """Revoke a connection's subscriptions at the partner (best effort) and mark them removed."""
    provider = get_provider(connection.provider)
    push = push_of(provider)
    if push is None or not isinstance(push.subscribe, UserSubscriptions):
        return 0
    style, session, removed = push.subscribe, PartnerSession(provider, connection), 0
    for sub in WebhookSubscription.objects.filter(connection=connection, status=Active):
        try:
            params = {**style.revoke, style.callback: sub.callback_url, style.category: sub.kind}
            session.call(style.path, params, "POST")
        except (PartnerError, OSError) as exc:
            log.warning("%s notify revoke for connection %s failed: %s", provider.slug, connection.pk, exc)
        sub.status = WebhookSubscription.Status.REMOVED
        sub.save(update_fields=["status"])
        removed += 1
    return removed


def _user_listing(provider: Provider, style: UserSubscriptions, connection: Connection) -> set[str]:
    answer = PartnerSession(provider, connection).call(style.path, dict(style.listing), "POST")
    callback = conf.callback_url(provider.slug)
    return {str(p.get(style.category)) for p in answer.get(style.profiles, []) if p.get(style.callback) == callback}


# --- the lifecycle, whatever the style -----------------------------------------------------------------------------


def ensure(slug: str) -> list[WebhookSubscription]:
    """Create what is missing at the partner (per-user style: for every active connection)."""
    provider, push = _push(slug)
    style = push.subscribe
    if isinstance(style, AppSubscription):
        return _ensure_app(provider, style)
    if isinstance(style, TypedSubscriptions):
        return _ensure_typed(provider, push, style)
    return [s for c in Connection.objects.filter(provider=slug, status="active") for s in subscribe_user(c)]


def check(slug: str) -> list[str]:
    """Compare the partner's listing with ours, recreate what is missing; returns one line per finding."""
    provider, push = _push(slug)
    style, lines = push.subscribe, []
    if isinstance(style, UserSubscriptions):
        for connection in Connection.objects.filter(provider=slug, status="active"):
            try:
                held = _user_listing(provider, style, connection)
            except (PartnerError, OSError) as exc:
                lines.append(f"{slug} connection {connection.pk}: listing failed: {exc}")
                continue
            missing = sorted(set(categories(provider, push, connection)) - held)
            if missing:
                lines.append(f"{slug} connection {connection.pk}: missing {missing}, subscribing")
                subscribe_user(connection)
        return lines or [f"{slug}: every connection is subscribed"]
    held = WebhookSubscription.objects.filter(provider=slug, connection=None, status=Active)
    before = set(held.values_list("kind", "partner_id"))
    subs = ensure(slug)
    changed = {(s.kind, s.partner_id) for s in subs} - before
    lines += [f"{slug}: (re)created {kind or 'app'} subscription {pid}" for kind, pid in sorted(changed)]
    return lines or [f"{slug}: {len(subs)} subscription(s) in place"]


def renew_due(now: dt.datetime | None = None) -> list[WebhookSubscription]:
    """Renew every expiring subscription within ``RENEW_BEFORE_SECONDS`` of its expiry (a scheduled job)."""
    horizon = (now or timezone.now()) + dt.timedelta(seconds=float(conf.get("RENEW_BEFORE_SECONDS")))
    renewed = []
    for sub in WebhookSubscription.objects.filter(status=Active, expires_at__lte=horizon):
        provider = get_provider(sub.provider)
        push = push_of(provider)
        if push is None or not isinstance(push.subscribe, TypedSubscriptions):
            continue
        try:
            _renew_typed(provider, push.subscribe, sub)
            renewed.append(sub)
        except SubscriptionError as exc:
            sub.last_error = str(exc)[:2000]
            sub.save(update_fields=["last_error"])
            log.warning("renewing %s failed: %s", sub, exc)
    return renewed


def remove(slug: str) -> int:
    provider, push = _push(slug)
    style = push.subscribe
    if isinstance(style, AppSubscription):
        return _remove_app(provider, style)
    if isinstance(style, TypedSubscriptions):
        return _remove_typed(provider, style)
    return sum(unsubscribe_user(c) for c in Connection.objects.filter(provider=slug))


def maintain() -> dict[str, list[str]]:
    """The periodic job: renew what expires soon, then check every push provider. Safe to run often."""
    from healthsync.providers import enabled_providers

    report: dict[str, list[str]] = {"renewed": [str(s) for s in renew_due()]}
    for cls in enabled_providers():
        if conf.enabled(cls.slug):
            try:
                report[cls.slug] = check(cls.slug)
            except SubscriptionError as exc:
                report[cls.slug] = [f"failed: {exc}"]
    return report
