"""Partner emulators: faithful local fakes of partner APIs (Strava, Withings, Oura) over real HTTP."""

from __future__ import annotations

from starlette.applications import Starlette

from .clock import Clock
from .server import EmulatorServer

SLUGS = ("strava", "withings", "oura")


def create_app(slug: str, seed: int = 0, users: int = 3, clock: Clock | None = None, **options: object) -> Starlette:
    if slug == "strava":
        from .strava import create_app as factory
    elif slug == "withings":
        from .withings import create_app as factory
    elif slug == "oura":
        from .oura import create_app as factory
    else:
        raise ValueError(f"unknown emulator {slug!r}; choose from {SLUGS}")
    return factory(seed=seed, users=users, clock=clock, **options)  # type: ignore[arg-type]


def start_emulator(
    slug: str, seed: int = 0, users: int = 3, port: int = 0, clock: Clock | None = None, **options: object
) -> EmulatorServer:
    """Start the ``slug`` emulator on 127.0.0.1 (``port=0``: a free port); call ``.stop()`` when done."""
    return EmulatorServer(create_app(slug, seed=seed, users=users, clock=clock, **options), port=port).start()


__all__ = ["Clock", "EmulatorServer", "SLUGS", "create_app", "start_emulator"]
