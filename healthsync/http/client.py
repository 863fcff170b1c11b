"""One pooled HTTP client per partner: budgets before sending, retries with backoff, limit signals honoured."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from healthsync import conf, metrics
from healthsync.http.budget import Budget
from healthsync.http.errors import MalformedResponse, PartnerError, PartnerUnavailable, RateLimited, Unauthorized
from healthsync.providers.declarations import Envelope, dig

log = logging.getLogger(__name__)
RETRY_STATUSES = {500, 502, 503, 504}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from Retry-After (seconds or a date) or an epoch X-RateLimit-Reset."""
    value = response.headers.get("Retry-After")
    if value:
        if value.strip().isdigit():
            return float(value)
        parsed = email.utils.parsedate_to_datetime(value)
        return max((parsed - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
    reset = response.headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        reset_at = float(reset)
        return max(reset_at - time.time(), 0.0) if reset_at > 1e9 else reset_at
    return None


def describe(response: httpx.Response) -> str:
    snippet = response.text[:120].replace("\n", " ")
    return f"HTTP {response.status_code} from {response.request.url.path}: {snippet}"


class PartnerClient:
    """Sends one API call for a provider; counts each request sent through ``on_request``."""

    def __init__(self, slug: str, envelope: Envelope | None, app_limits: tuple, user_limits: tuple) -> None:
        self.slug = slug
        self.envelope = envelope
        self.http = httpx.Client(
            timeout=conf.get("HTTP_TIMEOUT_SECONDS"),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": "healthsync/0.1"},
        )
        self.budget = Budget(slug, app_limits, user_limits, conf.get("RATE_LIMIT_STORAGE"))

    def call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any],
        token: str,
        user_key: str,
        on_request: Callable[[], None] = lambda: None,
    ) -> Any:
        retries, max_wait = conf.get("HTTP_RETRIES"), conf.get("MAX_WAIT_SECONDS")
        for attempt in range(retries + 1):
            self.budget.acquire(user_key, max_wait)
            on_request()
            try:
                response = self._send(method, url, params, token)
            except httpx.TransportError as exc:  # timeouts and connection errors
                metrics.record_partner_request(self.slug)
                if attempt == retries:
                    raise PartnerUnavailable(f"{self.slug} unreachable: {type(exc).__name__}") from exc
                self._backoff(attempt)
                continue
            metrics.record_partner_request(self.slug, response)
            wait = self._rate_limit_wait(response)
            self.budget.observe(user_key, response.headers, wait)  # shared: every worker learns it
            if wait is not None:
                if attempt == retries or wait > max_wait:
                    raise RateLimited(
                        f"{self.slug} rate limit hit ({describe(response)})",
                        retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait),
                    )
                time.sleep(wait)
                continue
            if response.status_code in RETRY_STATUSES and attempt < retries:
                self._backoff(attempt)
                continue
            return self._parse(response)
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, params: dict[str, Any], token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST":
            return self.http.post(url, data=params, headers=headers)
        return self.http.get(url, params=params, headers=headers)

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait when the partner says slow down; None when it does not."""
        if response.status_code == 429:
            hinted = retry_after(response)
            return hinted if hinted is not None else self._until_next_minute()
        if self.envelope and self.envelope.rate_limited and response.status_code == 200:
            status = self._envelope_status(response)
            if status in self.envelope.rate_limited:
                return self._until_next_minute()
        return None

    @staticmethod
    def _until_next_minute() -> float:
        return 60.0 - (time.time() % 60.0) + 0.05

    def _envelope_status(self, response: httpx.Response) -> Any:
        try:
            return response.json().get(self.envelope.status)
        except (ValueError, AttributeError):
            return None

    def _backoff(self, attempt: int) -> None:
        base = conf.get("HTTP_BACKOFF_SECONDS")
        time.sleep(random.uniform(0, base * 2**attempt))  # full jitter

    def _parse(self, response: httpx.Response) -> Any:
        if response.status_code == 401:
            raise Unauthorized(describe(response))
        if response.status_code >= 500:
            raise PartnerUnavailable(describe(response))
        if response.status_code >= 400:
            raise PartnerError(describe(response))
        try:
            data = response.json()
        except ValueError:
            raise MalformedResponse(f"not JSON ({describe(response)})") from None
        if self.envelope is None:
            return data
        if not isinstance(data, dict) or self.envelope.status not in data:
            raise MalformedResponse(f"no {self.envelope.status!r} in the answer ({describe(response)})")
        status = data[self.envelope.status]
        if status in self.envelope.auth_failed:
            raise Unauthorized(f"{self.slug} status {status}: {data.get('error', '')}")
        if status != self.envelope.ok:
            raise PartnerError(f"{self.slug} status {status}: {data.get('error', '')}")
        try:
            return dig(data, self.envelope.data)
        except (KeyError, TypeError):
            raise MalformedResponse(f"no {self.envelope.data!r} in the answer") from None

    def close(self) -> None:
        self.http.close()
