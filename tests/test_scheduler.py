"""The Django side of the policies: state rows survive, client syncs are gated without writes, claims are ordered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from healthsync.models import Connection, PartnerPolicyState, PollingState, SyncRun
from healthsync.scheduling import policy, tick

ADAPTIVE = "healthsync.scheduling.policy.AdaptivePolicy"
GROUPS = "healthsync.scheduling.policy.GroupsPolicy"


@pytest.fixture
def use_policy(settings):  # noqa: ANN001, ANN201
    def use(path: str) -> None:
        settings.HEALTHSYNC = {**settings.HEALTHSYNC, "POLICY": path}

    return use


def make_connections(django_user_model, n: int, provider: str = "withings") -> list[Connection]:  # noqa: ANN001
    users = [django_user_model.objects.create_user(f"u{i}", password="pw") for i in range(n)]
    return [Connection.objects.create(user=u, provider=provider, timezone="Europe/Paris") for u in users]


def finished_run(connection: Connection, new: int, trigger: str = SyncRun.Trigger.SCHEDULED) -> SyncRun:
    return SyncRun.objects.create(connection=connection, trigger=trigger, outcome=SyncRun.Outcome.SUCCESS,
                                  records_new=new, finished_at=timezone.now())


@pytest.mark.django_db
def test_adaptive_state_survives_and_learns(use_policy, django_user_model) -> None:  # noqa: ANN001
    use_policy(ADAPTIVE)
    (c,) = make_connections(django_user_model, 1)
    p = policy.current()
    due1 = p.next_sync_at(c, finished_run(c, 0), 0)
    row = PollingState.objects.get(pk=c.pk)
    assert row.provider == "withings" and row.polls == 1 and row.hits == 0 and row.rate is not None
    now = timezone.now()
    assert now + dt.timedelta(seconds=299) <= due1 <= now + dt.timedelta(days=1, seconds=5)
    for _ in range(3):
        p.next_sync_at(c, finished_run(c, 5), 0)
    row.refresh_from_db()
    assert row.polls == 4 and row.hits == 3 and row.events > 0 and row.last_data_at is not None
    # a new policy object (a restarted process) continues from the stored row
    policy.current().next_sync_at(c, finished_run(c, 0), 0)
    row.refresh_from_db()
    assert row.polls == 5


@pytest.mark.django_db
def test_refused_client_sync_is_fast_and_writes_nothing(use_policy, django_user_model) -> None:  # noqa: ANN001
    use_policy(ADAPTIVE)
    (c,) = make_connections(django_user_model, 1)
    p = policy.current()
    c.last_sync_at = timezone.now()
    c.save()
    p.next_sync_at(c, finished_run(c, 0), 0)
    with CaptureQueriesContext(db) as queries:
        decision = p.client_sync(c)
    assert not decision.allowed and decision.next_allowed_at > timezone.now()
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == [] and len(queries.captured_queries) <= 2


@pytest.mark.django_db
def test_revoked_connection_is_refused(use_policy, django_user_model) -> None:  # noqa: ANN001
    use_policy(ADAPTIVE)
    (c,) = make_connections(django_user_model, 1)
    c.status = Connection.Status.REVOKED
    assert not policy.current().client_sync(c).allowed


@pytest.mark.django_db
def test_failure_backs_off_and_honours_retry_after(use_policy, django_user_model) -> None:  # noqa: ANN001
    use_policy(ADAPTIVE)
    (c,) = make_connections(django_user_model, 1)
    run = finished_run(c, 0)
    retry = timezone.now() + dt.timedelta(hours=3)
    run.outcome, run.details = SyncRun.Outcome.FAILED, {"retry_at": retry.isoformat()}
    assert policy.current().next_sync_at(c, run, 2) >= retry


@pytest.mark.django_db
@pytest.mark.parametrize("path", [ADAPTIVE, GROUPS])
def test_controller_persists_partner_state(use_policy, django_user_model, path) -> None:  # noqa: ANN001
    use_policy(path)
    conns = make_connections(django_user_model, 6)
    p = policy.current()
    for i, c in enumerate(conns):
        for _ in range(3):
            p.next_sync_at(c, finished_run(c, i % 2), 0)
    assert tick.run_controllers(force=True) >= 1
    shared = PartnerPolicyState.objects.get(provider="withings", policy=p.name).shared
    assert shared["theta"] > 0 and len(shared["shape"]) == 168
    if path == GROUPS:
        assert shared["group_wait"] is not None


@pytest.mark.django_db(transaction=True)
def test_claim_due_orders_by_expected_pending_data(use_policy, django_user_model, settings) -> None:  # noqa: ANN001
    use_policy(ADAPTIVE)
    conns = make_connections(django_user_model, 6)
    now = timezone.now()
    for i, c in enumerate(conns):
        Connection.objects.filter(pk=c.pk).update(next_sync_at=now - dt.timedelta(minutes=1),
                                                  last_sync_at=now - dt.timedelta(hours=1))
        PollingState.objects.create(connection=c, provider=c.provider, priority=float(i))
    claimed = tick.claim_due(2, now)
    assert [c.pk for c in claimed] == [conns[5].pk, conns[4].pk]
    lease = now + dt.timedelta(seconds=settings.HEALTHSYNC["LEASE_SECONDS"])
    assert all(Connection.objects.get(pk=c.pk).next_sync_at == lease for c in claimed)
    rest = tick.claim_due(10, now)
    assert {c.pk for c in rest} == {c.pk for c in conns[:4]}
    assert tick.claim_due(10, now) == []
