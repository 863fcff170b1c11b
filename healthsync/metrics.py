"""Prometheus metrics (prometheus-client) and the ``/metrics`` view.

The core calls the small ``record_*``/``*_seen`` helpers below (one line at each site), so instrumentation never
spreads through the sync code. Every helper swallows its own errors: a metric must never break a sync.

Counters and histograms live in the process that does the work. With several processes (Celery workers,
gunicorn), set ``PROMETHEUS_MULTIPROC_DIR`` before start-up and the view aggregates every process's files.
Connection gauges are read from the database at scrape time, so they are right whichever process answers.

Labels are partner slugs, outcomes and HTTP statuses: never user ids, tokens or anything personal.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

SYNCS = Counter("healthsync_syncs", "Sync runs finished, by partner, outcome and trigger",
                ["provider", "outcome", "trigger"])
SYNC_SECONDS = Histogram("healthsync_sync_duration_seconds", "Wall time of a sync run", ["provider"],
                         buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
PARTNER_REQUESTS = Counter("healthsync_partner_requests", "HTTP requests sent to partners, by answer status",
                           ["provider", "status"])
PARTNER_SECONDS = Histogram("healthsync_partner_request_duration_seconds", "Partner response time", ["provider"],
                            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20))
RECORDS = Counter("healthsync_records_upserted", "Records written by syncs: new, changed or deleted",
                  ["provider", "result"])
LOCK_CONTENTION = Counter("healthsync_lock_contention", "Sync attempts refused because another worker held the "
                          "connection's lease", ["where"])
WEBHOOKS = Counter("healthsync_webhook_deliveries", "Webhook notifications received, by partner and outcome",
                   ["provider", "outcome"])
SCHEDULER_LAG = Histogram("healthsync_scheduler_lag_seconds", "How late a due connection was when a tick claimed it",
                          buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200))
SCHEDULER_CLAIMED = Counter("healthsync_scheduler_claimed", "Due connections claimed by scheduler ticks")


def _safe(fn):  # noqa: ANN001, ANN202
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # pragma: no cover - metrics must never break the caller
            log.debug("metrics: %s failed", fn.__name__, exc_info=True)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


# --- the helpers the core calls ---------------------------------------------------------------------------------


@_safe
def record_sync(provider: str, run: Any) -> None:
    """A sync run finished (any outcome): count it, time it, and count the records it wrote."""
    SYNCS.labels(provider, run.outcome, run.trigger).inc()
    if run.finished_at and run.started_at:
        SYNC_SECONDS.labels(provider).observe(max((run.finished_at - run.started_at).total_seconds(), 0.0))
    for result, value in (("new", run.records_new), ("changed", run.records_changed),
                          ("deleted", run.records_deleted)):
        if value:
            RECORDS.labels(provider, result).inc(value)


@_safe
def record_partner_request(provider: str, response: Any = None) -> None:
    """One request sent to a partner; ``response`` None means a transport error (timeout, refused)."""
    if response is None:
        PARTNER_REQUESTS.labels(provider, "error").inc()
        return
    PARTNER_REQUESTS.labels(provider, str(response.status_code)).inc()
    elapsed = getattr(response, "elapsed", None)
    if elapsed is not None:
        PARTNER_SECONDS.labels(provider).observe(elapsed.total_seconds())


@_safe
def lock_contended(where: str = "sync") -> None:
    LOCK_CONTENTION.labels(where).inc()


@_safe
def webhook_delivered(provider: str, outcome: str = "accepted") -> None:
    """For the webhooks module: accepted, duplicate, rejected (bad signature), unknown_user, …"""
    WEBHOOKS.labels(provider, outcome).inc()


@_safe
def webhook_batch(provider: str, outcomes: dict[str, int]) -> None:
    """One delivery's notifications by outcome (stored, duplicate, unknown, ignored, revoked)."""
    for outcome, count in outcomes.items():
        if count:
            WEBHOOKS.labels(provider, outcome).inc(count)


@_safe
def scheduler_claimed(connections: Iterable[Any], now: Any) -> None:
    """A tick claimed these connections at ``now``; how overdue each was is the scheduler's lag."""
    for connection in connections:
        SCHEDULER_CLAIMED.inc()
        due = getattr(connection, "next_sync_at", None)
        if due is not None:
            SCHEDULER_LAG.observe(max((now - due).total_seconds(), 0.0))


# --- scrape-time gauges from the database -----------------------------------------------------------------------


class ConnectionCollector:
    """``healthsync_connections{provider,status}``: read at scrape time, so every process answers the same."""

    def collect(self):  # noqa: ANN201
        from django.db.models import Count

        from healthsync.models import Connection

        family = GaugeMetricFamily("healthsync_connections", "Connections by partner and status",
                                   labels=["provider", "status"])
        try:
            rows = Connection.objects.values("provider", "status").annotate(n=Count("id"))
            for row in rows:
                family.add_metric([row["provider"], row["status"]], row["n"])
        except Exception:  # pragma: no cover - the database may be down; the process metrics still answer
            log.warning("metrics: could not count connections", exc_info=True)
        yield family


def registry() -> CollectorRegistry:
    """The registry to expose: this process's (or every process's, in multiprocess mode) plus the DB gauges."""
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
    else:
        combined = CollectorRegistry()
        combined.register(_Delegate(REGISTRY))
    combined.register(ConnectionCollector())
    return combined


class _Delegate:
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self):  # noqa: ANN201
        return self.source.collect()


# --- the view ---------------------------------------------------------------------------------------------------


def allowed(request: HttpRequest) -> bool:
    """Who may scrape: a bearer token equal to ``HEALTHSYNC["METRICS_TOKEN"]``, a staff user, or, with no token
    configured, loopback callers when ``DEBUG`` is on (the demo) or ``HEALTHSYNC["METRICS_LOOPBACK"]`` is True.
    Behind a reverse proxy every request comes from loopback: configure a token there."""
    options = getattr(settings, "HEALTHSYNC", {})
    token = options.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), str(token).encode()):
        return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    loopback = request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")
    return not token and loopback and bool(settings.DEBUG or options.get("METRICS_LOOPBACK"))


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition. Include as ``path("metrics", metrics_view)``."""
    if not allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
