"""The operator view: how connections are doing, what syncs cost the partners and what they find. Staff only.

Everything here is read from the database (connections, sync runs), so any process shows the same numbers,
and the page refreshes itself while open. Time buckets are computed in Python over at most a few thousand
rows per window, which keeps the queries portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from healthsync.dashboard.charts import PALETTE, Series, chart, hbars
from healthsync.http.budget import parse_windows
from healthsync.models import Connection, SyncRun
from healthsync.providers import enabled_providers, get_provider

#: window name -> (length, bucket size)
WINDOWS = {
    "15m": (dt.timedelta(minutes=15), dt.timedelta(seconds=30)),
    "1h": (dt.timedelta(hours=1), dt.timedelta(minutes=2)),
    "24h": (dt.timedelta(hours=24), dt.timedelta(hours=1)),
    "7d": (dt.timedelta(days=7), dt.timedelta(hours=6)),
    "30d": (dt.timedelta(days=30), dt.timedelta(days=1)),
}
OUTCOME_COLORS = {
    "success": "#2a9d63", "partial": "#e0a02d", "failed": "#d64545", "revoked": "#9b4fd1", "lease_lost": "#6b7a8f",
    "running": "#2f6fde",
}
STATUS_COLORS = {"active": "#2a9d63", "error": "#e0a02d", "revoked": "#d64545"}
MAX_RUNS = 20_000  # per window: beyond this the charts sample the newest runs


@dataclass
class Buckets:
    start: dt.datetime
    size: dt.timedelta
    count: int

    def index(self, moment: dt.datetime) -> int | None:
        i = int((moment - self.start) / self.size)
        return i if 0 <= i < self.count else None

    def labels(self) -> list[str]:
        fmt = "%H:%M" if self.size < dt.timedelta(hours=6) else "%d %b %H:%M" if self.size < dt.timedelta(days=1) \
            else "%d %b"
        return [timezone.localtime(self.start + self.size * i).strftime(fmt) for i in range(self.count)]


def window_of(request: HttpRequest) -> tuple[str, Buckets]:
    name = request.GET.get("window", "1h")
    if name not in WINDOWS:
        name = "1h"
    length, size = WINDOWS[name]
    now = timezone.now()
    count = math.ceil(length / size)
    # align to the bucket size so refreshes do not shift every bar
    epoch = now.timestamp()
    end = dt.datetime.fromtimestamp(epoch - epoch % size.total_seconds() + size.total_seconds(), dt.UTC)
    return name, Buckets(end - size * count, size, count)


def provider_names() -> dict[str, str]:
    return {cls.slug: cls.name for cls in enabled_providers()}


# --- sections ---------------------------------------------------------------------------------------------------


def connection_section() -> dict:
    by_status = Counter()
    by_partner: dict[str, Counter] = defaultdict(Counter)
    for row in Connection.objects.values("provider", "status").annotate(n=Count("id")):
        by_status[row["status"]] += row["n"]
        by_partner[row["provider"]][row["status"]] += row["n"]
    labels = dict(Connection.Status.choices)
    names = provider_names()
    partners = sorted(by_partner)
    partner_chart = chart(
        [names.get(p, p) for p in partners],
        [Series(labels[s], [by_partner[p][s] for p in partners], STATUS_COLORS[s], stack="c")
         for s in Connection.Status.values],
        title="Connections by partner", chart_id="chart-partners", empty_message="No connections yet",
    )
    now = timezone.now()
    overdue = Connection.objects.filter(status__in=["active", "error"], next_sync_at__lt=now - dt.timedelta(seconds=5))
    oldest = overdue.order_by("next_sync_at").values_list("next_sync_at", flat=True).first()
    return {
        "total": sum(by_status.values()),
        "by_status": [(labels[s], by_status.get(s, 0), s) for s in Connection.Status.values],
        "status_chart": hbars([(labels[s], by_status.get(s, 0)) for s in Connection.Status.values]),
        "partner_chart": partner_chart,
        "overdue": overdue.count(),
        "oldest_overdue": (now - oldest) if oldest else None,
    }


def poll_groups_section(since: dt.datetime) -> dict:
    """Connections by poll group or estimated update rate, from the scheduler's per-connection state when it
    keeps one; otherwise by how often each connection's polls found new data in the window."""
    model = _polling_state_model()
    if model is not None:
        grouped = _by_polling_state(model)
        if grouped:
            return grouped
    runs = (SyncRun.objects.filter(started_at__gte=since).exclude(outcome=SyncRun.Outcome.RUNNING)
            .values("connection_id").annotate(n=Count("id"), found=Count("id", filter=(
                Q(records_new__gt=0) | Q(records_changed__gt=0) | Q(records_deleted__gt=0)))))
    bands = [("never", 0.0), ("under 25%", 0.25), ("25–50%", 0.5), ("50–75%", 0.75), ("75% or more", 1.01)]
    counts = Counter()
    for row in runs:
        ratio = row["found"] / row["n"]
        for label, upper in bands:
            if (label == "never" and ratio == 0) or (label != "never" and ratio < upper and ratio > 0):
                counts[label] += 1
                break
    charts = [hbars([(f"new data {label}", counts.get(label, 0)) for label, _ in bands], color=PALETTE[3])]
    intervals = _by_interval()
    if intervals:
        charts.append(hbars(intervals, color=PALETTE[7]))
    return {
        "source": "the scheduler keeps no per-connection estimates under this policy: the share of each "
                  "connection's polls in this window that found new data" + (", and its poll interval" if intervals
                                                                             else ""),
        "chart": mark_safe("".join(str(c) for c in charts)),
    }


