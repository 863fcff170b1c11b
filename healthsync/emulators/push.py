"""Partner push: when synthetic users' data changes, notify the subscribed callbacks over real HTTP.

A scanner thread compares the world with what it has announced (new visible records, changed ones, deleted
ones; daily totals as each device sync grows them) and asks the partner module for the notifications
(``EmulatorState.push_notices``). A dispatcher delivers them from a small thread pool, after the configured
delay, with the partner's signature and deadline, and retries failures on the partner's schedule. Loss,
duplication, delay, reordering, bad signatures, stale timestamps and malformed bodies are configurable
(``PushConfig``, ``POST /_emulator/push``); every delivery is logged as ground truth (``GET /_emulator/push``).

Notifications go only to users who authorized the app (a live refresh token). Delivery times are wall-clock;
``event_time`` and record times come from the emulator clock.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

_ONE_DAY = timedelta(days=1)

if TYPE_CHECKING:
    from .state import EmulatorState
    from .world import Record


@dataclass
class PushConfig:
    loss: float = 0.0  # share of notifications never sent
    duplicate: float = 0.0  # share sent twice
    delay_ms: int = 0  # each delivery waits uniform(0, delay_ms) first
    reorder: float = 0.0  # share held back a further reorder_ms, so later notifications overtake them
    reorder_ms: int = 1500
    signature: str = "valid"  # valid | invalid | missing (partners that sign)
    timestamp_skew: float = 0.0  # seconds added to the signed timestamp (negative: an old, replayed-looking one)
    malformed: float = 0.0  # share of bodies garbled (still signed)
    retry_scale: float = 1.0  # multiplies the partner's retry delays (tests: 0.01)
    scan_ms: int = 250  # how often the scanner looks for device uploads
    paused: bool = False  # scan nothing (changes are announced once resumed)
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PushConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown push fields: {sorted(unknown)}")
        config = cls(**data)
        if config.signature not in ("valid", "invalid", "missing"):
            raise ValueError("signature must be valid, invalid or missing")
        return config


@dataclass
class Outgoing:
    """One notification a partner module built: where, what, and what it announces (for the ground truth)."""

    url: str
    body: bytes
    content_type: str
    notice: dict[str, Any]


@dataclass
class Delivery:
    id: int
    url: str
    body: bytes
    content_type: str
    notice: dict[str, Any]
    created: float
    state: str = "queued"  # queued | delivered | dropped | failed | cancelled
    attempts: list[list[Any]] = field(default_factory=list)  # [wall time, HTTP status or error]
    headers: dict[str, str] = field(default_factory=dict)  # of the last attempt
    copy_of: int | None = None  # a duplicate of that delivery
    delivered_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["body"] = self.body.decode("utf-8", "replace")
        return out


class Pusher:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.config = PushConfig()
        self.rng = random.Random(0)
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.stop_event = threading.Event()
        self.seen: dict[int, tuple[float, int]] = {}
        self.queue: list[tuple[float, int, Delivery, int]] = []
        self.log: list[Delivery] = []
        self.ids = itertools.count(1)
        self.inflight = 0
        self.started = False
        self.pool: ThreadPoolExecutor | None = None
        self.client = httpx.Client(timeout=state.push_deadline)

    # -- lifecycle ------------------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Start announcing from now on (called when the first subscription is made)."""
        with self.lock:
            if self.started:
                return
            self.started = True
            self._scan(announce=False)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"push-{self.state.slug}")
        threading.Thread(target=self._scan_loop, name=f"push-scan-{self.state.slug}", daemon=True).start()
        threading.Thread(target=self._dispatch_loop, name=f"push-send-{self.state.slug}", daemon=True).start()

    def stop(self) -> None:
        self.stop_event.set()
        with self.lock:
            self.wake.notify_all()
        if self.pool:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def configure(self, config: PushConfig) -> None:
        with self.lock:
            self.config = config
            self.rng = random.Random(config.seed if config.seed is not None else 0)

    # -- finding changes ------------------------------------------------------------------------------
    def _scan_loop(self) -> None:
        while not self.stop_event.is_set():
            if not self.config.paused:
                with contextlib.suppress(Exception):  # a scan must never kill the thread
                    self.scan()
            self.stop_event.wait(max(0.02, self.config.scan_ms / 1000))

    def scan(self) -> int:
        with self.lock:
            return self._scan(announce=True)

    def _scan(self, announce: bool) -> int:
        world, now = self.state.world, self.state.clock.now()
        world.ensure()
        with world.lock:
            records = list(world.records.values())
        emitted = 0
        for rec in records:
            prev = self.seen.get(rec.id)
            if rec.deleted:
                if prev is not None:
                    del self.seen[rec.id]
                    emitted += self._emit(rec, "delete", now) if announce else 0
                continue
            if rec.upload_at > now:
                continue
            if rec.kind == "daily":
                user = world.users[rec.user]
                if prev is not None and not rec.overridden and rec.day < user.local_day(now) - _ONE_DAY:
                    continue  # a past day's totals are final
                modified = world.daily_view(rec, now)[1]
            else:
                modified = rec.modified_at
            mark = (modified, rec.rev)
            if prev is None or mark != prev:
                self.seen[rec.id] = mark
                if announce:
                    emitted += self._emit(rec, "create" if prev is None else "update", now)
        return emitted

    def _emit(self, rec: Record, action: str, now: float) -> int:
        outgoing = self.state.push_notices(rec, action, now)
        for item in outgoing:
            item.notice.update(record=rec.id, kind_neutral=rec.kind, upload_at=rec.upload_at, changed_at=now)
            self.send(item)
        return len(outgoing)

    # -- delivering -----------------------------------------------------------------------------------
    def send(self, item: Outgoing) -> Delivery:
        """Queue a notification through the configured faults (loss, duplication, delay, reordering)."""
        with self.lock:
            cfg, rng = self.config, self.rng
            body = item.body
            if cfg.malformed and rng.random() < cfg.malformed:
                body = body[: max(1, len(body) // 2)] + b"\x00garbled"
            delivery = Delivery(next(self.ids), item.url, body, item.content_type, item.notice, time.time())
            self.log.append(delivery)
            if cfg.loss and rng.random() < cfg.loss:
                delivery.state = "dropped"
                return delivery
            copies = [delivery]
            if cfg.duplicate and rng.random() < cfg.duplicate:
                twin = replace(delivery, id=next(self.ids), attempts=[], copy_of=delivery.id)
                self.log.append(twin)
                copies.append(twin)
            for copy in copies:
                wait = rng.uniform(0, cfg.delay_ms) / 1000 if cfg.delay_ms else 0.0
                if cfg.reorder and rng.random() < cfg.reorder:
                    wait += cfg.reorder_ms / 1000
                self._schedule(copy, 0, wait)
            return delivery

    def _schedule(self, delivery: Delivery, attempt: int, wait: float) -> None:
        with self.lock:
            heapq.heappush(self.queue, (time.time() + wait, delivery.id * 100 + attempt, delivery, attempt))
            self.wake.notify()

    def _dispatch_loop(self) -> None:
        while not self.stop_event.is_set():
            with self.lock:
                if not self.queue:
                    self.wake.wait(0.5)
                    continue
                due, _, delivery, attempt = self.queue[0]
                wait = due - time.time()
                if wait > 0:
                    self.wake.wait(min(wait, 0.5))
                    continue
                heapq.heappop(self.queue)
                self.inflight += 1
            try:
                assert self.pool is not None
                self.pool.submit(self._attempt, delivery, attempt)
            except RuntimeError:  # the pool is shut down
                return

    def _attempt(self, delivery: Delivery, attempt: int) -> None:
        try:
            delivery.headers = {"content-type": delivery.content_type, **self.state.push_headers(delivery, self.config)}
            try:
                response = self.client.post(delivery.url, content=delivery.body, headers=delivery.headers)
                status: int | str = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            delivery.attempts.append([time.time(), status])
            if isinstance(status, int) and 200 <= status < 300:
                delivery.state, delivery.delivered_at = "delivered", time.time()
            elif status == 410 and self.state.push_cancel_on_410:
                delivery.state = "cancelled"
                self.state.push_cancel(delivery)
            elif attempt < len(self.state.push_retries):
                self._schedule(delivery, attempt + 1, self.state.push_retries[attempt] * self.config.retry_scale)
            else:
                delivery.state = "failed"
        finally:
            with self.lock:
                self.inflight -= 1

    def replay(self, delivery_id: int) -> int | str:
        """Send a logged delivery again, byte for byte with its last headers (an attacker's replay)."""
        with self.lock:
            delivery = next(d for d in self.log if d.id == delivery_id)
        headers = delivery.headers or {"content-type": delivery.content_type}
        try:
            return self.client.post(delivery.url, content=delivery.body, headers=headers).status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    # -- ground truth ---------------------------------------------------------------------------------
    def report(self, with_log: bool = False) -> dict[str, Any]:
        with self.lock:
            counts: dict[str, int] = {}
            for d in self.log:
                counts[d.state] = counts.get(d.state, 0) + 1
            out: dict[str, Any] = {
                "config": asdict(self.config),
                "started": self.started,
                "pending": len(self.queue) + self.inflight,
                "counts": counts,
                "notifications": sum(1 for d in self.log if d.copy_of is None),
            }
            if with_log:
                out["deliveries"] = [d.as_dict() for d in self.log]
            return out



def authorized(state: EmulatorState, partner_user_id: str) -> bool:
    """The user still authorizes the app: some refresh token of theirs is alive."""
    with state.oauth.lock:
        return any(r.user_id == partner_user_id and not r.dead for r in state.oauth.refresh.values())
