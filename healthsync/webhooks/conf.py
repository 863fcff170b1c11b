"""Push settings: ``settings.HEALTHSYNC["WEBHOOKS"]``, a dict read through ``get`` with these defaults.

Push is on for a provider when it declares ``push``, ``BASE_URL`` is set (partners must reach us) and its
``PROVIDERS[slug]["push"]`` is not False.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.urls import reverse

DEFAULTS: dict[str, Any] = {
    "BASE_URL": None,  # e.g. "https://app.example.com": the origin partners call; the path is added
    "DEBOUNCE_SECONDS": 30.0,  # a notification makes its connection due this long after; a burst syncs once
    "MAX_BODY_BYTES": 64 * 1024,  # a larger notification is refused with 413 before it is read
    "TOLERANCE_SECONDS": 300,  # a signed notification whose timestamp is further from now is a replay
    "RECONCILE_SECONDS": 6 * 3600,  # the fixed poll interval of a connection whose push is healthy
    "RENEW_BEFORE_SECONDS": 7 * 86400,  # renew an expiring subscription this long before it expires
    "VERIFY_TOKENS": {},  # slug -> the token partners echo in the handshake; default: derived from SECRET_KEY
    "HTTP_TIMEOUT_SECONDS": 15.0,  # subscription calls (the partner calls us back during them)
}


def get(name: str) -> Any:
    return getattr(settings, "HEALTHSYNC", {}).get("WEBHOOKS", {}).get(name, DEFAULTS[name])


def enabled(slug: str) -> bool:
    from healthsync.providers import get_provider_class
    from healthsync.webhooks import push_of

    try:
        provider = get_provider_class(slug)
    except LookupError:
        return False
    options = getattr(settings, "HEALTHSYNC", {}).get("PROVIDERS", {}).get(slug, {})
    return bool(push_of(provider) and get("BASE_URL") and options.get("push", True))


def callback_url(slug: str) -> str:
    return get("BASE_URL").rstrip("/") + reverse("healthsync:webhook", args=[slug])


def verify_token(slug: str) -> str:
    configured = get("VERIFY_TOKENS").get(slug)
    if configured:
        return configured
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"healthsync-webhook:{slug}".encode(), hashlib.sha256).hexdigest()[:32]
