"""Partner request budgets, enforced before a request is sent and shared by every worker through the storage.

Built on the `limits` library and its storage (``RATE_LIMIT_STORAGE``: memory:// in one process, redis:// to
share budgets between processes and machines). Two kinds of window:

- **moving** (the default, `limits`' MovingWindowRateLimiter): strict, no N+1 requests fall in any window of the
  stated length, which keeps us under any partner window of that length, fixed or rolling.
- **aligned** (``"100 per 15 minutes aligned"``): a fixed window aligned to multiples of its length since the
  epoch in UTC, as Strava counts (:00/:15/:30/:45 and midnight UTC). `limits`' own fixed windows start at the
  first hit, so this part is hand-written on top of the library's storage counters (``incr`` with expiry): the
  key names the window, a hit that takes a counter past its limit is given back. We move to a new window
  ``BUDGET_CLOCK_SKEW_SECONDS`` after the partner's boundary, never before it.

The partner's own numbers win over ours: ``observe(response)`` raises our counters to the usage the partner
reports (Strava's ``X-RateLimit-Usage``, ``X-RateLimit-Remaining`` / ``RateLimit-Remaining``), which heals a
budget lost with a Redis restart, and a 429 pauses every worker for the partner (or for one user, when the
partner says the limit is per token) until its ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from limits import RateLimitItem, parse, storage, strategies

from healthsync import conf
from healthsync.http.errors import RateLimited

ALIGNED = " aligned"


@dataclass(frozen=True)
class Window:
    item: RateLimitItem
    aligned: bool

    @property
    def seconds(self) -> int:
        return self.item.get_expiry()

    @property
    def limit(self) -> int:
        return self.item.amount

    def __str__(self) -> str:
        return f"{self.item}{ALIGNED if self.aligned else ''}"


def parse_windows(texts: tuple[str, ...] | list[str]) -> list[Window]:
    """``limits`` notation, one window per string, optionally ending in " aligned"."""
    windows = []
    for text in texts:
        aligned = text.rstrip().endswith(ALIGNED)
        windows.append(Window(parse(text.rstrip().removesuffix(ALIGNED)), aligned))
    return windows


@dataclass(frozen=True)
class Claim:
    window: Window
    keys: tuple[str, ...]  # ("app", slug) or ("user", slug, user_key)


class Budget:
    def __init__(self, slug: str, app_limits: tuple[str, ...], user_limits: tuple[str, ...], uri: str) -> None:
        self.slug = slug
        overrides = conf.provider_settings(slug)  # a partner may have granted this app other limits
        self.app = parse_windows(overrides.get("app_limits", app_limits))
        self.user = parse_windows(overrides.get("user_limits", user_limits))
        self.storage = storage.storage_from_string(uri)
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        self.skew = float(conf.get("BUDGET_CLOCK_SKEW_SECONDS"))

    # -- the public API ---------------------------------------------------------------------------------------

    def acquire(self, user_key: str, max_wait: float) -> None:
        """Spend one request from every window, waiting up to ``max_wait`` seconds for room."""
        deadline = time.monotonic() + max_wait
        while True:
            reason, reset = self._paused(user_key) or self._try_hit(user_key) or (None, 0.0)
            if reason is None:
                return
            wait = max(reset - time.time(), 0.01)
            if time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"our {self.slug} budget of {reason} is spent",
                    retry_at=dt.datetime.fromtimestamp(reset, tz=dt.UTC),
                )
            time.sleep(wait)

    def observe(self, user_key: str, headers: Mapping[str, str], limited_for: float | None = None) -> None:
        """Learn from a partner's answer: re-sync counters from its usage headers; pause everyone on a limit signal.

        ``limited_for``: the partner said "slow down" (a 429, or an envelope status) for this many seconds.
        """
        for claim in self._claims(user_key):
            used = self._reported_usage(claim.window, headers)
            if used is not None:
                self._raise_to(claim, used)
        if limited_for:
            per_user = headers.get("X-RateLimit-Tier", "").lower() in ("token", "user")
            self.pause(limited_for, user_key if per_user else None)

    def pause(self, seconds: float, user_key: str | None = None) -> None:
        """No request to this partner (or for this user) from any worker for ``seconds``."""
        key = self._pause_key(user_key)
        until = time.time() + seconds
        if self.storage.get(key) and self.storage.get_expiry(key) >= until:
            return
        self.storage.clear(key)
        self.storage.incr(key, max(1, math.ceil(seconds)))

    def remaining(self, user_key: str = "") -> dict[str, int]:
        out = {}
        for claim in self._claims(user_key):
            if claim.window.aligned:
                start, _ = self._aligned_span(claim.window)
                left = claim.window.limit - self.storage.get(self._aligned_key(claim, start))
            else:
                left = self.limiter.get_window_stats(claim.window.item, *claim.keys).remaining
            out[f"{claim.keys[0]} {claim.window}"] = left
        return out

    # -- windows ----------------------------------------------------------------------------------------------

    def _claims(self, user_key: str) -> list[Claim]:
        return [Claim(w, ("app", self.slug)) for w in self.app] + [
            Claim(w, ("user", self.slug, user_key)) for w in self.user
        ]

    def _pause_key(self, user_key: str | None) -> str:
        return f"healthsync/pause/{self.slug}" + (f"/{user_key}" if user_key else "")

    def _paused(self, user_key: str) -> tuple[str, float] | None:
        for key in (self._pause_key(None), self._pause_key(user_key)):
            if self.storage.get(key):
                return "the partner's Retry-After", self.storage.get_expiry(key)
        return None

    def _aligned_span(self, window: Window, now: float | None = None) -> tuple[int, float]:
        """The current aligned window's start, and when ours ends (the partner's end plus the skew margin)."""
        now = (time.time() if now is None else now) - self.skew
        start = int(now // window.seconds * window.seconds)
        return start, start + window.seconds + self.skew

    def _aligned_key(self, claim: Claim, start: int) -> str:
        return "healthsync/aligned/" + "/".join(claim.keys) + f"/{claim.window.limit}/{claim.window.seconds}/{start}"

    def _try_hit(self, user_key: str) -> tuple[str, float] | None:
        """Take one slot of every window, or none: returns (the blocking window, when it frees up)."""
        claims = self._claims(user_key)
        for claim in claims:  # a cheap look first, so a spent window costs no writes
            blocked = self._blocked(claim)
            if blocked:
                return blocked
        taken: list[tuple[Claim, str]] = []
        for claim in claims:
            if claim.window.aligned:
                start, end = self._aligned_span(claim.window)
                key = self._aligned_key(claim, start)
                count = self.storage.incr(key, max(1, math.ceil(end - time.time())))
                if count > claim.window.limit:  # lost a race for the last slot: give it back
                    self.storage.incr(key, max(1, math.ceil(end - time.time())), amount=-1)
                    self._give_back(taken)
                    return str(claim.window), end
                taken.append((claim, key))
            else:
                if not self.limiter.hit(claim.window.item, *claim.keys):
                    self._give_back(taken)
                    return str(claim.window), self.limiter.get_window_stats(claim.window.item, *claim.keys).reset_time
                taken.append((claim, ""))
        return None

    def _blocked(self, claim: Claim) -> tuple[str, float] | None:
        if claim.window.aligned:
            start, end = self._aligned_span(claim.window)
            if self.storage.get(self._aligned_key(claim, start)) >= claim.window.limit:
                return str(claim.window), end
            return None
        if not self.limiter.test(claim.window.item, *claim.keys):
            return str(claim.window), self.limiter.get_window_stats(claim.window.item, *claim.keys).reset_time
        return None

    def _give_back(self, taken: list[tuple[Claim, str]]) -> None:
        # Aligned counters are returned; a moving window's entry cannot be removed from `limits`, so a request
        # refused by a later window still counts there (erring on the safe side).
        for claim, key in taken:
            if claim.window.aligned:
                _, end = self._aligned_span(claim.window)
                self.storage.incr(key, max(1, math.ceil(end - time.time())), amount=-1)

    # -- re-sync from the partner's headers ---------------------------------------------------------------------

    @staticmethod
    def _reported_usage(window: Window, headers: Mapping[str, str]) -> int | None:
        """The partner's count for a window of our size, from its headers; None when it does not say."""
        # Strava: "X-RateLimit-Limit: 200,2000" / "X-RateLimit-Usage: 12,340" (15 minutes, then the day), and
        # the same for its read limits under X-ReadRateLimit-*. A pair whose limit equals ours is our window.
        for prefix in ("X-ReadRateLimit", "X-RateLimit"):
            limits_, usage = headers.get(f"{prefix}-Limit"), headers.get(f"{prefix}-Usage")
            if limits_ and usage:
                for limit, used in zip(limits_.split(","), usage.split(","), strict=False):
                    if limit.strip().isdigit() and int(limit) == window.limit and used.strip().isdigit():
                        return int(used)
        for prefix in ("X-RateLimit", "RateLimit"):
            limit, left = headers.get(f"{prefix}-Limit", ""), headers.get(f"{prefix}-Remaining", "")
            if limit.strip().isdigit() and left.strip().isdigit() and int(limit) == window.limit:
                return max(int(limit) - int(left), 0)
        return None

    def _raise_to(self, claim: Claim, used: int) -> None:
        """Raise our count to the partner's (never lower it: our requests in flight are not in its number yet)."""
        if claim.window.aligned:
            start, end = self._aligned_span(claim.window)
            key = self._aligned_key(claim, start)
            missing = used - self.storage.get(key)
            if missing > 0:
                self.storage.incr(key, max(1, math.ceil(end - time.time())), amount=missing)
            return
        stats = self.limiter.get_window_stats(claim.window.item, *claim.keys)
        missing = min(used - (claim.window.limit - stats.remaining), stats.remaining)
        if missing > 0:
            self.limiter.hit(claim.window.item, *claim.keys, cost=missing)
