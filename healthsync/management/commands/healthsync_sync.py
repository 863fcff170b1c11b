"""Sync connections now, in this process: ``manage.py healthsync_sync [--user NAME] [--provider SLUG]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from healthsync.models import Connection, SyncRun
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
        for connection in connections.order_by("pk"):
            label = f"{connection.user} / {connection.provider}"
            try:
                run = sync(connection, trigger=SyncRun.Trigger.MANUAL)
            except AlreadySyncing:
                self.stdout.write(f"{label}: already syncing elsewhere")
                continue
            self.stdout.write(
                f"{label}: {run.outcome} — {run.records_new} new, {run.records_changed} changed, "
                f"{run.records_deleted} deleted, {run.records_skipped} skipped, {run.requests} requests"
                + (f"\n    {run.error}" if run.error else "")
            )
