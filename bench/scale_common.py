"""Shared plumbing of the scale benchmarks (throughput, queries, tick, ingest): Django set-up on a throwaway
database, connected users through the real OAuth flow, and the JSON output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def setup(postgres: bool) -> None:
    """Configure Django for the example project; PostgreSQL when asked (HEALTHSYNC_DB=postgres)."""
    if postgres:
        os.environ["HEALTHSYNC_DB"] = "postgres"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    for path in (str(ROOT / "example"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()


@contextmanager
def throwaway_database(name: str):  # noqa: ANN201
    """A fresh database (``test_<name>``) with every migration applied, dropped afterwards."""
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.settings_dict.setdefault("TEST", {})
    connection.settings_dict["TEST"]["NAME"] = f"test_{name}" if connection.vendor == "postgresql" else None
    old = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        connection.creation.destroy_test_db(old, verbosity=0)


def connect_users(partner_url: str, slug: str, usernames: list[str]) -> list:
    """Local users connected to the partner's accounts through our connect view and the emulator's consent page."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from healthsync.models import Connection
    from tests.oauth_helpers import connect

    made = []
    for username in usernames:
        user = get_user_model().objects.create_user(f"{slug}-{username}", password="pw")
        client = Client()
        client.force_login(user)
        response = connect(client, slug, username=username)
        assert response.status_code == 302, response.content[:200]
        made.append(Connection.objects.get(user=user, provider=slug))
    return made


def point_at(slug: str, url: str, **extra: Any) -> None:
    from django.conf import settings

    providers = dict(settings.HEALTHSYNC["PROVIDERS"])
    providers[slug] = {**providers.get(slug, {}), "origin": url, **extra}
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "PROVIDERS": providers}


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    return p


def emit(result: dict[str, Any], path: str | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
