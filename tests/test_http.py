"""Talking to partners: retries with backoff, rate limits honoured, and our own budget enforced before sending."""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.test import Client
from django.utils import timezone

from healthsync import conf
from healthsync.models import Connection, EndpointState, SyncRun, Workout
from healthsync.providers.declarations import PageNumber
from healthsync.providers.strava import Strava
from healthsync.sync import session
from healthsync.sync.engine import sync

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVITIES = "/api/v3/athlete/activities"


def test_5xx_is_retried_with_backoff(partner_factory, connect_partner):
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    partner.faults(error_rate=0.5, seed=1)

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    errors = partner.requests()["faults_injected"].get("error", 0)
    assert errors >= 1
    assert partner.count(ACTIVITIES, status=200) == 1
    assert run.requests == partner.count(ACTIVITIES) == errors + 1
    assert Workout.objects.count() == run.records_new > 0


def test_timeouts_are_retried(partner_factory, connect_partner, settings):
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "HTTP_TIMEOUT_SECONDS": 0.3}
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    partner.faults(timeout_rate=0.5, seed=1)

    started = time.monotonic()
    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    timeouts = partner.requests()["faults_injected"].get("timeout", 0)
    assert timeouts >= 1
    assert run.requests == timeouts + 1
    assert time.monotonic() - started >= 0.3 * timeouts  # we did wait for each hung request, no longer
    assert Workout.objects.count() == run.records_new > 0


def test_persistent_5xx_gives_up_after_the_retries(partner_factory, connect_partner):
    partner = partner_factory("strava")
    connection = connect_partner("strava")
    partner.faults(error_rate=1.0)
    run = sync(connection)
    assert run.outcome == SyncRun.Outcome.FAILED and "HTTP 5" in run.error
    assert partner.count(ACTIVITIES) == 1 + conf.get("HTTP_RETRIES")


def test_429_storm_fails_the_endpoint_and_loses_nothing(partner_factory, connect_partner):
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    assert sync(connection).outcome == SyncRun.Outcome.SUCCESS
    before, cursor = Workout.objects.count(), EndpointState.objects.get(connection=connection).cursor
    new = partner.upload(connection.external_user_id, "workout")
    partner.faults(storm_429=True)
    partner.reset_requests()

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert "rate limit" in run.error and "rate limit" in run.details["activities"]["error"]
    assert 1 <= partner.count(ACTIVITIES, status=429) <= 1 + conf.get("HTTP_RETRIES")
    retry_at = run.details["retry_at"]
    connection.refresh_from_db()
    assert connection.next_sync_at.isoformat() >= retry_at  # the scheduler will not come back before
    state = EndpointState.objects.get(connection=connection)
    assert state.cursor == cursor and "rate limit" in state.last_error
    assert Workout.objects.count() == before

    partner.clear_faults()
    partner.reset_requests()
    paused = sync(connection)  # the partner said wait: every worker waits, nothing is sent meanwhile
    assert paused.outcome == SyncRun.Outcome.FAILED and "Retry-After" in paused.error
    assert partner.count(ACTIVITIES) == 0

    session.client_for.cache_clear()  # later: a fresh budget, as after the pause
    again = sync(connection)
    assert again.records_new == 1, again.error
    assert Workout.objects.filter(external_id=str(new["id"])).exists()  # nothing was lost


def test_retry_after_is_honoured(partner_factory, connect_partner):
    """Oura's limiter answers 429 with a short Retry-After: we wait it out and lose nothing."""
    partner = partner_factory("oura", rate_limit=4, rate_window=1)  # four calls per rolling second
    connection = connect_partner("oura")
    partner.reset_requests()

    started = time.monotonic()
    run = sync(connection)
    elapsed = time.monotonic() - started

    limited = partner.count("/v2/", status=429)
    assert limited >= 1
    assert elapsed >= limited * 1.0 - 0.5  # each Retry-After (1 s) was waited out
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.requests == partner.count("/v2/") == partner.count("/v2/", status=200) + limited


def test_withings_status_601_is_a_rate_limit(partner_factory, connect_partner):
    partner = partner_factory("withings", rate_limit=3)  # 3 calls per minute, then status 601 in HTTP 200
    partner.freeze()  # the partner's minute never ends
    connection = connect_partner("withings")

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    limited = [name for name, detail in run.details.items() if isinstance(detail, dict) and "error" in detail]
    assert limited == ["sleep"]
    assert "rate limit" in run.details["sleep"]["error"] and "601" in run.details["sleep"]["error"]
    assert 1 <= partner.count("/v2/sleep") <= 1 + conf.get("HTTP_RETRIES")
    connection.refresh_from_db()
    assert connection.next_sync_at.isoformat() >= run.details["retry_at"] > timezone.now().isoformat()
    assert EndpointState.objects.get(connection=connection, endpoint="sleep").cursor == ""


# --- our own budget -----------------------------------------------------------------------------------------------


class BudgetStrava(Strava):
    """Test-only: Strava with a tiny app budget and tiny pages, so one sync needs more calls than allowed."""

    slug = "budget_strava"
    app_limits = ("3 per minute",)
    activities = dataclasses.replace(Strava.activities, page=PageNumber(size=2))


def test_partner_budget_is_enforced_before_sending(partner_factory, connect_partner, settings, django_user_model):
    partner = partner_factory("strava")
    partner.freeze()
    providers = dict(settings.HEALTHSYNC["PROVIDERS"])
    providers["budget_strava"] = providers["strava"]
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "PROVIDERS": providers}
    alice = connect_partner("budget_strava")
    for _ in range(8):
        partner.upload(alice.external_user_id, "workout")
    bob_client = Client()
    bob_client.force_login(django_user_model.objects.create_user("bob", password="pw"))
    bob = connect_partner("budget_strava", client=bob_client, username=partner.users()[1]["username"])
    partner.reset_requests()

    run = sync(alice)

    assert partner.count(ACTIVITIES) == 3  # never more than the budget reached the partner
    assert run.outcome == SyncRun.Outcome.FAILED and "budget" in run.error
    assert run.requests == 3
    assert Workout.objects.count() == 0  # a partial window is never stored
    assert EndpointState.objects.get(connection=alice).cursor == ""
    # the budget is partner-wide: another user's sync finds it spent and sends nothing
    other = sync(bob)
    assert other.outcome == SyncRun.Outcome.FAILED and "budget" in other.error
    assert partner.count(ACTIVITIES) == 3
    assert Connection.objects.get(pk=bob.pk).next_sync_at.isoformat() >= other.details["retry_at"]
