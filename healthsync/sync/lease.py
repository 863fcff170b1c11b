"""The per-connection lock: a cache lease for efficiency, a database epoch for correctness.

The lease is the thesis's mechanism: an atomic ``cache.add`` of a key with a TTL, so one connection never
syncs twice at once across threads, processes and (with a shared cache such as Redis) machines. A lease can
expire under a paused or slow worker, so every commit also checks a fencing epoch in the database: the
epoch is bumped by each new holder, and a transaction whose epoch is stale writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from healthsync import conf, metrics
from healthsync.models import Connection

try:
    import fcntl
except ImportError:  # Windows: the file cache lease stays best-effort there (the epoch still fences)
    fcntl = None


class AlreadySyncing(Exception):  # noqa: N818 - a state, not a failure
    """Another worker holds this connection's lease."""


class LeaseLost(Exception):  # noqa: N818
    """Our lease expired and another worker took over: we must not commit."""


class Lease:
    def __init__(self, connection_id: int, seconds: int | None = None) -> None:
        self.key = f"healthsync:lease:{connection_id}"
        self.token = uuid.uuid4().hex
        self.seconds = seconds or conf.get("LEASE_SECONDS")
        self.cache = caches[conf.get("LOCK_CACHE")]

    def acquire(self) -> None:
        with self._exclusive():
            added = self.cache.add(self.key, self.token, self.seconds)
        if not added:
            metrics.lock_contended()
            raise AlreadySyncing(f"connection is already syncing ({self.key})")

    def renew(self) -> None:
        """Extend the lease while we still own it; stop early once we know someone else does."""
        if self.cache.get(self.key) != self.token:
            raise LeaseLost("the sync lease expired and was not renewed in time")
        self.cache.touch(self.key, self.seconds)

    def release(self) -> None:
        # Only the owner releases. The get/delete pair is not atomic on every cache backend; the worst case
        # frees a successor's lease early, which the fencing epoch keeps harmless.
        with self._exclusive():
            if self.cache.get(self.key) == self.token:
                self.cache.delete(self.key)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Django's file cache ``add`` is a check then a write, so two workers could both get the lease:
        serialize it (and release) with an exclusive lock file, across threads and processes."""
        if fcntl is None or not isinstance(self.cache, FileBasedCache):
            yield  # Redis, Memcached, locmem and the database cache add atomically
            return
        os.makedirs(self.cache._dir, exist_ok=True)
        with open(os.path.join(self.cache._dir, "healthsync-leases.lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def take_epoch(connection: Connection) -> int:
    """Become the newest holder: bump the connection's fencing epoch and return it."""
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(sync_epoch=F("sync_epoch") + 1)
        epoch = Connection.objects.values_list("sync_epoch", flat=True).get(pk=connection.pk)
    connection.sync_epoch = epoch
    return epoch


def fence(connection_id: int, epoch: int, **fields: object) -> None:
    """Inside a transaction: lock the connection row if our epoch is still current, else raise LeaseLost.

    The conditional UPDATE holds the row lock until commit, so a newer holder's epoch bump waits for us.
    """
    updated = Connection.objects.filter(pk=connection_id, sync_epoch=epoch).update(
        updated_at=timezone.now(), **fields
    )
    if not updated:
        raise LeaseLost("a newer sync took over this connection; this one's writes were discarded")
