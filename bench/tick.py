"""Scheduler tick with 1,000,000 connections in PostgreSQL: time to claim 1,000 due rows, and its query plan.

``.venv/bin/python -m bench.tick --json PATH [--connections N] [--due-fraction F] [--ticks T]``. Fills a
throwaway PostgreSQL database with N connections (users x the three partners, one INSERT ... SELECT
generate_series each), a fraction of them due, ANALYZEs, then times ``claim_due(1000)`` (the tick's own code:
SELECT ... FOR UPDATE SKIP LOCKED, then the UPDATE pushing them a lease ahead) T times and reports the median.
``uses_index`` is read from EXPLAIN of the claim's SELECT.
"""

from __future__ import annotations

import statistics
import time

from bench import scale_common as common

PROVIDERS = ("strava", "withings", "oura")


def fill(connections: int, due_fraction: float) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection as db

    from healthsync.models import Connection

    users = -(-connections // len(PROVIDERS))
    user_table = get_user_model()._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {user_table} (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) SELECT '!', false, 'u' || g, '', '', '', false, true, now() "
            "FROM generate_series(1, %s) g",
            [users],
        )
        cursor.execute(f"SELECT min(id) FROM {user_table}")
        first_user = cursor.fetchone()[0]
        columns, values = [], []
        fixed = {
            "user_id": "%(first)s + (g - 1) / 3",
            "provider": "(ARRAY['strava','withings','oura'])[1 + (g - 1) %% 3]",
            "external_user_id": "'x' || g",
            "status": "CASE WHEN g %% 50 = 0 THEN 'revoked' ELSE 'active' END",
            # a due fraction spread over the last hour; the rest due over the next day
            "next_sync_at": "CASE WHEN random() < %(due)s THEN now() - random() * interval '1 hour' "
            "ELSE now() + random() * interval '1 day' END",
        }
        for field in Connection._meta.concrete_fields:
            if field.primary_key:
                continue
            columns.append(field.column)
            if field.attname in fixed:
                values.append(fixed[field.attname])
            elif field.get_internal_type() == "JSONField":
                values.append("'[]'::jsonb")
            elif field.null:
                values.append("NULL")
            elif field.get_internal_type() in ("DateTimeField",):
                values.append("now()")
            elif field.get_internal_type() in ("PositiveIntegerField", "PositiveBigIntegerField", "IntegerField"):
                values.append("0")
            else:
                values.append("''" if not field.has_default() else f"'{field.get_default()}'")
        cursor.execute(
            f"INSERT INTO {Connection._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM generate_series(1, %(n)s) g",
            {"first": first_user, "due": due_fraction, "n": connections},
        )
        cursor.execute(f"ANALYZE {Connection._meta.db_table}")


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=1_000_000)
    p.add_argument("--due-fraction", type=float, default=0.05)
    p.add_argument("--claim", type=int, default=1000)
    p.add_argument("--ticks", type=int, default=21)
    args = p.parse_args()
    common.setup(postgres=True)

    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from healthsync.models import Connection
    from healthsync.scheduling.tick import claim_due

    with common.throwaway_database("bench_tick"):
        started = time.perf_counter()
        fill(args.connections, args.due_fraction)
        fill_seconds = time.perf_counter() - started
        total = Connection.objects.count()
        due_before = Connection.objects.filter(status="active", next_sync_at__lte=time_now()).count()
        claim_due(args.claim)  # warm the cache and the plan
        timings, claimed = [], []
        for _ in range(args.ticks):
            t0 = time.perf_counter()
            got = claim_due(args.claim)
            timings.append((time.perf_counter() - t0) * 1000)
            claimed.append(len(got))
        with CaptureQueriesContext(db) as captured:
            claim_due(args.claim)
        select = next(q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT"))
        with db.cursor() as cursor:
            cursor.execute("EXPLAIN " + select)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    result = {
        "connections": total,
        "due_before": due_before,
        "claimed": int(statistics.median(claimed)),
        "ticks": args.ticks,
        "tick_ms_median": round(statistics.median(timings), 2),
        "tick_ms_p90": round(sorted(timings)[int(0.9 * (len(timings) - 1))], 2),
        "uses_index": "Index" in plan and "Seq Scan" not in plan,
        "plan": plan.splitlines(),
        "fill_seconds": round(fill_seconds, 1),
    }
    common.emit(result, args.json)


def time_now():  # noqa: ANN201
    from django.utils import timezone

    return timezone.now()


if __name__ == "__main__":
    main()
