"""The embedded executor: a tick loop feeding an in-process thread pool. No other service needed."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import close_old_connections

from healthsync.models import Connection, SyncRun
from healthsync.scheduling.tick import claim_due
from healthsync.sync.engine import sync
from healthsync.sync.lease import AlreadySyncing

log = logging.getLogger(__name__)


def _sync_one(connection_id: int, trigger: str) -> SyncRun | None:
    close_old_connections()
    try:
        return sync(Connection.objects.get(pk=connection_id), trigger=trigger)
    except AlreadySyncing:
        return None
    except Exception:
        log.exception("sync of connection %s crashed", connection_id)
        raise
    finally:
        close_old_connections()


class EmbeddedWorker:
    """Claims due connections every ``tick_seconds`` and syncs them on ``threads`` threads."""

    def __init__(self, threads: int = 4, tick_seconds: float = 1.0) -> None:
        self.threads = threads
        self.tick_seconds = tick_seconds
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="healthsync")
        self.running: set[Future] = set()
        self.stopping = threading.Event()

    def submit(self, connection_id: int, trigger: str = SyncRun.Trigger.MANUAL) -> Future:
        future = self.pool.submit(_sync_one, connection_id, trigger)
        self.running.add(future)
        future.add_done_callback(self.running.discard)
        return future

    def tick(self) -> int:
        free = self.threads - len(self.running)
        if free <= 0:
            return 0
        claimed = claim_due(free)
        for connection in claimed:
            self.submit(connection.pk, SyncRun.Trigger.SCHEDULED)
        return len(claimed)

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            self.tick()
            self.stopping.wait(self.tick_seconds)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="healthsync-tick", daemon=True)
        thread.start()
        return thread

    def stop(self, wait: bool = True) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=wait)

    def drain(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
