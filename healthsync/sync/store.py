"""Idempotent bulk upserts on the partner's natural key, plus deletions a complete window proves.

The number of SQL statements is fixed per record type touched, whatever the number of records: one SELECT of
the existing rows, one INSERT … ON CONFLICT DO UPDATE for new and changed rows, one DELETE.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import defaultdict
from dataclasses import dataclass

from django.db import connections, models, router

from healthsync.models import Connection, HealthRecord
from healthsync.providers.mapping import local_day

UNIQUE = ["user", "provider", "external_id"]


@dataclass
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: Counts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.deleted += other.deleted


def _prepare(connection: Connection, endpoint: str, records: list[HealthRecord]) -> None:
    for record in records:
        record.user_id = connection.user_id
        record.connection_id = connection.pk
        record.provider = connection.provider
        record.endpoint = endpoint
        record.external_id = str(record.external_id)
        if record.local_date is None:
            record.local_date = local_day(record.start, connection.timezone)


def upsert(connection: Connection, endpoint: str, records: list[HealthRecord]) -> Counts:
    _prepare(connection, endpoint, records)
    by_model: dict[type[HealthRecord], dict[str, HealthRecord]] = defaultdict(dict)
    for record in records:
        by_model[type(record)][record.external_id] = record  # a repeated id: the last one wins
    counts = Counts()
    for model, latest in by_model.items():
        counts.add(_upsert_model(connection, model, latest))
    return counts


def _use_runtime_variable_limit(alias: str) -> None:
    """Django assumes SQLite's historical limit of 999 bound variables, which splits a bulk upsert into one
    INSERT per ~50 rows; SQLite ≥ 3.32 allows 32766. Use the limit the linked SQLite library reports."""
    db = connections[alias]
    if db.vendor != "sqlite":
        return
    db.ensure_connection()
    limit = db.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    db.features.max_query_params = max(limit, 999)


def _upsert_model(connection: Connection, model: type[HealthRecord], latest: dict[str, HealthRecord]) -> Counts:
    _use_runtime_variable_limit(router.db_for_write(model))
    fields = model.payload_fields()
    stored = {
        row[0]: row[1:]
        for row in model.objects.filter(
            user_id=connection.user_id, provider=connection.provider, external_id__in=list(latest)
        ).values_list("external_id", *fields)
    }
    new = [r for key, r in latest.items() if key not in stored]
    changed = [r for key, r in latest.items() if key in stored and stored[key] != r.payload()]
    if new or changed:
        model.objects.bulk_create(
            new + changed,
            update_conflicts=True,
            unique_fields=UNIQUE,
            update_fields=[*fields, "connection", "endpoint", "synced_at"],
            batch_size=2000,
        )
    return Counts(new=len(new), changed=len(changed), unchanged=len(latest) - len(new) - len(changed))


def delete_missing(
    connection: Connection,
    endpoint: str,
    models_: list[type[HealthRecord]],
    window_start: dt.datetime,
    by_date: bool,
    kept: set[str],
) -> int:
    """Delete what the partner no longer has: rows of this feed inside a complete window that it did not return."""
    deleted = 0
    after = models.Q(local_date__gt=window_start.date()) if by_date else models.Q(start__gt=window_start)
    for model in models_:
        deleted += (
            model.objects.filter(after, user_id=connection.user_id, provider=connection.provider, endpoint=endpoint)
            .exclude(external_id__in=kept)
            .delete()[0]
        )
    return deleted
