"""End-to-end syncs/s and records/s on the Celery executor with 1, 2 and 4 worker processes: the scaling ratio.

``.venv/bin/python -m bench.throughput --json PATH [--connections N] [--workers 1,2,4] [--latency-ms 50]``.
PostgreSQL (a throwaway database), Redis (database 8, flushed), the Strava emulator on loopback with 50 ms of
simulated latency on every API call, N connections made through the real OAuth flow. For each worker count:
start that many ``celery worker --concurrency=1`` processes and the tick process, mark every connection due,
and time until each has a successful sync (first syncs: the whole backfill, stored). The emulator's limits and
our budget are raised so that partner windows do not cap the figure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import scale_common as common

REDIS_URL = os.environ.get("HEALTHSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=120)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--latency-ms", type=int, default=50)
    args = p.parse_args()
    common.setup(postgres=True)

    import redis
    from django.db import connection as db
    from django.db.models import Sum
    from django.utils import timezone

    from healthsync.emulators import start_emulator
    from healthsync.models import EndpointState, HealthRecord, SyncRun, record_models
    from healthsync.sync import session
    from tests.faults.cluster import Cluster, wait_for

    assert HealthRecord
    rounds = []
    with common.throwaway_database("bench_throughput") as name, start_emulator(
        "strava", seed=11, users=args.connections, limits=(10**7, 10**8, 10**7, 10**8)
    ) as strava:
        common.point_at("strava", strava.base_url)
        session.client_for.cache_clear()
        accounts = [u["username"] for u in strava.state.users()]
        connections = common.connect_users(strava.base_url, "strava", accounts)
        ids = [c.pk for c in connections]
        strava.state.set_faults(latency_ms=args.latency_ms)
        s = db.settings_dict
        database_url = f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"
        overrides = {
            "EXECUTOR": "celery",
            "CELERY_BROKER_URL": REDIS_URL,
            "RATE_LIMIT_STORAGE": REDIS_URL,
            "LEASE_SECONDS": 120,
            "TICK_SECONDS": 0.2,
            "PROVIDERS": {
                "strava": {
                    "client_id": "demo-client",
                    "client_secret": "demo-secret",
                    "origin": strava.base_url,
                    "app_limits": ["10000000 per 15 minutes aligned"],
                }
            },
        }
        for workers in [int(w) for w in args.workers.split(",")]:
            for model in record_models().values():
                model.objects.filter(connection_id__in=ids).delete()
            SyncRun.objects.filter(connection_id__in=ids).delete()
            EndpointState.objects.filter(connection_id__in=ids).delete()
            type(connections[0]).objects.filter(pk__in=ids).update(
                next_sync_at=timezone.now() + timezone.timedelta(days=1), last_success_at=None
            )
            redis.Redis.from_url(REDIS_URL).flushdb()
            workdir = common.ROOT / "var" / "bench" / f"throughput-{workers}"
            workdir.mkdir(parents=True, exist_ok=True)
            cluster = Cluster(Path(workdir), database_url, REDIS_URL, overrides)
            try:
                for _ in range(workers):
                    cluster.start_worker(concurrency=1)
                cluster.wait_ready()
                started = timezone.now()
                type(connections[0]).objects.filter(pk__in=ids).update(next_sync_at=started)
                t0 = time.perf_counter()
                cluster.start_tick(interval=0.2)

                def done(cluster: Cluster = cluster, started=started) -> bool:  # noqa: ANN001
                    cluster.assert_alive()
                    return (
                        SyncRun.objects.filter(connection_id__in=ids, outcome="success", started_at__gte=started)
                        .values("connection_id").distinct().count() == len(ids)
                    )  # fmt: skip

                wait_for(done, 600, "every connection to sync", every=0.05)
                elapsed = time.perf_counter() - t0
            finally:
                cluster.stop()
            runs = SyncRun.objects.filter(connection_id__in=ids, started_at__gte=started)
            records = runs.aggregate(n=Sum("records_new"))["n"] or 0
            rounds.append(
                {
                    "workers": workers,
                    "syncs": len(ids),
                    "runs": runs.count(),
                    "records": records,
                    "seconds": round(elapsed, 2),
                    "syncs_per_second": round(len(ids) / elapsed, 2),
                    "records_per_second": round(records / elapsed, 1),
                }
            )
            print(rounds[-1], flush=True)
    base = rounds[0]["syncs_per_second"]
    result = {
        "latency_ms": args.latency_ms,
        "connections": args.connections,
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "scaling": {str(r["workers"]): round(r["syncs_per_second"] / base, 2) for r in rounds},
    }
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
