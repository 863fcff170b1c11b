"""One settings dict, ``settings.HEALTHSYNC``, read through these helpers with documented defaults."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "TOKEN_KEYS": [],  # Fernet keys, newest first; older ones still decrypt (rotation)
    "PROVIDERS": {},  # slug -> {"client_id", "client_secret", "origin"?, "enabled"?, "scopes"?}
    "LEASE_SECONDS": 600,  # how long a sync lease lives without renewal
    "LOCK_CACHE": "default",  # the Django cache alias that holds sync leases
    "REFRESH_MARGIN_SECONDS": 300,  # refresh an access token this long before it expires
    "HTTP_TIMEOUT_SECONDS": 20.0,
    "HTTP_RETRIES": 3,  # retries after the first attempt, on timeouts, 5xx and short 429s
    "HTTP_BACKOFF_SECONDS": 0.5,  # first backoff; doubles each retry, with full jitter
    "MAX_WAIT_SECONDS": 10.0,  # the longest a request waits for a budget or Retry-After before giving up
    "RATE_LIMIT_STORAGE": "memory://",  # a `limits` storage URI; redis://… shares budgets across machines
    "BUDGET_CLOCK_SKEW_SECONDS": 1.0,  # an aligned budget window opens this long after the partner's boundary
    "EXECUTOR": "embedded",  # "embedded" (in-process pool) or "celery" (Redis broker, any number of machines)
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CELERY_QUEUE_PREFIX": "healthsync",  # queues <prefix>.webhook, <prefix>.scheduled, <prefix>.backfill
    "TICK_SECONDS": 2.0,  # the Celery tick process claims due connections this often
    "TICK_BATCH": 1000,  # rows one tick claims at most
    "TICK_MAX_QUEUED": 5000,  # claim nothing more while this many sync tasks wait in the queues
    "POLICY": "healthsync.scheduling.policy.AdaptivePolicy",  # or FixedIntervalPolicy, GroupsPolicy, NutchPolicy
    "CLIENT_SYNC_MIN_SECONDS": 60,  # a client's "sync now" is refused if the last sync is younger than this
    "REDIRECT_BASE_URL": None,  # e.g. "https://app.example.com"; default: built from the request
    "AUTHORIZATION_TTL_SECONDS": 600,  # how long an OAuth state stays usable
}


def get(name: str) -> Any:
    return getattr(settings, "HEALTHSYNC", {}).get(name, DEFAULTS[name])


def provider_settings(slug: str) -> dict[str, Any]:
    return get("PROVIDERS").get(slug, {})
