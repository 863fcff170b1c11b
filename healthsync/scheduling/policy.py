"""When a connection is polled next, and whether a client's "sync now" may run. Chosen by setting.

``settings.HEALTHSYNC["POLICY"]`` is a dotted path to one of:

- ``healthsync.scheduling.policy.FixedIntervalPolicy``: each partner's ``sync_every`` (the original behaviour);
- ``healthsync.scheduling.policy.GroupsPolicy``: the 2013 thesis' groups of similar update frequency;
- ``healthsync.scheduling.policy.NutchPolicy``: Nutch-style multiplicative adaptation (a baseline);
- ``healthsync.scheduling.policy.AdaptivePolicy``: per-connection rate learning with budgeted √-allocation.

The Django-facing classes here are thin adapters: they load a connection's ``PollingState`` row and its
partner's ``PartnerPolicyState`` row into the pure cores of ``healthsync.scheduling.core`` (the very classes
the benchmark simulates), call them with the wall clock, and save what changed.

Tuning lives in ``settings.HEALTHSYNC["POLLING"]`` (all optional): ``min_seconds`` (300), ``max_seconds``
(86400), ``budget_per_connection_day`` (6: speculative polls a connection-day may cost on average, at most),
``utilisation`` (0.9 of each partner's app-wide limits), ``groups`` (4), ``group_factor`` (0.5),
``control_seconds`` (300); per partner, ``HEALTHSYNC["PROVIDERS"][slug]`` may set ``sync_every_seconds``,
``poll_min_seconds``, ``poll_max_seconds`` and ``webhooks`` (true when push notifications are set up).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from healthsync import conf
from healthsync.http.budget import parse_windows
from healthsync.models import Connection, PartnerPolicyState, PollingState, SyncRun
from healthsync.providers import get_provider
from healthsync.scheduling import core as cores
from healthsync.webhooks.conf import enabled as push_enabled

MAX_BACKOFF = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    next_allowed_at: dt.datetime | None = None
    reason: str = ""


def polling_settings() -> dict[str, Any]:
    return {
        "min_seconds": 300.0,
        "max_seconds": 86400.0,
        "budget_per_connection_day": 6.0,
        "utilisation": 0.9,
        "groups": 4,
        "group_factor": 0.5,
        "control_seconds": 300.0,
        **getattr(settings, "HEALTHSYNC", {}).get("POLLING", {}),
    }


def _limits(texts: tuple[str, ...]) -> tuple[tuple[int, float], ...]:
    return tuple((window.limit, float(window.seconds)) for window in parse_windows(texts))


def partner_spec(slug: str) -> cores.PartnerSpec:
    """A provider's facts as the policy core needs them (limits from the provider class, settings override)."""
    provider = get_provider(slug)
    overrides = conf.provider_settings(slug)
    options = polling_settings()
    interval = overrides.get("sync_every_seconds", provider.sync_every.total_seconds())
    return cores.PartnerSpec(
        slug,
        app_limits=_limits(provider.app_limits),
        user_limits=_limits(provider.user_limits),
        push=push_enabled(slug),  # the core learns push's miss rate from webhook-announced vs polled data
        complete=False,  # a sync run tells us "new data or not"; exact upload times are not recorded yet
        interval=float(interval),
        min_interval=float(overrides.get("poll_min_seconds", options["min_seconds"])),
        max_interval=float(overrides.get("poll_max_seconds", options["max_seconds"])),
        utilisation=float(options["utilisation"]),
    )


def _ts(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment else math.nan


def _dt(ts: float) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC) if ts == ts and math.isfinite(ts) and ts > 0 else None


def _tz_hours(connection: Connection, now: dt.datetime) -> float:
    try:
        from zoneinfo import ZoneInfo

        offset = now.astimezone(ZoneInfo(connection.timezone or "UTC")).utcoffset()
        return offset.total_seconds() / 3600.0 if offset else 0.0
    except Exception:  # an unknown zone name: plan in UTC
        return 0.0