def _by_interval() -> list[tuple[str, int]]:
    """Connections by the current policy's poll interval, when the policy has one per connection."""
    from healthsync.scheduling import policy

    current = policy.current()
    if not hasattr(current, "interval"):
        return []
    counts: Counter = Counter()
    for connection in Connection.objects.exclude(status=Connection.Status.REVOKED)[:5000]:
        try:
            seconds = current.interval(connection).total_seconds()
        except Exception:  # a policy without fixed intervals for this connection
            continue
        counts[seconds] += 1
    return [(f"polled every {_human(seconds)}", n) for seconds, n in sorted(counts.items())]


def _human(seconds: float) -> str:
    for unit, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= unit:
            return f"{seconds / unit:g} {name}"
    return f"{seconds:g} s"


def _polling_state_model():  # noqa: ANN202
    for name in ("PollingState", "PollState", "ConnectionPollState"):
        try:
            return apps.get_model("healthsync", name)
        except LookupError:
            continue
    return None


RATE_BANDS = [(0.5, "< 1 per 2 days"), (2, "< 2 a day"), (8, "2–8 a day"), (24, "8–24 a day"),
              (math.inf, "> 24 a day")]


def _by_polling_state(model) -> dict | None:  # noqa: ANN001
    """The scheduler's own view: its poll groups where the policy clusters, and its estimated update rates."""
    fields = {f.name for f in model._meta.get_fields()}
    group_field = next((f for f in ("group", "poll_group", "cluster") if f in fields), None)
    rate_field = next((f for f in ("rate", "rate_per_day", "estimated_rate", "rate_estimate") if f in fields), None)
    names = provider_names()
    sections = []
    if group_field:
        rows = (model.objects.exclude(**{f"{group_field}__isnull": True})
                .values("provider", group_field).annotate(n=Count("pk")).order_by("provider", group_field))
        items = [(f"{names.get(r['provider'], r['provider'])} · group {r[group_field]}", r["n"]) for r in rows]
        if items:
            sections.append(("poll groups", hbars(items, color=PALETTE[3])))
    if rate_field:
        counts = Counter()
        for rate in model.objects.exclude(**{f"{rate_field}__isnull": True}).values_list(rate_field, flat=True):
            counts[next(label for upper, label in RATE_BANDS if rate < upper)] += 1
        if counts:
            sections.append(("estimated update rate (uploads a day)",
                             hbars([(label, counts.get(label, 0)) for _, label in RATE_BANDS], color=PALETTE[7])))
    if not sections:
        return None
    return {"source": "from the scheduler's per-connection state: " + " and ".join(title for title, _ in sections),
            "chart": mark_safe("".join(str(svg) for _, svg in sections))}


