"""The diary's home page: the user's services (connect, status, sync now) and their data."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from healthsync.models import Connection, DailyActivity, Workout
from healthsync.providers import enabled_providers


@login_required
def home(request: HttpRequest) -> HttpResponse:
    connections = {c.provider: c for c in Connection.objects.filter(user=request.user)}
    services = [{"provider": cls, "connection": connections.get(cls.slug)} for cls in enabled_providers()]
    context = {
        "services": services,
        "workouts": Workout.objects.filter(user=request.user)[:10],
        "days": DailyActivity.objects.filter(user=request.user).order_by("-local_date")[:14],
    }
    return render(request, "diary/home.html", context)
