"""Push on a demo population: the share of syncs push triggers, the measured miss rate, upload -> database delay.

    .venv/bin/python bench/push.py [--users 20] [--seconds 150] [--rate 1.0] [--loss 0.05] [--reconcile 60]

Three emulators (real clock) with ``--users`` synthetic users each, all connected (tokens issued directly, the
OAuth round trip is tested elsewhere) and backfilled; Strava and Oura app subscriptions, Withings per-user
Notify subscriptions; our app served on loopback. For ``--seconds``, synthetic users upload ``--rate`` records
a second (workouts, weigh-ins, sleep), on top of what their devices upload by themselves (daily totals hourly).
Each partner loses ``--loss`` of its notifications, delays them up to 2 s and reorders a few. The embedded
worker syncs what is due: webhook syncs after a 2 s debounce; every connection is also polled every
``--reconcile`` seconds (the push-aware fixed policy's slow interval). At the end, one last reconciliation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "example")]
VAR = Path(tempfile.mkdtemp(prefix="healthsync-push-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
os.environ.setdefault("HEALTHSYNC_SQLITE_PATH", str(VAR / "bench.sqlite3"))
os.environ.setdefault("HEALTHSYNC_CACHE", "locmem")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from django.utils import timezone  # noqa: E402

from healthsync.auth.connect import _store  # noqa: E402
from healthsync.emulators import start_emulator  # noqa: E402
from healthsync.models import (  # noqa: E402
    Connection,
    QuantitySample,
    SleepSession,
    SyncRun,
    WebhookEvent,
    Workout,
)
from healthsync.providers import get_provider  # noqa: E402
from healthsync.scheduling.worker import EmbeddedWorker  # noqa: E402
from healthsync.sync.engine import sync  # noqa: E402
from healthsync.webhooks import stats, subscriptions  # noqa: E402

KINDS = {"strava": ["workout"], "withings": ["weight", "workout", "sleep"], "oura": ["workout", "sleep"]}
MODELS = {"workout": Workout, "sleep": SleepSession, "weight": QuantitySample}


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def key(slug: str, kind: str, raw: dict) -> str:
    return f"{raw['grpid']}-1" if slug == "withings" and kind == "weight" else str(raw["id"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--rate", type=float, default=1.0, help="manual uploads per second, all partners")
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--reconcile", type=float, default=60, help="poll interval of a push connection (s)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    app = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    app.set_app(WSGIHandler())
    threading.Thread(target=app.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{app.server_address[1]}"
    settings.HEALTHSYNC.update(
        POLICY="healthsync.webhooks.policy.PushAwareFixedPolicy",
        WEBHOOKS={"BASE_URL": base, "DEBOUNCE_SECONDS": 2.0, "RECONCILE_SECONDS": args.reconcile},
    )
    emulators = {}
    for slug in KINDS:
        emulators[slug] = start_emulator(slug, seed=args.seed, users=args.users)
        settings.HEALTHSYNC["PROVIDERS"][slug]["origin"] = emulators[slug].base_url
    print(f"app {base}; emulators {', '.join(s.base_url for s in emulators.values())}; database {VAR}")

    users = get_user_model().objects
    connections: list[Connection] = []
    for slug, server in emulators.items():
        provider = get_provider(slug)
        for n, partner_user in enumerate(server.state.users()):
            user, _ = users.get_or_create(username=f"bench{n}")
            grant = server.state.issue_tokens(partner_user["username"])
            token = {"access_token": grant.access.token, "refresh_token": grant.refresh.token, "expires_in": 3600}
            connections.append(_store(provider, user.pk, partner_user["partner_user_id"], provider.scopes(), token))
    started = time.time()
    for connection in connections:
        sync(connection, SyncRun.Trigger.CONNECT)
    print(f"{len(connections)} connections backfilled in {time.time() - started:.0f} s")
    for slug, server in emulators.items():
        httpx.post(f"{server.base_url}/_emulator/push", json={
            "loss": args.loss, "delay_ms": 2000, "reorder": 0.05, "seed": args.seed}).raise_for_status()
        if slug != "withings":  # Withings subscribed each user on connect
            subscriptions.ensure(slug)
    since = timezone.now()
    Connection.objects.update(next_sync_at=timezone.now() + dt.timedelta(seconds=args.reconcile))
    worker = EmbeddedWorker(threads=8, tick_seconds=0.5)
    worker.start()

    rng, uploads = random.Random(args.seed), []
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        slug = rng.choice(list(KINDS))
        server = emulators[slug]
        who = rng.choice(server.state.users())["partner_user_id"]
        kind = rng.choice(KINDS[slug])
        raw = server.state.upload(who, kind)
        uploads.append((slug, kind, key(slug, kind, raw), time.time()))
        time.sleep(rng.expovariate(args.rate))
    print(f"{len(uploads)} manual uploads in {args.seconds:.0f} s; waiting for pushes and syncs to settle")
    for server in emulators.values():
        while server.state.pusher.report()["pending"]:
            time.sleep(0.2)
    time.sleep(3)
    worker.drain(60)
    while WebhookEvent.objects.filter(status="pending").exists():
        time.sleep(0.5)
    worker.drain(60)
    runs = SyncRun.objects.filter(started_at__gte=since).exclude(trigger=SyncRun.Trigger.CONNECT)
    by_trigger = {t: runs.filter(trigger=t).count() for t in (SyncRun.Trigger.WEBHOOK, SyncRun.Trigger.SCHEDULED)}
    Connection.objects.update(next_sync_at=timezone.now())  # the last reconciliation
    time.sleep(1)
    worker.drain(120)
    while Connection.objects.filter(next_sync_at__lte=timezone.now()).exists() or worker.running:
        time.sleep(0.5)
    worker.stop()

    delays, missing = [], []
    for slug, kind, external_id, uploaded in uploads:
        row = MODELS[kind].objects.filter(provider=slug, external_id=external_id).values_list("synced_at", flat=True)
        if row:
            delays.append(row[0].timestamp() - uploaded)
        else:
            missing.append((slug, external_id))
    push_reports = {slug: s.state.pusher.report() for slug, s in emulators.items()}
    total = sum(by_trigger.values())
    print("\n== push on a demo population ==")
    print(f"users per partner {args.users}, uploads {len(uploads)} ({args.rate}/s for {args.seconds:.0f} s), "
          f"notification loss {args.loss:.0%}, debounce 2 s, reconciliation every {args.reconcile:.0f} s")
    for slug, report in push_reports.items():
        print(f"  {slug:9} notifications {report['notifications']:5}  deliveries {report['counts']}")
    print(f"syncs during the run: {total}; push {by_trigger['webhook']} ({by_trigger['webhook'] / max(total, 1):.0%}), "
          f"polls {by_trigger['scheduled']} ({by_trigger['scheduled'] / max(total, 1):.0%})")
    for slug in KINDS:
        rate = stats.miss_rate(slug, since)
        lost = push_reports[slug]["counts"].get("dropped", 0) / max(push_reports[slug]["notifications"], 1)
        print(f"  {slug:9} measured miss rate {rate if rate is None else f'{rate:.1%}'} (emulator dropped {lost:.1%})")
    overall = [stats.miss_rate(s, since) for s in KINDS]
    print(f"miss rate, all partners (records): {statistics.mean(r for r in overall if r is not None):.1%}")
    if delays:
        q = statistics.quantiles(delays, n=10)
        print(f"upload -> database delay: median {statistics.median(delays):.1f} s, p90 {q[-1]:.1f} s, "
              f"max {max(delays):.1f} s over {len(delays)} uploads")
    print(f"uploads not in the database after reconciliation: {len(missing)} {missing[:5]}")
    if args.json:
        result = {
            "config": {k: getattr(args, k) for k in ("users", "seconds", "rate", "loss", "reconcile", "seed")},
            "uploads": len(uploads),
            "syncs": {"push": by_trigger["webhook"], "poll": by_trigger["scheduled"]},
            "push_share": by_trigger["webhook"] / max(total, 1),
            "miss_rate": {slug: stats.miss_rate(slug, since) for slug in KINDS},
            "dropped_share": {slug: r["counts"].get("dropped", 0) / max(r["notifications"], 1)
                              for slug, r in push_reports.items()},
            "delay_s": {"median": statistics.median(delays), "p90": statistics.quantiles(delays, n=10)[-1],
                        "max": max(delays)} if len(delays) > 1 else None,
            "missing_uploads": len(missing),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    for server in emulators.values():
        server.stop()
    app.shutdown()


if __name__ == "__main__":
    main()
