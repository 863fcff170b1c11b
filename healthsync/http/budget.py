"""Partner request budgets, enforced before a request is sent.

Built on the `limits` library. Moving windows are strict: no N+1 requests fall in any window of the stated
length, which also keeps us under partners whose windows are fixed and aligned (Strava's :00/:15/:30/:45).
The storage is a `limits` URI: memory:// in one process, redis:// to share budgets between machines.
"""

from __future__ import annotations

import datetime as dt
import time

from limits import parse_many, storage, strategies

from healthsync.http.errors import RateLimited


class Budget:
    def __init__(self, slug: str, app_limits: tuple[str, ...], user_limits: tuple[str, ...], uri: str) -> None:
        self.slug = slug
        self.app = [item for text in app_limits for item in parse_many(text)]
        self.user = [item for text in user_limits for item in parse_many(text)]
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(uri))

    def _claims(self, user_key: str) -> list:
        return [(item, ("app", self.slug)) for item in self.app] + [
            (item, ("user", self.slug, user_key)) for item in self.user
        ]

    def acquire(self, user_key: str, max_wait: float) -> None:
        """Spend one request from every window, waiting up to ``max_wait`` seconds for room."""
        deadline = time.monotonic() + max_wait
        while True:
            blocked = self._try_hit(user_key)
            if blocked is None:
                return
            item, keys = blocked
            reset = self.limiter.get_window_stats(item, *keys).reset_time
            wait = max(reset - time.time(), 0.01)
            if time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"our {self.slug} budget of {item} is spent",
                    retry_at=dt.datetime.fromtimestamp(reset, tz=dt.UTC),
                )
            time.sleep(wait)

    def _try_hit(self, user_key: str):  # noqa: ANN202
        for item, keys in self._claims(user_key):
            if not self.limiter.test(item, *keys):
                return item, keys
        for item, keys in self._claims(user_key):
            if not self.limiter.hit(item, *keys):  # lost a race for the last slot
                return item, keys
        return None

    def remaining(self, user_key: str = "") -> dict[str, int]:
        return {
            f"{'/'.join(k[:1])} {item}": self.limiter.get_window_stats(item, *k).remaining
            for item, k in self._claims(user_key)
        }
