"""The main job on the embedded default: everything in one process, no other service.

Partner emulators on loopback, the host app on a threaded WSGI server, demo users who connect through the real
OAuth flow (login, consent page, callback), the embedded worker syncing them, and a summary of what arrived.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.utils import timezone

from healthsync.demo.browser import AppBrowser
from healthsync.emulators import EmulatorServer, start_emulator
from healthsync.models import Connection, SyncRun, record_models
from healthsync.scheduling.worker import EmbeddedWorker

PASSWORD = "demo"
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
        for offset, slug in enumerate(("strava", "withings", "oura")):
            port = self.emulator_port + offset
            ensure_free(port, f"the {slug} emulator")
            self.emulators[slug] = start_emulator(slug, seed=2013, users=max(self.users, 3), port=port)
            settings.HEALTHSYNC["PROVIDERS"][slug]["origin"] = self.emulators[slug].base_url
            self.say(f"  {slug} emulator       {self.emulators[slug].base_url}")
        ensure_free(self.port, "the example app")
        self.server = ThreadedWSGIServer(("127.0.0.1", self.port), QuietHandler, allow_reuse_address=True)
        self.server.set_app(StaticFilesHandler(WSGIHandler()))
        threading.Thread(target=self.server.serve_forever, name="demo-app", daemon=True).start()
        self.say(f"  example app          {self.url}")
        self.worker = EmbeddedWorker(threads=4, tick_seconds=1.0)

    def create_users(self) -> list[str]:
        users = get_user_model().objects
        if not users.filter(username="admin").exists():
            users.create_superuser("admin", "admin@example.com", "admin")
        names = [f"demo{i + 1}" for i in range(self.users)]
        for name in names:
            if not users.filter(username=name).exists():
                users.create_user(name, f"{name}@example.com", PASSWORD)
        return names

    def connect_users(self, names: list[str]) -> int:
        """Each demo user logs in and connects their services through the partners' consent pages."""
        made = 0
        for index, name in enumerate(names):
            browser = AppBrowser(self.url)
            browser.login(name, PASSWORD)
            for slug in SERVICE_PLAN[index % len(SERVICE_PLAN)]:
                if Connection.objects.filter(user__username=name, provider=slug, status="active").exists():
                    continue
                partner_users = self.emulators[slug].state.users()
                browser.connect(slug, partner_users[index % len(partner_users)]["username"])
                made += 1
            browser.close()
        return made

    def sync_all(self, timeout: float = 120.0) -> list[SyncRun]:
        """Make every connection due and let the embedded worker sync them."""
        started = timezone.now()
        pending = Connection.objects.exclude(status=Connection.Status.REVOKED)
        expected = pending.count()
        pending.update(next_sync_at=started)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.worker.tick()
            done = SyncRun.objects.filter(started_at__gte=started).exclude(outcome=SyncRun.Outcome.RUNNING)
            if done.count() >= expected and not self.worker.running:
                break
            time.sleep(0.2)
        return list(SyncRun.objects.filter(started_at__gte=started).select_related("connection"))

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
        if self.worker:
            self.worker.stop(wait=True)
        if self.server:
            self.server.shutdown()
        for server in self.emulators.values():
            server.stop()


def ensure_free(port: int, what: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} for {what} is taken (is another demo running?); pick other ports")


def run(users: int, port: int, emulator_port: int, once: bool, out: TextIO) -> None:
    demo = Demo(users=users, port=port, emulator_port=emulator_port, out=out)
    demo.say("Starting the healthsync demo (SQLite, in-process workers, no other service):")
    try:
        demo.start()
        names = demo.create_users()
        made = demo.connect_users(names)
        demo.say(f"\nConnected {made} new services for {len(names)} demo users through the real OAuth flow.")
        demo.summary(demo.sync_all())
        demo.say(
            f"\nLook in a browser: {demo.url}/  (log in as demo1 / {PASSWORD})"
            f"\n  admin:           {demo.url}/admin/  (admin / admin)"
            f"\n  REST API schema: {demo.url}/healthsync/api/schema/"
        )
        if once:
            return
        demo.say("\nThe worker keeps polling on schedule; devices keep uploading. Ctrl-C stops the demo.")
        demo.worker.start()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        demo.say("\nstopping")
    finally:
        demo.stop()
