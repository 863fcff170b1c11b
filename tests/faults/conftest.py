"""Fixtures of the multi-process fault tests: a Celery cluster, connected users, and the invariant checks.

They need PostgreSQL (SKIP LOCKED, real concurrent transactions) and Redis. On the SQLite run they are
deselected, loudly; on the PostgreSQL run (which CI always does) they run, and an unreachable Redis or
PostgreSQL fails them: nothing here skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.db import connection as db
from django.test import Client

from healthsync.models import Connection
from tests.faults.cluster import ROOT, Cluster, PrivateRedis
from tests.oauth_helpers import connect

REDIS_URL = os.environ.get("HEALTHSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")  # a database of its own


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HEALTHSYNC_DB") == "postgres":
        return
    faults = [item for item in items if item.get_closest_marker("faults")]
    if faults:
        items[:] = [item for item in items if not item.get_closest_marker("faults")]
        config.hook.pytest_deselected(items=faults)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(
                f"healthsync: deselected {len(faults)} fault test(s): they need HEALTHSYNC_DB=postgres "
                "(the PostgreSQL run of scripts/test runs them)",
                yellow=True,
            )


def database_url() -> str:
    s = db.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def test_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # unreachable Redis: the test errors, it is never skipped
    client.flushdb()
    return client


@pytest.fixture
def cluster_factory(request, test_redis, transactional_db) -> Iterator[Callable[..., Cluster]]:  # noqa: ANN001
    assert db.vendor == "postgresql", "the fault tests run on PostgreSQL"
    workdir = ROOT / "var" / "test" / "faults" / request.node.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    made: list[Cluster] = []

    def make(
        partners: list, redis_url: str = REDIS_URL, sync_every: float | None = None, **overrides: object
    ) -> Cluster:
        providers = {
            p.slug: {
                "client_id": "demo-client",
                "client_secret": "demo-secret",
                "origin": p.url,
                **({"sync_every_seconds": sync_every} if sync_every else {}),
            }
            for p in partners
        }
        settings = {
            "EXECUTOR": "celery",
            "CELERY_BROKER_URL": redis_url,
            "RATE_LIMIT_STORAGE": redis_url,
            "LEASE_SECONDS": 4,
            "HTTP_TIMEOUT_SECONDS": 10.0,
            "HTTP_BACKOFF_SECONDS": 0.05,
            "MAX_WAIT_SECONDS": 3.0,
            "TICK_SECONDS": 0.3,
            # these tests are about execution: a short fixed interval keeps every worker busy on purpose
            "POLICY": "healthsync.scheduling.policy.FixedIntervalPolicy",
            **overrides,
        }
        for slug, extra in dict(overrides.pop("PROVIDERS", {})).items():
            providers[slug].update(extra)
        settings["PROVIDERS"] = providers
        cluster = Cluster(Path(workdir), database_url(), redis_url, settings)
        made.append(cluster)
        return cluster

    make.workdir = workdir  # type: ignore[attr-defined]
    yield make
    for cluster in made:
        cluster.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for cluster in made:
            print(cluster.logs())


@pytest.fixture
def private_redis(cluster_factory) -> Iterator[PrivateRedis]:  # noqa: ANN001
    server = PrivateRedis(cluster_factory.workdir).start()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def connect_users(django_user_model) -> Callable:  # noqa: ANN001
    """Connect ``n`` new local users to the partner's first ``n`` accounts through the real OAuth flow."""

    def make(partner, n: int) -> list[Connection]:  # noqa: ANN001
        accounts = partner.users()[:n]
        assert len(accounts) == n, f"the {partner.slug} emulator has only {len(accounts)} users"
        made = []
        for account in accounts:
            user = django_user_model.objects.create_user(f"{partner.slug}-{account['username']}", password="pw")
            client = Client()
            client.force_login(user)
            response = connect(client, partner.slug, username=account["username"])
            assert response.status_code == 302, response.content[:300]
            made.append(Connection.objects.get(user=user, provider=partner.slug))
        return made

    return make
