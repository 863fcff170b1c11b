"""Controllable clock: every "now" inside the emulators comes from here."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Follows real time by default; tests can freeze, set or advance it.

    ``set``/``advance`` shift an offset, so an unfrozen clock keeps ticking from the new point.
    """

    def __init__(self, start: float | None = None, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - time.time()
        self._frozen_at: float | None = None
        if frozen:
            self._frozen_at = float(start) if start is not None else time.time()

    def now(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return time.time() + self._offset

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def set(self, epoch: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(epoch)
            else:
                self._offset = float(epoch) - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += float(seconds)
            else:
                self._offset += float(seconds)

    def freeze(self, frozen: bool = True) -> None:
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.time() + self._offset
            elif not frozen and self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def as_dict(self) -> dict[str, object]:
        now = self.now()
        return {
            "now": now,
            "iso": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "frozen": self.frozen,
        }
