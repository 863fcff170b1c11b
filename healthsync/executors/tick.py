"""The tick process of the Celery executor: claim due connections, enqueue one task each on commit.

Run one (or a few: ``FOR UPDATE SKIP LOCKED`` keeps them from claiming the same row) with
``python -m healthsync.executors.tick``. Schedule state is data (``Connection.next_sync_at``), so there is no
per-connection beat entry and no ETA task. A claimed row is pushed a lease ahead; if its task is lost (a
broker restart, a killed worker) it simply falls due again. The tick claims no more than the queues can take
(``TICK_MAX_QUEUED``), so a slow fleet is never buried under stale messages.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time

from django.core.cache import caches
from django.db import close_old_connections, transaction

from healthsync import conf

log = logging.getLogger(__name__)
HEARTBEAT_KEY = "healthsync:tick:heartbeat"


def queued() -> dict[str, int]:
    """Messages waiting in each healthsync queue (not those a worker is running)."""
    from kombu.exceptions import ChannelError

    from healthsync.executors.celery_app import PURPOSES, app, queue_name

    depths = {}
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for p in PURPOSES:
            try:
                depths[queue_name(p)] = channel.queue_declare(queue_name(p), passive=True).message_count
            except ChannelError:  # never declared yet: nothing waits in it
                depths[queue_name(p)] = 0
    return depths


def tick_once(batch: int | None = None) -> int:
    """Claim up to ``batch`` due connections (less when the queues are full) and enqueue them; returns how many."""
    from healthsync.executors.tasks import send_on_commit
    from healthsync.models import SyncRun
    from healthsync.scheduling.tick import claim_due

    batch = batch or conf.get("TICK_BATCH")
    room = conf.get("TICK_MAX_QUEUED") - sum(queued().values())
    limit = min(batch, room)
    if limit <= 0:
        return 0
    with transaction.atomic():
        claimed = claim_due(limit)
        if claimed:
            send_on_commit([(c, SyncRun.Trigger.SCHEDULED) for c in claimed])
    return len(claimed)


def beat(claimed: int, error: str = "") -> None:
    """Record that the tick is alive (read by ``python -m healthsync.executors.health tick``)."""
    value = json.dumps({"at": time.time(), "claimed": claimed, "error": error})
    caches[conf.get("LOCK_CACHE")].set(HEARTBEAT_KEY, value, timeout=None)


class Ticker:
    def __init__(self, interval: float | None = None, batch: int | None = None) -> None:
        self.interval = interval if interval is not None else conf.get("TICK_SECONDS")
        self.batch = batch or conf.get("TICK_BATCH")
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            claimed, error = 0, ""
            try:
                claimed = tick_once(self.batch)
            except Exception as exc:  # a dropped database or broker connection: log, reconnect, carry on
                error = f"{type(exc).__name__}: {exc}"
                log.warning("tick failed: %s", error)
                close_old_connections()
            try:
                beat(claimed, error)
            except Exception as exc:
                log.warning("tick heartbeat not written: %s", exc)
            close_old_connections()
            if claimed < self.batch or error:  # a full batch means more is due: go again at once
                self.stopping.wait(self.interval)

    def stop(self, *_: object) -> None:
        self.stopping.set()


def main(argv: list[str] | None = None) -> None:
    import django

    django.setup()
    parser = argparse.ArgumentParser(prog="python -m healthsync.executors.tick", description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=None, help="seconds between ticks (TICK_SECONDS)")
    parser.add_argument("--batch", type=int, default=None, help="rows claimed per tick at most (TICK_BATCH)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s tick %(levelname)s %(message)s")
    ticker = Ticker(args.interval, args.batch)
    signal.signal(signal.SIGTERM, ticker.stop)
    signal.signal(signal.SIGINT, ticker.stop)
    log.info("healthsync tick: every %ss, up to %s rows", ticker.interval, ticker.batch)
    ticker.run()


if __name__ == "__main__":
    main()