class FixedIntervalPolicy:
    """Each partner's ``sync_every`` (or ``PROVIDERS[slug]["sync_every_seconds"]``), doubled per consecutive failure."""

    def interval(self, connection: Connection) -> dt.timedelta:
        overrides = conf.provider_settings(connection.provider)
        if "sync_every_seconds" in overrides:
            return dt.timedelta(seconds=overrides["sync_every_seconds"])
        return get_provider(connection.provider).sync_every

    def next_sync_at(self, connection: Connection, run: SyncRun, failures: int) -> dt.datetime:
        now = timezone.now()
        wait = self.interval(connection)
        if failures:
            wait = min(wait * 2 ** min(failures, 10), MAX_BACKOFF)
        wait *= random.uniform(0.9, 1.1)  # spread connections that were due together
        due = now + wait
        retry_at = run.details.get("retry_at")
        if retry_at:
            due = max(due, dt.datetime.fromisoformat(retry_at))
        return due

    def client_sync(self, connection: Connection) -> Decision:
        if connection.status == Connection.Status.REVOKED:
            return Decision(False, None, "the connection needs the user to reconnect")
        if connection.last_sync_at:
            earliest = connection.last_sync_at + dt.timedelta(seconds=conf.get("CLIENT_SYNC_MIN_SECONDS"))
            if earliest > timezone.now():
                return Decision(False, earliest, "synced moments ago")
        return Decision(True)

    def control(self, provider: str, now: dt.datetime | None = None) -> None:
        """Nothing partner-wide to learn."""


