"""The one callback URL per push provider: the partner's handshake (GET/HEAD) and its notifications (POST)."""

from __future__ import annotations

import logging
import time

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from healthsync import metrics
from healthsync.providers import get_provider
from healthsync.providers.base import get_provider_class
from healthsync.webhooks import conf, push_of
from healthsync.webhooks.notices import Malformed, Unauthentic, handshake, parse, verify
from healthsync.webhooks.receive import store

log = logging.getLogger(__name__)


class TooLarge(Exception):  # noqa: N818
    pass


def read_capped(request: HttpRequest, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes whether or not the partner declared a length."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise TooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise TooLarge
    return body


@csrf_exempt
def receive(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        push = push_of(get_provider_class(slug))
    except LookupError:
        push = None
    if push is None or not conf.enabled(slug):
        raise Http404("no push for this provider")
    if request.method in ("GET", "HEAD"):
        status, body = handshake(push, request.method, request.GET, conf.verify_token(slug))
        return JsonResponse(body, status=status) if body is not None else HttpResponse(status=status)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    try:
        body = read_capped(request, int(conf.get("MAX_BODY_BYTES")))
        if push.signature:
            secret = get_provider(slug).settings().get("client_secret", "")
            verify(push.signature, secret, request.headers, body, time.time(), float(conf.get("TOLERANCE_SECONDS")))
        notices = parse(push, body)
    except TooLarge:
        return HttpResponse("too large", status=413, content_type="text/plain")
    except Unauthentic as exc:
        log.warning("%s webhook refused: %s", slug, exc)
        metrics.webhook_delivered(slug, "rejected")
        return HttpResponse(str(exc), status=401, content_type="text/plain")
    except Malformed as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    outcome = store(slug, notices)
    log.debug("%s webhook: %s", slug, outcome)
    return HttpResponse(status=200)
