"""Bulk ingest into PostgreSQL: records per second through the sync engine's own write path.

``.venv/bin/python -m bench.ingest --json PATH [--records N] [--batch B]``. Writes N workouts for one
connection in batches of B with ``sync.store.upsert`` (one SELECT of the existing keys, one
INSERT ... ON CONFLICT DO UPDATE per batch, inside a transaction, as a sync commits a window), then writes the
same N again (all unchanged: the re-sync case) and once more with every record changed.
"""

from __future__ import annotations

import datetime as dt
import time

from bench import scale_common as common


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--sqlite", action="store_true", help="measure SQLite instead (the embedded default)")
    args = p.parse_args()
    common.setup(postgres=not args.sqlite)

    from django.contrib.auth import get_user_model
    from django.db import connection as db
    from django.db import transaction

    from healthsync.models import Connection, Workout
    from healthsync.sync.store import upsert

    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

    def records(version: int) -> list[list[Workout]]:
        batches = []
        for first in range(0, args.records, args.batch):
            batch = []
            for i in range(first, min(first + args.batch, args.records)):
                at = start + dt.timedelta(minutes=30 * i)
                batch.append(
                    Workout(external_id=str(i), sport="running", sport_raw="Run", name=f"run {i}", start=at,
                            end=at + dt.timedelta(minutes=25), duration_s=1500.0, distance_m=5000.0 + version,
                            energy_kcal=350.0, avg_heart_rate=150.0, max_heart_rate=175.0)  # fmt: skip
                )
            batches.append(batch)
        return batches

    def ingest(version: int) -> tuple[float, dict[str, int]]:
        prepared = records(version)
        totals = {"new": 0, "changed": 0, "unchanged": 0}
        t0 = time.perf_counter()
        for batch in prepared:
            with transaction.atomic():
                counts = upsert(connection, "bench", batch)
            totals["new"] += counts.new
            totals["changed"] += counts.changed
            totals["unchanged"] += counts.unchanged
        return time.perf_counter() - t0, totals

    with common.throwaway_database("bench_ingest"):
        user = get_user_model().objects.create_user("ingest")
        connection = Connection.objects.create(user=user, provider="strava", external_user_id="1")
        phases = {}
        for name, version in (("insert", 0), ("unchanged", 0), ("changed", 1)):
            seconds, totals = ingest(version)
            phases[name] = {
                "records": args.records,
                "seconds": round(seconds, 2),
                "records_per_second": round(args.records / seconds),
                **totals,
            }
        stored = Workout.objects.filter(connection=connection).count()
        vendor = db.vendor
    result = {
        "database": vendor,
        "batch": args.batch,
        "records_per_second": phases["insert"]["records_per_second"],
        "phases": phases,
        "stored": stored,
    }
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
