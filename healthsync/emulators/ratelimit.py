"""Request-rate counters: fixed windows aligned like the partner's, or a rolling window."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class FixedWindow:
    """Counter over fixed windows of ``seconds`` aligned to multiples of ``seconds`` since the epoch (UTC).

    900 s windows therefore reset at :00, :15, :30 and :45; 86400 s windows at midnight UTC.
    ``history`` keeps the final count of every window seen, for "was a window ever exceeded" checks.
    """

    name: str
    limit: int
    seconds: int
    count: int = 0
    start: float = -1.0
    history: dict[int, int] = field(default_factory=dict)

    def window_start(self, now: float) -> int:
        return int(math.floor(now / self.seconds) * self.seconds)

    def _roll(self, now: float) -> None:
        start = self.window_start(now)
        if start != self.start:
            self.start = start
            self.count = 0

    def hit(self, now: float) -> int:
        self._roll(now)
        self.count += 1
        self.history[int(self.start)] = self.count
        return self.count

    def usage(self, now: float) -> int:
        self._roll(now)
        return self.count

    def exceeded(self, now: float) -> bool:
        return self.usage(now) > self.limit

    def reset_at(self, now: float) -> int:
        return self.window_start(now) + self.seconds

    def report(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": "fixed",
            "limit": self.limit,
            "seconds": self.seconds,
            "windows": [{"start": s, "count": c, "exceeded": c > self.limit} for s, c in sorted(self.history.items())],
            "max_count": max(self.history.values(), default=0),
        }


@dataclass
class RollingWindow:
    """Counter over the last ``seconds`` (sliding log). Rejected requests are not counted, so waiting
    ``Retry-After`` seconds is always enough; ``rejected`` records how often the limit was hit."""

    name: str
    limit: int
    seconds: int
    hits: deque[float] = field(default_factory=deque)
    max_count: int = 0
    rejected: int = 0

    def _trim(self, now: float) -> None:
        while self.hits and self.hits[0] <= now - self.seconds:
            self.hits.popleft()

    def hit(self, now: float) -> int:
        """Count the request if it fits; return the usage it would bring (> limit means rejected)."""
        self._trim(now)
        if len(self.hits) >= self.limit:
            self.rejected += 1
            return len(self.hits) + 1
        self.hits.append(now)
        self.max_count = max(self.max_count, len(self.hits))
        return len(self.hits)

    def usage(self, now: float) -> int:
        self._trim(now)
        return len(self.hits)

    def exceeded(self, now: float) -> bool:
        return self.usage(now) > self.limit

    def reset_at(self, now: float) -> int:
        self._trim(now)
        return int(math.ceil(self.hits[0] + self.seconds)) if self.hits else int(now)

    def report(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": "rolling",
            "limit": self.limit,
            "seconds": self.seconds,
            "max_count": self.max_count,
            "rejected": self.rejected,
            "exceeded": self.rejected > 0,
        }


Counter = FixedWindow | RollingWindow


class RateLimiter:
    """A named set of counters guarded by one lock."""

    def __init__(self, *counters: Counter) -> None:
        self.counters: dict[str, Counter] = {c.name: c for c in counters}
        self.lock = threading.Lock()

    def hit(self, now: float, names: list[str] | None = None) -> list[Counter]:
        """Count one request in ``names`` (default all); return the counters now over their limit."""
        with self.lock:
            over = []
            for name in names or list(self.counters):
                counter = self.counters[name]
                if counter.hit(now) > counter.limit:
                    over.append(counter)
            return over

    def report(self) -> list[dict[str, object]]:
        with self.lock:
            return [c.report() for c in self.counters.values()]
