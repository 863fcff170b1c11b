"""A small Celery cluster for the fault tests: worker and tick processes started as real subprocesses.

They run ``celery -A healthsync.executors.celery_app worker`` and ``python -m healthsync.executors.tick`` with
tests/faults/settings.py, against the pytest-django test database on PostgreSQL, a test Redis database (the
broker, the leases and the budgets) and the test's emulators on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from celery import Celery

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "healthsync.webhook,healthsync.scheduled,healthsync.backfill"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            for pid in self.children():  # a stopped child must be woken to exit
                _signal(pid, signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in self.children():
                    _signal(pid, signal.SIGKILL)
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


class Cluster:
    def __init__(self, workdir: Path, database_url: str, redis_url: str, overrides: dict[str, Any]) -> None:
        self.workdir = workdir
        self.redis_url = redis_url
        self.overrides = overrides
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.faults.settings",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "example"), str(ROOT)]),
            "DATABASE_URL_POSTGRES": database_url,
            "HEALTHSYNC_DB": "postgres",
            "REDIS_URL": redis_url,
            "HEALTHSYNC_VAR_DIR": str(workdir / "var"),
            "PYTHONUNBUFFERED": "1",
        }
        self.workers: list[Proc] = []
        self.ticks: list[Proc] = []
        # like systemd's Restart=always: start a worker process again if it exits (see docs/operations.md)
        self.supervise = False
        self.restarts: list[str] = []
        self.celery = Celery("healthsync-test", broker=redis_url)
        self.redis = redis.Redis.from_url(redis_url)

    def _env(self) -> dict[str, str]:
        return {**self.env, "HEALTHSYNC_OVERRIDES": json.dumps(self.overrides)}

    # -- processes -------------------------------------------------------------------------------------------

    def start_worker(self, concurrency: int = 2, name: str | None = None) -> Proc:
        name = name or f"w{len(self.workers) + 1}"
        args = [sys.executable, "-m", "celery", "-A", "healthsync.executors.celery_app", "worker",
                "--pool=prefork", f"--concurrency={concurrency}", "-Q", QUEUES, "-n", f"{name}@%h",
                "--without-gossip", "--without-mingle", "-l", "INFO"]  # fmt: skip
        proc = Proc(name, args, self._env(), self.workdir / f"{name}.log")
        proc.concurrency = concurrency
        self.workers.append(proc)
        return proc

    def start_tick(self, interval: float = 0.3) -> Proc:
        args = [sys.executable, "-m", "healthsync.executors.tick", "--interval", str(interval)]
        proc = Proc(f"tick{len(self.ticks) + 1}", args, self._env(), self.workdir / f"tick{len(self.ticks) + 1}.log")
        self.ticks.append(proc)
        return proc

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every worker answers a ping (their children are forked and consuming by then)."""
        expected = len(self.workers)

        def answered() -> bool:
            for proc in self.workers:
                assert proc.alive(), f"{proc.name} exited:\n{proc.tail()}"
            replies = self.celery.control.ping(timeout=0.5)
            return len(replies) >= expected

        wait_for(answered, timeout, f"{expected} workers to answer a ping", every=0.2)

    def assert_alive(self) -> None:
        for proc in list(self.workers):
            if not proc.alive() and self.supervise:
                self.restarts.append(f"{proc.name}: {proc.tail(3)}")
                proc.stop()
                self.workers.remove(proc)
                self.start_worker(proc.concurrency, proc.name)
        for proc in [*self.workers, *self.ticks]:
            assert proc.alive(), f"{proc.name} exited:\n{proc.tail()}"

    def stop(self) -> None:
        for proc in [*self.ticks, *self.workers]:
            proc.stop()
        self.celery.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in [*self.workers, *self.ticks])

    # -- what runs where ------------------------------------------------------------------------------------

    def active(self) -> list[dict[str, Any]]:
        """Tasks being executed now, with the pid of the process executing each."""
        replies = self.celery.control.inspect(timeout=0.5).active() or {}
        return [dict(task, hostname=host) for host, tasks in replies.items() for task in tasks]

    def wait_active(self, match: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        """The first running sync task that ``match`` accepts (its args are (connection_id, trigger, sent_at))."""

        def found() -> dict[str, Any] | None:
            self.assert_alive()
            return next((t for t in self.active() if match(t)), None)

        return wait_for(found, timeout, "a matching sync task to run", every=0.05)

    def queued(self) -> int:
        return sum(self.redis.llen(q) for q in QUEUES.split(","))


class PrivateRedis:
    """A redis-server of the test's own on a free port, so a test can restart it without disturbing anyone."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.popen: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]  # fmt: skip
        self.popen = subprocess.Popen(args, cwd=self.workdir)
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), 10, f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)

    def restart(self, down_seconds: float = 1.0) -> None:
        """Stop it (it keeps nothing on disk: queues, leases and budgets are lost) and start it again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
