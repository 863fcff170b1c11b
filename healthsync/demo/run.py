"""The main job on the embedded default: everything in one process, no other service.

Partner emulators on loopback, the host app on a threaded WSGI server, demo users who connect through the real
OAuth flow (login, consent page, callback), the embedded worker syncing them, and a summary of what arrived.
Then, unless ``once``: simulated devices keep uploading on an accelerated clock (``devices.py``), the worker polls
every few seconds, and the diary and the operator dashboard refresh themselves as syncs land.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.utils import timezone

from healthsync.demo.browser import AppBrowser
from healthsync.demo.devices import DeviceSimulator
from healthsync.emulators import EmulatorServer, start_emulator
from healthsync.models import Connection, SyncRun, record_models
from healthsync.progress import progress_bar
from healthsync.scheduling.worker import EmbeddedWorker

PASSWORD = "demo"
#: how often the demo polls each partner (seconds): fast enough to watch, far inside every partner limit
DEMO_SYNC_EVERY = {"strava": 20, "withings": 15, "oura": 15}
#: push in the demo: partners notify our webhook views; a share of notifications is lost on purpose, so the
#: reconciling polls find what push missed and the operator dashboard has a miss rate to show
DEMO_PUSH_LOSS = 0.1
DEMO_RECONCILE_SECONDS = 45
MEALS = (("Breakfast", 350, 650), ("Lunch", 550, 900), ("Dinner", 600, 1000), ("Snack", 120, 350))
#: which services each demo user connects, in turn
SERVICE_PLAN = [("strava", "withings", "oura"), ("strava", "oura"), ("withings",), ("oura", "withings")]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """The demo prints a summary instead of an access log."""


@dataclass
class Demo:
    users: int = 4
    port: int = 8000
    emulator_port: int = 8701
    out: TextIO | None = None
    emulators: dict[str, EmulatorServer] = field(default_factory=dict)
    server: ThreadedWSGIServer | None = None
    worker: EmbeddedWorker | None = None
    devices: DeviceSimulator | None = None
    speed: float = 180.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def say(self, text: str) -> None:
        if self.out:
            self.out.write(text + "\n")
            self.out.flush()

    # --- the steps ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        call_command("migrate", verbosity=0)
        settings.HEALTHSYNC["CLIENT_SYNC_MIN_SECONDS"] = 5  # the demo's "Sync now" may be pressed often
        settings.HEALTHSYNC["WEBHOOKS"] = {
            **settings.HEALTHSYNC.get("WEBHOOKS", {}),
            "BASE_URL": self.url,  # the emulators call our webhook views on loopback
            "DEBOUNCE_SECONDS": 2.0,
            "RECONCILE_SECONDS": DEMO_RECONCILE_SECONDS,
        }
        for offset, slug in enumerate(("strava", "withings", "oura")):
            port = self.emulator_port + offset
            ensure_free(port, f"the {slug} emulator")
            self.emulators[slug] = start_emulator(slug, seed=2013, users=max(self.users, 3), port=port)
            settings.HEALTHSYNC["PROVIDERS"][slug]["origin"] = self.emulators[slug].base_url
            settings.HEALTHSYNC["PROVIDERS"][slug]["sync_every_seconds"] = DEMO_SYNC_EVERY[slug]
            self.say(f"  {slug + ' emulator':<20} {self.emulators[slug].base_url}")
        ensure_free(self.port, "the example app")
        self.server = ThreadedWSGIServer(("127.0.0.1", self.port), QuietHandler, allow_reuse_address=True)
        self.server.set_app(StaticFilesHandler(WSGIHandler()))
        threading.Thread(target=self.server.serve_forever, name="demo-app", daemon=True).start()
        self.say(f"  {'example app':<20} {self.url}")
        self.worker = EmbeddedWorker(threads=4, tick_seconds=1.0)
        self.devices = DeviceSimulator(self.emulators, speed=self.speed)

    def progress(self, total: int, desc: str):  # noqa: ANN201
        """A progress bar on a terminal (tqdm); nothing when the output is a pipe or tqdm is missing."""
        return progress_bar(self.out, total, desc)

    def create_users(self) -> list[str]:
        users = get_user_model().objects
        if not users.filter(username="admin").exists():
            users.create_superuser("admin", "admin@example.com", "admin")
        names = [f"demo{i + 1}" for i in range(self.users)]
        for name in names:
            if not users.filter(username=name).exists():
                user = users.create_user(name, f"{name}@example.com", PASSWORD)
                self.seed_meals(user)
        return names

    @staticmethod
    def seed_meals(user) -> None:  # noqa: ANN001
        """The diary's own data: a month of logged meals, so "calories eaten" has something beside "burned"."""
        from diary.models import FoodEntry

        r = random.Random(f"meals:{user.username}")
        today = timezone.localdate()
        entries = []
        for back in range(30):
            day = today - dt.timedelta(days=back)
            for name, low, high in MEALS:
                if name == "Snack" and r.random() < 0.5:
                    continue
                entries.append(FoodEntry(user=user, date=day, name=name, energy_kcal=r.randint(low, high)))
        FoodEntry.objects.bulk_create(entries)

    def connect_users(self, names: list[str]) -> int:
        """Each demo user logs in and connects their services through the partners' consent pages."""
        made = 0
        plan = [(i, name, slug) for i, name in enumerate(names) for slug in SERVICE_PLAN[i % len(SERVICE_PLAN)]]
        with self.progress(len(plan), "connecting demo users (OAuth)") as bar:
            browsers: dict[str, AppBrowser] = {}
            for index, name, slug in plan:
                if name not in browsers:
                    browsers[name] = AppBrowser(self.url)
                    browsers[name].login(name, PASSWORD)
                if not Connection.objects.filter(user__username=name, provider=slug, status="active").exists():
                    partner_users = self.emulators[slug].state.users()
                    browsers[name].connect(slug, partner_users[index % len(partner_users)]["username"])
                    made += 1
                bar.update(1)
            for browser in browsers.values():
                browser.close()
        return made

    def setup_push(self) -> list[str]:
        """Subscribe to every partner's notifications (the partners call us back to verify), with some loss."""
        try:
            from healthsync.webhooks import conf as push_conf
            from healthsync.webhooks import subscriptions
        except ImportError:  # pragma: no cover - a build without the webhooks module
            return []
        pushing = []
        for slug, server in self.emulators.items():
            if not push_conf.enabled(slug):
                continue
            try:
                httpx.post(f"{server.base_url}/_emulator/push", json={"loss": DEMO_PUSH_LOSS, "seed": 2013},
                           timeout=10).raise_for_status()
                subscriptions.ensure(slug)
                pushing.append(slug)
            except Exception as exc:  # the demo still works by polling alone
                self.say(f"  push for {slug} not set up ({type(exc).__name__}: {exc}); polling only")
        return pushing

    def sync_all(self, timeout: float = 120.0) -> list[SyncRun]:
        """Make every connection due and let the embedded worker sync them."""
        started = timezone.now()
        pending = Connection.objects.exclude(status=Connection.Status.REVOKED)
        expected = pending.count()
        pending.update(next_sync_at=started)
        deadline = time.monotonic() + timeout
        with self.progress(expected, "first sync (backfill)") as bar:
            while time.monotonic() < deadline:
                self.worker.tick()
                done = SyncRun.objects.filter(started_at__gte=started).exclude(outcome=SyncRun.Outcome.RUNNING)
                finished = done.count()
                bar.update(min(finished, expected) - bar.n)
                if finished >= expected and not self.worker.running:
                    break
                time.sleep(0.2)
        return list(SyncRun.objects.filter(started_at__gte=started).select_related("connection"))

    def heartbeat(self) -> str:
        since = timezone.now() - dt.timedelta(seconds=30)
        runs = SyncRun.objects.filter(started_at__gte=since).exclude(outcome=SyncRun.Outcome.RUNNING)
        found = sum(1 for r in runs if r.found_new_data)
        uploads = sum(self.devices.uploads.values()) if self.devices else 0
        hours = self.devices.simulated_hours if self.devices else 0
        return (f"  [{timezone.localtime():%H:%M:%S}] simulated hour {hours}:"
                f" {uploads} device uploads so far; last 30 s: {runs.count()} syncs, {found} found new data")

    def summary(self, runs: list[SyncRun]) -> None:
        self.say("\nSync runs:")
        for run in sorted(runs, key=lambda r: (r.connection.user_id, r.connection.provider)):
            self.say(
                f"  {run.connection.user.username:<7} {run.connection.provider:<9} {run.outcome:<8} "
                f"{run.records_new:>5} new {run.records_changed:>4} changed {run.requests:>3} requests"
                + (f"  ({run.error.splitlines()[0][:70]})" if run.error else "")
            )
        self.say("\nRecords in the database, by type and partner:")
        for kind, model in record_models().items():
            per = Counter(model.objects.values_list("provider", flat=True))
            if per:
                self.say(f"  {kind:<15} " + ", ".join(f"{p}: {n}" for p, n in sorted(per.items())))

    def stop(self) -> None:
        if self.devices:
            self.devices.stop()
        if self.worker:
            self.worker.stop(wait=True)
        if self.server:
            self.server.shutdown()
        for server in self.emulators.values():
            server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def ensure_free(port: int, what: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} for {what} is taken (is another demo running?); pick other ports")


