"""Counters of API requests per path and status (served by ``GET /_emulator/requests``)."""

from __future__ import annotations

import threading
from collections import Counter


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_path: Counter[str] = Counter()
        self.by_path_status: Counter[tuple[str, int]] = Counter()
        self.total = 0

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self.total += 1
            self.by_path[path] += 1
            self.by_path_status[(path, status)] += 1

    def reset(self) -> None:
        with self._lock:
            self.by_path.clear()
            self.by_path_status.clear()
            self.total = 0

    def report(self) -> dict[str, object]:
        with self._lock:
            per_path: dict[str, dict[str, object]] = {}
            for path, count in sorted(self.by_path.items()):
                per_path[path] = {"count": count, "by_status": {}}
            for (path, status), count in self.by_path_status.items():
                per_path[path]["by_status"][str(status)] = count  # type: ignore[index]
            by_status: Counter[str] = Counter()
            for (_, status), count in self.by_path_status.items():
                by_status[str(status)] += count
            return {"total": self.total, "by_status": dict(by_status), "paths": per_path}
