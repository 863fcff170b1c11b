"""SQL queries per sync for 10, 100 and 1,000 new records: the count must not grow with the records.

``.venv/bin/python -m bench.queries --json PATH`` (SQLite; ``--postgres`` for PostgreSQL). One Strava connection
made through the real OAuth flow against the emulator; before each measured sync the emulator gets N new
activities; every SQL statement of ``sync()`` is counted with Django's CaptureQueriesContext.
"""

from __future__ import annotations

import collections

from bench import scale_common as common


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--postgres", action="store_true", help="use PostgreSQL (DATABASE_URL_POSTGRES)")
    args = p.parse_args()
    common.setup(args.postgres)

    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from healthsync.emulators import start_emulator
    from healthsync.models import Workout
    from healthsync.sync import session
    from healthsync.sync.engine import sync

    result: dict = {"database": None, "queries_per_sync": {}, "records_new": {}, "by_statement": {}}
    with common.throwaway_database("bench_queries"), start_emulator("strava", seed=3, users=1) as strava:
        result["database"] = db.vendor
        common.point_at("strava", strava.base_url)
        session.client_for.cache_clear()
        account = strava.state.users()[0]
        (connection,) = common.connect_users(strava.base_url, "strava", [account["username"]])
        sync(connection)  # the first backfill, not measured
        for n in (10, 100, 1000):
            for _ in range(n):
                strava.state.upload(connection.external_user_id, "workout")
            connection.refresh_from_db()
            with CaptureQueriesContext(db) as captured:
                run = sync(connection)
            assert run.outcome == "success", run.error
            result["queries_per_sync"][str(n)] = len(captured.captured_queries)
            result["records_new"][str(n)] = run.records_new
            result["by_statement"][str(n)] = dict(
                collections.Counter(q["sql"].split()[0].upper() for q in captured.captured_queries)
            )
        result["workouts_stored"] = Workout.objects.filter(connection=connection).count()
    counts = set(result["queries_per_sync"].values())
    result["constant"] = len(counts) == 1
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
