"""``manage.py healthsync_demo``: the main job on the embedded default (see healthsync/demo/run.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from healthsync.demo import run


class Command(BaseCommand):
    help = "Start the emulators and the app, connect demo users through OAuth, sync them, keep serving."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--users", type=int, default=4)
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--emulator-port", type=int, default=8701, help="first of three ports")
        parser.add_argument("--once", action="store_true", help="exit after the first sync instead of serving")

    def handle(self, *args, users: int, port: int, emulator_port: int, once: bool, **options) -> None:  # noqa: ANN002, ANN003
        run.run(users=users, port=port, emulator_port=emulator_port, once=once, out=self.stdout)
