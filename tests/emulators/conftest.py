"""Fixtures for the emulator tests: real HTTP servers on loopback with a frozen, fixed clock.

No database is needed; these tests run under the repo's pytest-django config as plain tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from emu_helpers import START

from healthsync.emulators import Clock, EmulatorServer, start_emulator


@pytest.fixture
def make_server() -> Iterator[Callable[..., EmulatorServer]]:
    servers: list[EmulatorServer] = []

    def make(slug: str, seed: int = 1, users: int = 3, **options: Any) -> EmulatorServer:
        clock = Clock(start=START, frozen=True)
        server = start_emulator(slug, seed=seed, users=users, clock=clock, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http() -> Iterator[Callable[[EmulatorServer], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: EmulatorServer, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=server.base_url, timeout=kwargs.pop("timeout", 10), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
