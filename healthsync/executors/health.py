"""Health checks for the Celery executor: the tick's heartbeat, the workers' replies, the queues' depths.

``python -m healthsync.executors.health [tick|workers|all] [--max-age S] [--min-workers N] [--timeout S]``
prints JSON and exits 0 when healthy, 1 when not (for a container's HEALTHCHECK or a monitor). For one worker's
own liveness, Celery's ``celery -A healthsync.executors.celery_app inspect ping -d celery@$HOSTNAME`` also works.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from django.core.cache import caches

from healthsync import conf


def tick_health(max_age: float | None = None) -> dict[str, Any]:
    from healthsync.executors.tick import HEARTBEAT_KEY

    max_age = max_age if max_age is not None else 5 * conf.get("TICK_SECONDS") + 10
    raw = caches[conf.get("LOCK_CACHE")].get(HEARTBEAT_KEY)
    if raw is None:
        return {"ok": False, "reason": "no tick heartbeat yet"}
    beat = json.loads(raw)
    age = time.time() - beat["at"]
    ok = age <= max_age and not beat.get("error")
    reason = "" if ok else (beat.get("error") or f"last tick {age:.0f}s ago (max {max_age:.0f}s)")
    return {"ok": ok, "age_seconds": round(age, 2), "last_claimed": beat["claimed"], "reason": reason}


def worker_health(min_workers: int = 1, timeout: float = 2.0) -> dict[str, Any]:
    from healthsync.executors.celery_app import app
    from healthsync.executors.tick import queued

    try:
        replies = app.control.ping(timeout=timeout)
        depths = queued()
    except Exception as exc:  # the broker is unreachable
        return {"ok": False, "reason": f"broker unreachable: {type(exc).__name__}: {exc}"}
    names = sorted(name for reply in replies for name in reply)
    ok = len(names) >= min_workers
    return {
        "ok": ok,
        "workers": names,
        "queued": depths,
        "reason": "" if ok else f"{len(names)} worker(s) answered, {min_workers} needed",
    }


def main(argv: list[str] | None = None) -> int:
    import django

    django.setup()
    parser = argparse.ArgumentParser(prog="python -m healthsync.executors.health")
    parser.add_argument("check", nargs="?", choices=["tick", "workers", "all"], default="all")
    parser.add_argument("--max-age", type=float, default=None, help="oldest acceptable tick heartbeat, seconds")
    parser.add_argument("--min-workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for worker replies")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    if args.check in ("tick", "all"):
        report["tick"] = tick_health(args.max_age)
    if args.check in ("workers", "all"):
        report["workers"] = worker_health(args.min_workers, args.timeout)
    report["ok"] = all(part["ok"] for part in report.values())
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
