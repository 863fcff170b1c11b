"""Sync connections now, in this process: ``manage.py healthsync_sync [--user NAME] [--provider SLUG]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from healthsync.models import Connection, SyncRun
from healthsync.progress import progress_bar
from healthsync.sync.engine import sync
from healthsync.sync.lease import AlreadySyncing


class Command(BaseCommand):
    help = "Sync connections now and print what each run found."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--user", help="only this username")
        parser.add_argument("--provider", help="only this provider slug")

    def handle(self, *args, user: str | None = None, provider: str | None = None, **options) -> None:  # noqa: ANN002, ANN003
        connections = Connection.objects.exclude(status=Connection.Status.REVOKED).select_related("user")
        if user:
            connections = connections.filter(user__username=user)
        if provider:
            connections = connections.filter(provider=provider)
        todo = list(connections.order_by("pk"))
        with progress_bar(self.stdout, len(todo), "syncing (backfill on first sync)") as bar:
            for connection in todo:
                self._sync_one(connection, bar)

    def _sync_one(self, connection: Connection, bar) -> None:  # noqa: ANN001
        label = f"{connection.user} / {connection.provider}"
        try:
            run = sync(connection, trigger=SyncRun.Trigger.MANUAL)
        except AlreadySyncing:
            bar.write(f"{label}: already syncing elsewhere", self.stdout)
            bar.update(1)
            return
        bar.write(
            f"{label}: {run.outcome} — {run.records_new} new, {run.records_changed} changed, "
            f"{run.records_deleted} deleted, {run.records_skipped} skipped, {run.requests} requests"
            + (f"\n    {run.error}" if run.error else ""),
            self.stdout,
        )
        bar.update(1)