def runs_section(buckets: Buckets) -> dict:
    runs = list(
        SyncRun.objects.filter(started_at__gte=buckets.start).order_by("-started_at")
        .values("started_at", "outcome", "trigger", "requests", "records_new", "records_changed",
                "records_deleted", "connection__provider")[:MAX_RUNS]
    )
    n = buckets.count
    by_outcome: dict[str, list[float]] = {o: [0.0] * n for o in SyncRun.Outcome.values}
    requests, found, empty_polls, new_records = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    per_partner_requests: dict[str, list[float]] = defaultdict(lambda: [0.0] * n)
    webhook_runs = webhook_found = polls_found_on_push_partners = 0
    push_partners = {r["connection__provider"] for r in runs if r["trigger"] == SyncRun.Trigger.WEBHOOK}
    for r in runs:
        i = buckets.index(r["started_at"])
        new_data = bool(r["records_new"] or r["records_changed"] or r["records_deleted"])
        if r["trigger"] == SyncRun.Trigger.WEBHOOK:
            webhook_runs += 1
            webhook_found += new_data
        elif r["trigger"] == SyncRun.Trigger.SCHEDULED and r["connection__provider"] in push_partners and new_data:
            polls_found_on_push_partners += 1
        if i is None:
            continue
        by_outcome[r["outcome"]][i] += 1
        requests[i] += r["requests"]
        per_partner_requests[r["connection__provider"]][i] += r["requests"]
        new_records[i] += r["records_new"] + r["records_changed"]
        if r["outcome"] != SyncRun.Outcome.RUNNING:
            (found if new_data else empty_polls)[i] += 1
    labels = buckets.labels()
    total_polls = sum(found) + sum(empty_polls)
    names = provider_names()
    return {
        "count": len(runs),
        "outcomes": Counter(r["outcome"] for r in runs),
        "outcome_chart": chart(labels, [Series(o.replace("_", " "), v, OUTCOME_COLORS[o], stack="o")
                                        for o, v in by_outcome.items() if any(v)],
                               title="Sync runs by outcome", chart_id="chart-outcomes",
                               empty_message="No syncs in this window"),
        "efficiency_chart": chart(labels, [Series("Polls that found new data", found, "#2a9d63", stack="p"),
                                           Series("Polls that found nothing", empty_polls, "#c4ccd8", stack="p"),
                                           Series("Requests sent", requests, "#2f6fde", kind="line")],
                                  title="Poll efficiency", chart_id="chart-efficiency",
                                  empty_message="No polls in this window"),
        "requests_chart": chart(labels, [Series(names.get(p, p), v, stack="r")
                                         for p, v in sorted(per_partner_requests.items())],
                                title="Partner requests", chart_id="chart-requests",
                                empty_message="No partner requests in this window"),
        "requests": int(sum(requests)),
        "new_records": int(sum(new_records)),
        "found_share": (sum(found) / total_polls) if total_polls else None,
        "requests_per_find": (sum(requests) / sum(found)) if sum(found) else None,
        "webhook_runs": webhook_runs,
        "webhook_found": webhook_found,
        "webhook_miss_rate": (polls_found_on_push_partners / (polls_found_on_push_partners + webhook_found))
        if (polls_found_on_push_partners + webhook_found) else None,
    }


def limit_windows(texts: tuple[str, ...]) -> list[tuple[str, int, int, bool]]:
    """(label, requests, seconds, aligned) per limit string; " aligned" marks fixed windows on clock multiples."""
    out = []
    for window in parse_windows(texts):
        seconds = window.seconds
        span = next(f"{seconds // unit} {name}" for unit, name in ((86400, "day"), (3600, "h"), (60, "min"),
                                                                    (1, "s")) if seconds % unit == 0)
        out.append((f"{window.limit} / {span.removeprefix('1 ')}", window.limit, seconds, window.aligned))
    return out