def run(users: int, port: int, emulator_port: int, once: bool, out: TextIO) -> None:
    demo = Demo(users=users, port=port, emulator_port=emulator_port, out=out)
    if threading.current_thread() is threading.main_thread():  # SIGTERM stops the demo as cleanly as Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)
    demo.say("Starting the healthsync demo (SQLite, in-process workers, no other service):")
    try:
        demo.start()
        names = demo.create_users()
        made = demo.connect_users(names)
        demo.say(f"\nConnected {made} new services for {len(names)} demo users through the real OAuth flow.")
        demo.summary(demo.sync_all())
        pushing = [] if once else demo.setup_push()  # after the backfill: the miss rate measures live changes
        if pushing:
            demo.say(f"\nSubscribed to push notifications from {', '.join(pushing)} "
                     f"({DEMO_PUSH_LOSS:.0%} lost on purpose: polls every {DEMO_RECONCILE_SECONDS} s reconcile).")
        demo.say(
            f"\nOpen {demo.url}/ and log in as demo1 / {PASSWORD}   (demo2…demo{len(names)} too)"
            f"\n  operator dashboard: {demo.url}/healthsync/dashboard/?window=15m  (admin / admin)"
            f"\n  admin:              {demo.url}/admin/  (admin / admin)"
            f"\n  Prometheus metrics: {demo.url}/healthsync/metrics"
            f"\n  REST API schema:    {demo.url}/healthsync/api/schema/"
        )
        if once:
            demo.say("\n(--once: the demo stops now; ./scripts/demo keeps it serving, with devices uploading live.)")
            return
        demo.say(
            f"\nDevices keep uploading on an accelerated clock ({demo.speed:.0f}x: a person's hour every "
            f"{demo.devices.real_seconds_per_hour:.0f} s); the worker polls every "
            f"{min(DEMO_SYNC_EVERY.values())}-{max(DEMO_SYNC_EVERY.values())} s and the pages refresh themselves."
            "\nCtrl-C stops the demo."
        )
        demo.worker.start()
        demo.devices.start()
        last = time.monotonic()
        while True:
            time.sleep(1)
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                demo.say(demo.heartbeat())
    except KeyboardInterrupt:
        demo.say("\nstopping")
    finally:
        demo.stop()
