"""The embedded executor: ``manage.py healthsync_worker`` polls due connections until stopped."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from healthsync.scheduling.worker import EmbeddedWorker


class Command(BaseCommand):
    help = "Run the scheduler tick and an in-process pool of sync workers (the embedded default)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument("--tick", type=float, default=1.0, help="seconds between ticks")

    def handle(self, *args, threads: int, tick: float, **options) -> None:  # noqa: ANN002, ANN003
        worker = EmbeddedWorker(threads=threads, tick_seconds=tick)
        self.stdout.write(f"healthsync worker: {threads} threads, a tick every {tick}s; Ctrl-C stops")
        try:
            worker.run_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopping: waiting for running syncs")
        finally:
            worker.stop(wait=True)
