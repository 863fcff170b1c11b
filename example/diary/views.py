"""The diary, as its user sees it: their services (connect, status, sync now) and charts of their data."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from diary import charts
from diary.models import FoodEntry
from healthsync import conf
from healthsync.models import Connection, SyncRun
from healthsync.providers import enabled_providers, get_provider
from healthsync.scheduling import dispatch, policy
from healthsync.sync.lease import AlreadySyncing

PRESETS = (7, 14, 30, 90, 365)


def chosen_range(request: HttpRequest) -> tuple[dt.date, dt.date, int | None]:
    """``?days=N`` (a preset) or ``?start=…&end=…`` (inclusive dates); the last 30 days by default."""
    today = timezone.localdate()
    start, end = parse_date(request.GET.get("start") or ""), parse_date(request.GET.get("end") or "")
    if start and end and start <= end:
        return start, min(end, start + dt.timedelta(days=730)), None
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = min(max(days, 1), 730)
    return today - dt.timedelta(days=days - 1), today, days


def syncing_now(connection: Connection) -> bool:
    recent = timezone.now() - dt.timedelta(seconds=conf.get("LEASE_SECONDS"))
    return connection.runs.filter(outcome=SyncRun.Outcome.RUNNING, started_at__gte=recent).exists()


def plain_error(connection: Connection, name: str) -> str:
    """The last problem, in words a person understands (the technical text stays in a tooltip)."""
    if connection.status == Connection.Status.REVOKED:
        return f"{name} no longer accepts our access. Reconnect to resume syncing."
    text = connection.last_error.lower()
    if not text:
        return ""
    if "rate limit" in text or "budget" in text or "429" in text:
        return f"{name} asked us to slow down. We will try again shortly; nothing is lost."
    if "unreachable" in text or "http 5" in text or "timeout" in text:
        return f"{name} could not be reached. We will retry automatically."
    if "401" in text or "unauthorized" in text or "token" in text:
        return f"{name} refused our access. If this persists, reconnect."
    if "scope" in text or "403" in text:
        return f"{name} did not grant access to some of your data. Reconnect and allow all permissions."
    return f"The last sync with {name} did not complete. We will retry automatically."


def service_cards(user) -> list[dict]:  # noqa: ANN001
    connections = {c.provider: c for c in Connection.objects.filter(user=user)}
    cards = []
    for cls in enabled_providers():
        connection = connections.get(cls.slug)
        card = {"slug": cls.slug, "name": cls.name, "connection": connection}
        if connection:
            card.update(
                syncing=syncing_now(connection),
                error=plain_error(connection, cls.name),
                reconnect=connection.status == Connection.Status.REVOKED,
                last_run=connection.runs.exclude(outcome=SyncRun.Outcome.RUNNING).first(),
                can_sync=policy.current().client_sync(connection),
                overdue=connection.next_sync_at <= timezone.now() + dt.timedelta(seconds=30),
                fresh=bool(connection.last_success_at)
                and connection.last_success_at > timezone.now() - dt.timedelta(minutes=1),
            )
        cards.append(card)
    return cards


@login_required
def home(request: HttpRequest) -> HttpResponse:
    start, end, days = chosen_range(request)
    context = {
        "services": service_cards(request.user),
        "start": start,
        "end": end,
        "days": days,
        "presets": PRESETS,
        "charts": charts.user_charts(request.user, start, end),
        "food": FoodEntry.objects.filter(user=request.user)[:8],
        "today": timezone.localdate(),
        "fingerprint": fingerprint(request.user),
    }
    return render(request, "diary/home.html", context)


@require_POST
@login_required
def sync_now(request: HttpRequest, slug: str) -> HttpResponse:
    """The "Sync now" button: asks the scheduling policy, then syncs within the request and reloads the page."""
    connection = get_object_or_404(Connection, user=request.user, provider=slug)
    name = get_provider(slug).name
    decision = policy.current().client_sync(connection)
    back = request.POST.get("next") or reverse("home")
    if not back.startswith("/"):
        back = reverse("home")
    if not decision.allowed:
        when = f" Try again after {timezone.localtime(decision.next_allowed_at):%H:%M:%S}." if (
            decision.next_allowed_at) else ""
        messages.info(request, f"{name}: {decision.reason}.{when}")
        return HttpResponseRedirect(back)
    try:
        run = dispatch.sync_now(connection, SyncRun.Trigger.CLIENT)
    except AlreadySyncing:
        messages.info(request, f"{name} is already syncing; the page will update when it is done.")
        return HttpResponseRedirect(back)
    if run.outcome in (SyncRun.Outcome.SUCCESS, SyncRun.Outcome.PARTIAL):
        found = run.records_new + run.records_changed
        messages.success(request, f"Synced {name}: {found} new or updated records." if found
                         else f"Synced {name}: you are up to date.")
    else:
        connection.refresh_from_db()
        messages.error(request, plain_error(connection, name) or f"{name} could not be synced.")
    return HttpResponseRedirect(back)


@require_POST
@login_required
def add_food(request: HttpRequest) -> HttpResponse:
    try:
        kcal = float(request.POST.get("energy_kcal", ""))
        date = parse_date(request.POST.get("date", "")) or timezone.localdate()
        name = request.POST.get("name", "").strip()[:200] or "Meal"
        if not 0 < kcal < 20000:
            raise ValueError
    except ValueError:
        messages.error(request, "Enter the calories as a number, like 450.")
        return HttpResponseRedirect(reverse("home"))
    FoodEntry.objects.create(user=request.user, date=date, name=name, energy_kcal=kcal)
    messages.success(request, f"Added {name} ({kcal:.0f} kcal).")
    return HttpResponseRedirect(reverse("home"))


def fingerprint(user) -> str:  # noqa: ANN001
    """Changes when something the page shows changes: a service's status, or a sync that found new data or
    failed. Polls that find nothing leave it alone, so an open page does not reload for nothing."""
    statuses = list(Connection.objects.filter(user=user).order_by("provider").values_list("provider", "status"))
    notable = (SyncRun.objects.filter(connection__user=user)
               .filter(Q(records_new__gt=0) | Q(records_changed__gt=0) | Q(records_deleted__gt=0)
                       | Q(outcome__in=[SyncRun.Outcome.FAILED, SyncRun.Outcome.REVOKED]))
               .order_by("-pk").values_list("pk", flat=True).first())
    return hashlib.sha1(repr((statuses, notable)).encode()).hexdigest()[:16]


@login_required
def status(request: HttpRequest) -> JsonResponse:
    """Polled by the page every few seconds: a fingerprint of the user's sync state, and each service's status."""
    return JsonResponse({
        "fingerprint": fingerprint(request.user),
        "services": [
            {"provider": c.provider, "status": c.status, "syncing": syncing_now(c),
             "last_sync_at": c.last_sync_at, "next_sync_at": c.next_sync_at}
            for c in Connection.objects.filter(user=request.user).order_by("provider")
        ],
    })
