"""Browser views of the OAuth round trip: connect (to the partner), callback (back from it), disconnect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from healthsync import conf
from healthsync.auth import connect
from healthsync.models import Connection
from healthsync.providers import Provider, enabled_providers, get_provider


def provider_or_404(slug: str) -> Provider:
    if slug not in {cls.slug for cls in enabled_providers()}:
        raise Http404(f"no enabled provider {slug!r}")
    return get_provider(slug)


def callback_url(request: HttpRequest, slug: str) -> str:
    path = reverse("healthsync:callback", args=[slug])
    base = conf.get("REDIRECT_BASE_URL")
    return base.rstrip("/") + path if base else request.build_absolute_uri(path)


def safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.GET.get("next") or request.POST.get("next") or ""
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if ok else default


@require_GET
@login_required
def connect_view(request: HttpRequest, slug: str) -> HttpResponse:
    provider = provider_or_404(slug)
    url = connect.start(provider, request.user, callback_url(request, slug), return_to=safe_next(request))
    return HttpResponseRedirect(url)


@require_GET
def callback_view(request: HttpRequest, slug: str) -> HttpResponse:
    provider = provider_or_404(slug)
    try:
        pending = connect.take_pending(request.GET.get("state"), provider, request.user)
    except connect.ConnectError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    back = pending.return_to or "/"
    try:
        connect.finish(provider, pending, request.GET.dict())
    except connect.ConnectError as exc:
        if not pending.session_bound:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, str(exc))
        return HttpResponseRedirect(back)
    if pending.session_bound:
        messages.success(request, f"{provider.name} is connected. Your data is on its way.")
    return HttpResponseRedirect(back)


@require_POST
@login_required
def disconnect_view(request: HttpRequest, slug: str) -> HttpResponse:
    connection = get_object_or_404(Connection, user=request.user, provider=slug)
    connect.disconnect(connection)
    messages.success(request, f"{get_provider(slug).name} is disconnected.")
    return HttpResponseRedirect(safe_next(request))