def budget_section() -> list[dict]:
    """Each partner limit against the requests our syncs sent in its current window (from the runs' request
    counts, so every process agrees; a run is counted in the window it started in)."""
    now = timezone.now()
    rows = []
    for cls in enabled_providers():
        provider = get_provider(cls.slug)
        for label, amount, seconds, aligned in limit_windows(provider.app_limits):
            epoch = now.timestamp()
            since = dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC) if aligned else \
                now - dt.timedelta(seconds=seconds)
            used = SyncRun.objects.filter(connection__provider=cls.slug, started_at__gte=since).aggregate(
                n=Sum("requests"))["n"] or 0
            rows.append({"partner": cls.name, "limit": label, "amount": amount,
                         "used": used, "share": used / amount if amount else 0})
    return rows


def budget_chart(rows: list[dict]):  # noqa: ANN201
    if not rows:
        return hbars([])
    # one bar per (partner, limit), scaled to its own limit: the share of the limit in use
    return hbars([(f"{r['partner']} · {r['limit']}", round(100 * r["share"], 1)) for r in rows], unit="%",
                 limit=100)


def _model(name: str):  # noqa: ANN202
    try:
        return apps.get_model("healthsync", name)
    except LookupError:
        return None


def webhook_section(buckets: Buckets) -> dict:
    """Notifications received over time (by partner), duplicates, and the miss rate: the share of the changes
    our syncs stored on push-enabled connections that no notification announced (found by reconciling polls)."""
    events, observations = _model("WebhookEvent"), _model("PushObservation")  # present once webhooks are
    names = provider_names()
    out: dict = {"available": events is not None}
    if events is not None:
        per: dict[str, list[float]] = defaultdict(lambda: [0.0] * buckets.count)
        total = deliveries = 0
        for provider, received, sent in events.objects.filter(received_at__gte=buckets.start).values_list(
                "provider", "received_at", "deliveries")[:MAX_RUNS]:
            total += 1
            deliveries += sent or 1
            i = buckets.index(received)
            if i is not None:
                per[provider][i] += 1
        series = [Series(names.get(p, p), v, stack="w") for p, v in sorted(per.items())]
        out.update(events=total, duplicates=deliveries - total, pending=events.objects.filter(status="pending").count(),
                   chart=chart(buckets.labels(), series, title="Webhook notifications", chart_id="chart-webhooks",
                               empty_message="No webhook notifications in this window"))
    if observations is not None:
        try:  # the webhooks module's own definition: the share of changed records no notification announced
            from healthsync.webhooks.stats import miss_rate
        except ImportError:  # pragma: no cover - webhooks not installed
            miss_rate = None
        rates = []
        for cls in enabled_providers() if miss_rate else ():
            rate = miss_rate(cls.slug, since=buckets.start)
            if rate is not None:
                rates.append((cls.name, 100.0 * rate))
        out["miss_rates"] = rates
        out["miss_chart"] = hbars([(name, round(rate, 1)) for name, rate in rates], unit="%", limit=100) \
            if rates else None
    return out


def webhook_metrics() -> list[tuple[str, str, float]]:
    """This process's webhook counters (by partner and outcome), if any were delivered here."""
    from healthsync.metrics import WEBHOOKS

    out = []
    for metric in WEBHOOKS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                out.append((sample.labels.get("provider", ""), sample.labels.get("outcome", ""), sample.value))
    return out


# --- the view ---------------------------------------------------------------------------------------------------


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    name, buckets = window_of(request)
    runs = runs_section(buckets)
    budgets = budget_section()
    recent = list(SyncRun.objects.select_related("connection", "connection__user")[:15])
    for run in recent:
        run.took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    failed = (SyncRun.objects.filter(outcome__in=["failed", "partial", "revoked", "lease_lost"])
              .select_related("connection", "connection__user")[:15])
    context = {
        "window": name,
        "windows": list(WINDOWS),
        "connections": connection_section(),
        "groups": poll_groups_section(buckets.start),
        "runs": runs,
        "budgets": budgets,
        "budget_chart": budget_chart(budgets),
        "recent": recent,
        "failed": failed,
        "webhook_counters": webhook_metrics(),
        "webhooks": webhook_section(buckets),
        "now": timezone.now(),
    }
    template = "healthsync/dashboard/_body.html" if request.GET.get("partial") else "healthsync/dashboard/index.html"
    return render(request, template, context)