class CorePolicy(FixedIntervalPolicy):
    """Adapter from Django rows to a pure policy core, one connection (or one partner) at a time."""

    core_class: ClassVar[type[cores.Core]] = cores.Core
    name: ClassVar[str] = "core"

    def core_options(self) -> dict[str, Any]:
        return {}

    def build(self, provider: str) -> cores.Core:
        core = self.core_class([partner_spec(provider)], **self.core_options())
        core.client_min_gap = float(conf.get("CLIENT_SYNC_MIN_SECONDS"))
        return core

    # -- rows <-> state ------------------------------------------------------------------------------------------------
    def _shared_row(self, provider: str) -> PartnerPolicyState | None:
        return PartnerPolicyState.objects.filter(provider=provider, policy=self.name).first()

    def load(self, core: cores.Core, connections: list[Connection], rows: dict[int, PollingState],
             now: dt.datetime) -> cores.State:
        st = core.new_state(len(connections), np.zeros(len(connections), dtype=np.int16),
                            np.array([_tz_hours(c, now) for c in connections]))
        for i, c in enumerate(connections):
            row = rows.get(c.pk)
            last_sync = _ts(c.last_sync_at)
            if row is None:
                st.last_poll[i] = last_sync
                continue
            st.A[i], st.B[i] = row.events, row.exposure_days
            st.Af[i], st.Bf[i] = row.fast_events, row.fast_exposure_days
            st.polls[i], st.hits[i] = row.polls, row.hits
            st.last_poll[i] = np.nanmax([_ts(row.last_poll_at), last_sync]) if row.last_poll_at or c.last_sync_at \
                else math.nan
            st.last_hit[i] = _ts(row.last_data_at)
            st.rate[i] = row.rate if row.rate is not None else math.nan
            st.poll_rate[i] = row.poll_rate if row.poll_rate is not None else math.nan
            if row.interval_seconds:
                st.interval[i] = row.interval_seconds
            st.group[i] = -1 if row.group is None else row.group
            st.backoff_until[i] = _ts(row.backoff_until) if row.backoff_until else 0.0
        return st

    def row_fields(self, st: cores.State, i: int) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if x != x or not math.isfinite(x) else float(x)

        return {
            "policy": self.name,
            "rate": num(st.rate[i]),
            "poll_rate": num(st.poll_rate[i]),
            "interval_seconds": num(st.interval[i]),
            "group": None if st.group[i] < 0 else int(st.group[i]),
            "priority": num(st.rate[i]) or 0.0,
            "events": float(st.A[i]),
            "exposure_days": float(st.B[i]),
            "fast_events": float(st.Af[i]),
            "fast_exposure_days": float(st.Bf[i]),
            "polls": int(st.polls[i]),
            "hits": int(st.hits[i]),
            "last_poll_at": _dt(st.last_poll[i]),
            "last_data_at": _dt(st.last_hit[i]),
            "backoff_until": _dt(st.backoff_until[i]),
        }

    def load_shared(self, core: cores.Core, provider: str) -> None:
        row = self._shared_row(provider)
        if row:
            core.shared.load_json(0, row.shared)
            core.shared.last_control = row.shared.get("last_control") or -math.inf
            core.shared.last_recluster = row.shared.get("last_recluster") or -math.inf

    # -- the policy API the engine, the tick and the API call ------------------------------------------------------
    def next_sync_at(self, connection: Connection, run: SyncRun, failures: int) -> dt.datetime:
        now = timezone.now()
        core = self.build(connection.provider)
        self.load_shared(core, connection.provider)
        row = PollingState.objects.filter(pk=connection.pk).first()
        st = self.load(core, [connection], {connection.pk: row} if row else {}, now)
        retry_at = run.details.get("retry_at")
        retry = np.array([_ts(dt.datetime.fromisoformat(retry_at)) if retry_at else math.nan])
        found = 1.0 if run.found_new_data else 0.0
        failed = np.array([bool(failures) or run.outcome == SyncRun.Outcome.FAILED])
        announced = np.array([found if run.trigger == SyncRun.Trigger.WEBHOOK else 0.0])
        due = core.observe(st, np.array([0]), now.timestamp(), np.array([found]), announced=announced,
                           failed=failed if failed.any() else None, retry_at=retry if retry_at else None)[0]
        if failures:  # consecutive failures back off further, as the fixed policy does
            due = max(due, now.timestamp() + min(60.0 * 2 ** min(failures, 10), MAX_BACKOFF.total_seconds()))
        PollingState.objects.update_or_create(
            connection=connection, defaults={"provider": connection.provider, **self.row_fields(st, 0)}
        )
        return _dt(due) or now + MAX_BACKOFF

    def client_sync(self, connection: Connection) -> Decision:
        """Allow or refuse fast, writing nothing: one read of the state row."""
        if connection.status == Connection.Status.REVOKED:
            return Decision(False, None, "the connection needs the user to reconnect")
        now = timezone.now()
        core = self.build(connection.provider)
        row = PollingState.objects.filter(pk=connection.pk).first()
        if row is None:
            return super().client_sync(connection)
        st = self.load(core, [connection], {connection.pk: row}, now)
        allowed, nxt = core.client_sync(st, np.array([0]), now.timestamp())
        if allowed[0]:
            return Decision(True)
        return Decision(False, _dt(float(nxt[0])), "no new data is likely yet")

    def control(self, provider: str, now: dt.datetime | None = None) -> None:
        """The partner-wide step: re-cluster (groups) or re-solve the shadow price (adaptive), then save."""
        now = now or timezone.now()
        core = self.build(provider)
        self.load_shared(core, provider)
        pollable = Connection.objects.filter(provider=provider).exclude(status=Connection.Status.REVOKED)
        rows = {r.pk: r for r in PollingState.objects.filter(provider=provider, connection__in=pollable)}
        connections = list(pollable.filter(pk__in=list(rows)).only("id", "timezone", "last_sync_at", "provider"))
        st = self.load(core, connections, rows, now)
        self.learn_shape(core, provider, now)
        core.control(st, now.timestamp())
        shared = {**core.shared.to_json(0), "last_control": core.shared.last_control,
                  "last_recluster": core.shared.last_recluster}
        shared = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in shared.items()}
        with transaction.atomic():
            PartnerPolicyState.objects.update_or_create(
                provider=provider, policy=self.name, defaults={"shared": shared, "controlled_at": now}
            )


    def learn_shape(self, core: cores.Core, provider: str, now: dt.datetime) -> None:
        """Rebuild the partner's hour-of-week histogram from the last four weeks of syncs that found data."""
        runs = (SyncRun.objects.filter(connection__provider=provider, started_at__gte=now - dt.timedelta(days=28))
                .exclude(records_new=0).values_list("started_at", "connection__timezone")[:50_000])
        hist = np.zeros(cores.WEEK_HOURS)
        for started, zone in runs:
            c = Connection(timezone=zone)
            h = cores.local_hours(np.array([started.timestamp()]), np.array([_tz_hours(c, started)]))[0]
            hist[int(h % cores.WEEK_HOURS)] += 1
        core.shared.hist[0] = hist


class AdaptivePolicy(CorePolicy):
    core_class = cores.AdaptiveCore
    name = "adaptive"

    def core_options(self) -> dict[str, Any]:
        options = polling_settings()
        return {"budget": float(options["budget_per_connection_day"]),
                "control_every": float(options["control_seconds"])}


class GroupsPolicy(CorePolicy):
    core_class = cores.GroupsCore
    name = "groups"

    def core_options(self) -> dict[str, Any]:
        options = polling_settings()
        return {"k": int(options["groups"]), "factor": float(options["group_factor"]),
                "recluster_every": float(options["control_seconds"])}


class NutchPolicy(CorePolicy):
    core_class = cores.NutchCore
    name = "nutch"


def current() -> FixedIntervalPolicy:
    return import_string(conf.get("POLICY"))()


def next_sync_at(connection: Connection, run: SyncRun, failures: int) -> dt.datetime:
    return current().next_sync_at(connection, run, failures)
