"""Fault injection: configuration plus the ASGI middleware that applies it (and counts requests).

Faults hit only the partner's API data paths (``FaultHooks.api_prefixes``) or, when ``paths`` is set, the
paths starting with one of those prefixes (which may name the token endpoint). ``/_emulator/*`` and the
consent page are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .stats import RequestStats

HANG_SECONDS = 30.0


@dataclass
class FaultConfig:
    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    storm_429: bool = False
    malformed_rate: float = 0.0
    truncated_rate: float = 0.0
    bad_field_rate: float = 0.0
    unknown_type_rate: float = 0.0
    paths: list[str] | None = None
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultHooks:
    """Partner-specific pieces: where faults apply and how the partner says "rate limited"."""

    api_prefixes: tuple[str, ...]
    rate_limited: Callable[[], Response]
    unknown_type: Callable[[Any, random.Random], bool]
    never: tuple[str, ...] = ("/_emulator",)


@dataclass
class Faults:
    config: FaultConfig = field(default_factory=FaultConfig)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    stop: threading.Event = field(default_factory=threading.Event)
    injected: dict[str, int] = field(default_factory=dict)

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed if config.seed is not None else 0)

    def clear(self) -> None:
        self.configure(FaultConfig())
        self.injected = {}

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def note(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1


def corrupt_field(body: Any, rng: random.Random) -> bool:
    """Give one field of one record the wrong JSON type (number <-> string)."""
    records = _records(body)
    rng.shuffle(records)
    for record in records:
        keys = [k for k, v in record.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
        if keys:
            key = rng.choice(sorted(keys))
            value = record[key]
            record[key] = f"x{value}" if isinstance(value, (int, float)) else 12345
            return True
    return False


def _records(body: Any) -> list[dict[str, Any]]:
    """The records of a response: the first list of objects found breadth-first, else the object itself."""
    queue: list[Any] = [body]
    while queue:
        node = queue.pop(0)
        if isinstance(node, list) and node and all(isinstance(i, dict) for i in node):
            return list(node)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        queue.extend(c for c in children if isinstance(c, (dict, list)))
    return [body] if isinstance(body, dict) else []


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults, hooks: FaultHooks, stats: RequestStats) -> None:
        self.app = app
        self.faults = faults
        self.hooks = hooks
        self.stats = stats

    def _applies(self, path: str) -> bool:
        if any(path.startswith(p) for p in self.hooks.never):
            return False
        prefixes = self.faults.config.paths or list(self.hooks.api_prefixes)
        return any(path.startswith(p) for p in prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        status_box = {"status": 0}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
            await send(message)

        counted = not path.startswith("/_emulator")
        try:
            if self._applies(path):
                await self._faulted(scope, receive, counting_send)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            if counted and status_box["status"]:
                self.stats.record(path, status_box["status"])

    async def _faulted(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults, cfg = self.faults, self.faults.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if faults.roll(cfg.timeout_rate):
            faults.note("timeout")
            await self._hang()
            await Response("Gateway Timeout", 504)(scope, receive, send)
            return
        if cfg.storm_429:
            faults.note("storm_429")
            await self.hooks.rate_limited()(scope, receive, send)
            return
        if faults.roll(cfg.error_rate):
            faults.note("error")
            status = faults.rng.choice([500, 502, 503])
            body = f"<html><body><h1>{status} Server Error</h1></body></html>"
            await Response(body, status, media_type="text/html")(scope, receive, send)
            return
        if faults.roll(cfg.malformed_rate):
            faults.note("malformed")
            page = "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>"
            await Response(page, 200, media_type="text/html")(scope, receive, send)
            return
        mutation = None
        if faults.roll(cfg.truncated_rate):
            mutation = "truncated"
        elif faults.roll(cfg.bad_field_rate):
            mutation = "bad_field"
        elif faults.roll(cfg.unknown_type_rate):
            mutation = "unknown_type"
        if mutation is None:
            await self.app(scope, receive, send)
            return
        await self._mutated(mutation, scope, receive, send)

    async def _hang(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANG_SECONDS
        while loop.time() < deadline and not self.faults.stop.is_set():
            await asyncio.sleep(0.05)

    async def _mutated(self, mutation: str, scope: Scope, receive: Receive, send: Send) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        ok = 200 <= start.get("status", 500) < 300
        if ok and mutation == "truncated" and len(body) > 2:
            body = body[: max(1, len(body) // 2)]
            self.faults.note("truncated")
        elif ok and mutation in ("bad_field", "unknown_type"):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            changed = False
            if data is not None:
                if mutation == "bad_field":
                    changed = corrupt_field(data, self.faults.rng)
                else:
                    changed = self.hooks.unknown_type(data, self.faults.rng)
            if changed:
                body = json.dumps(data).encode()
                self.faults.note(mutation)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 500), "headers": headers})
        await send({"type": "http.response.body", "body": body})


def fault_injecting_app(state: Any, routes: list, hooks: FaultHooks) -> Starlette:
    """A partner emulator's Starlette app: its routes behind the fault middleware, its state on ``app.state``."""
    app = Starlette(
        routes=routes, middleware=[Middleware(FaultMiddleware, faults=state.faults, hooks=hooks, stats=state.stats)]
    )
    app.state.emulator = state
    return app
