"""What people see: the diary's user view (services, sync now, charts over a range) and the operator dashboard."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from diary.models import FoodEntry
from django.utils import timezone

from healthsync.dashboard import charts
from healthsync.dashboard.views import budget_section, limit_windows
from healthsync.models import Connection, DailyActivity, QuantitySample, SleepSession, SyncRun, Workout
from healthsync.scheduling import policy

pytestmark = pytest.mark.django_db(transaction=True)


def make_connection(user, provider: str = "strava", **fields) -> Connection:  # noqa: ANN001, ANN003
    return Connection.objects.create(user=user, provider=provider, external_user_id=f"{provider}-{user.pk}",
                                     access_token="secret-access", refresh_token="secret-refresh", **fields)


def add_days(user, days: int = 10) -> None:  # noqa: ANN001
    today = timezone.localdate()
    for back in range(days):
        day = today - dt.timedelta(days=back)
        start = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        DailyActivity.objects.create(user=user, provider="oura", endpoint="daily", external_id=f"d{back}",
                                     start=start, local_date=day, steps=8000 + back, total_energy_kcal=2400)
        Workout.objects.create(user=user, provider="strava", endpoint="activities", external_id=f"w{back}",
                               start=start, local_date=day, sport="running", duration_s=1800)
        SleepSession.objects.create(user=user, provider="oura", endpoint="sleep", external_id=f"s{back}",
                                    start=start - dt.timedelta(hours=14), local_date=day, asleep_s=7 * 3600,
                                    deep_s=3600, light_s=4 * 3600, rem_s=2 * 3600)
        QuantitySample.objects.create(user=user, provider="withings", endpoint="measures", external_id=f"q{back}",
                                      start=start, local_date=day, kind="weight", value=70 + back / 10)
        FoodEntry.objects.create(user=user, date=day, name="Lunch", energy_kcal=2100)


def points(html: str, chart_id: str) -> int:
    match = re.search(rf'id="{chart_id}"[^>]*data-points="(\d+)"', html)
    return int(match.group(1)) if match else 0


# --- the user view ----------------------------------------------------------------------------------------------


def test_home_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_home_offers_every_service_and_shows_the_connected_ones(alice_client, user):
    make_connection(user, "strava", last_success_at=timezone.now())
    page = alice_client.get("/").content.decode()
    assert "Connect Withings" in page and "Connect Oura" in page
    assert "Disconnect Strava" in page and "Sync now" in page and "Connected" in page
    assert "secret-access" not in page and "secret-refresh" not in page


def test_home_charts_the_synced_data_over_the_chosen_range(alice_client, user):
    add_days(user, 10)
    page = alice_client.get("/?days=30").content.decode()
    for chart_id in ("chart-steps", "chart-calories", "chart-workouts", "chart-sleep", "chart-weight"):
        assert points(page, chart_id) > 0, chart_id
    assert points(page, "chart-steps") == 10
    assert points(page, "chart-calories") == 20  # burned and eaten, beside each other, per day
    week = alice_client.get("/?days=7").content.decode()
    assert points(week, "chart-steps") == 7
    today = timezone.localdate()
    custom = alice_client.get(f"/?start={today - dt.timedelta(days=2)}&end={today}").content.decode()
    assert points(custom, "chart-steps") == 3


def test_empty_charts_say_what_to_do(alice_client):
    page = alice_client.get("/").content.decode()
    assert "No steps yet: connect Withings or Oura" in page
    assert "No workouts yet: connect Strava" in page


def test_errors_are_in_plain_words_and_revoked_asks_to_reconnect(alice_client, user):
    make_connection(user, "strava", status=Connection.Status.REVOKED, last_error="HTTP 401 from /token: bad")
    make_connection(user, "withings", status=Connection.Status.ERROR,
                    last_error="withings rate limit hit (HTTP 429 from /measure)")
    page = alice_client.get("/").content.decode()
    assert "Strava no longer accepts our access. Reconnect to resume syncing." in page
    assert "Reconnect Strava" in page
    assert "Withings asked us to slow down" in page


def test_sync_now_syncs_and_the_policy_refuses_a_second_press(alice_client, partner_factory, user):
    from tests.oauth_helpers import connect

    partner_factory("strava")
    assert connect(alice_client, "strava").status_code == 302
    response = alice_client.post("/sync/strava/", follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Synced Strava:" in page
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.CLIENT, outcome=SyncRun.Outcome.SUCCESS).count() == 1
    assert points(page, "chart-workouts") > 0
    again = alice_client.post("/sync/strava/", follow=True).content.decode()
    refusal = policy.current().client_sync(Connection.objects.get(user=user, provider="strava"))
    assert not refusal.allowed
    assert f"Strava: {refusal.reason}. Try again after" in again
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.CLIENT).count() == 1


def test_sync_now_is_for_my_own_connections_only(alice_client, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="pw")
    make_connection(bob, "strava")
    assert alice_client.post("/sync/strava/").status_code == 404
    assert alice_client.get("/sync/strava/").status_code == 405


def test_status_fingerprint_changes_when_new_data_arrives_not_on_empty_polls(alice_client, user):
    connection = make_connection(user, "strava")
    before = alice_client.get("/status.json").json()
    assert before["services"][0]["provider"] == "strava"
    SyncRun.objects.create(connection=connection, outcome="success", records_new=0)
    assert alice_client.get("/status.json").json()["fingerprint"] == before["fingerprint"]
    SyncRun.objects.create(connection=connection, outcome="success", records_new=2)
    after = alice_client.get("/status.json").json()["fingerprint"]
    assert after != before["fingerprint"]
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.REVOKED)
    assert alice_client.get("/status.json").json()["fingerprint"] != after


def test_log_a_meal(alice_client, user):
    response = alice_client.post("/food/", {"name": "Soup", "energy_kcal": "420"}, follow=True)
    assert "Added Soup (420 kcal)" in response.content.decode()
    assert FoodEntry.objects.get(user=user).energy_kcal == 420
    bad = alice_client.post("/food/", {"name": "Soup", "energy_kcal": "lots"}, follow=True)
    assert "Enter the calories as a number" in bad.content.decode()


# --- the operator view ------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, django_user_model):  # noqa: ANN001, ANN201
    client.force_login(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    return client


def test_operator_dashboard_is_staff_only(alice_client):
    response = alice_client.get("/healthsync/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_operator_dashboard_shows_connections_runs_budgets_and_efficiency(staff_client, user):
    strava = make_connection(user, "strava")
    make_connection(user, "oura", status=Connection.Status.REVOKED)
    now = timezone.now()
    for minutes, new, outcome in ((1, 5, "success"), (3, 0, "success"), (5, 0, "failed")):
        SyncRun.objects.create(connection=strava, outcome=outcome, started_at=now - dt.timedelta(minutes=minutes),
                               finished_at=now, records_new=new, requests=7,
                               error="strava unreachable: ConnectTimeout" if outcome == "failed" else "")
    page = staff_client.get("/healthsync/dashboard/?window=1h").content.decode()
    for text in ("Connections", "By status", "By partner", "By poll group", "Partner budget in use",
                 "Poll efficiency", "Webhooks", "Recent sync runs", "Failed sync runs",
                 "strava unreachable: ConnectTimeout", "Strava · 100 / 15 min"):
        assert text in page, text
    assert points(page, "chart-outcomes") >= 2
    assert points(page, "chart-efficiency") > 0
    assert "secret-access" not in page
    partial = staff_client.get("/healthsync/dashboard/?window=1h&partial=1").content.decode()
    assert "<html" not in partial and "Recent sync runs" in partial
    for window in ("15m", "24h", "7d", "30d", "bogus"):
        assert staff_client.get(f"/healthsync/dashboard/?window={window}").status_code == 200


def test_budget_counts_requests_in_each_limits_window(user):
    strava = make_connection(user, "strava")
    SyncRun.objects.create(connection=strava, outcome="success", requests=30, started_at=timezone.now())
    SyncRun.objects.create(connection=strava, outcome="success", requests=500,
                           started_at=timezone.now() - dt.timedelta(days=2))
    rows = {r["limit"]: r for r in budget_section() if r["partner"] == "Strava"}
    assert rows["100 / 15 min"]["used"] == 30
    assert rows["1000 / day"]["used"] == 30


def test_limit_windows_read_aligned_limits():
    assert limit_windows(("100 per 15 minutes aligned", "120 per minute")) == [
        ("100 / 15 min", 100, 900, True), ("120 / min", 120, 60, False)]


def test_charts_draw_bars_lines_and_an_empty_state():
    svg = charts.chart(["a", "b", "c"], [charts.Series("x", [1, None, 3]),
                                         charts.Series("y", [70.5, 70.1, None], kind="line")], chart_id="t")
    assert svg.count('class="hs-bar"') == 2 and svg.count('class="hs-point"') == 2 and "<title>" in svg
    assert 'data-points="4"' in svg
    assert "No data" in charts.chart(["a"], [charts.Series("x", [None])])
    assert "<script" not in charts.chart(["<script>"], [charts.Series("<script>", [1])])
    assert [charts.nice_step(v) for v in (0.3, 7.5, 12, 2600)] == [0.5, 10, 20, 5000]
    ticks = re.findall(r'text-anchor="end"[^>]*>([^<]+)<', charts.chart(["a"], [charts.Series("x", [9.3])]))
    assert ticks == ["0", "2", "4", "6", "8", "10"]  # round steps, and no empty band above the data


def test_operator_dashboard_shows_webhook_notifications_and_miss_rate(staff_client, user, monkeypatch):
    from healthsync.models import WebhookEvent
    from healthsync.webhooks import stats

    strava = make_connection(user, "strava")
    for n in range(3):
        WebhookEvent.objects.create(provider="strava", digest=f"d{n}", connection=strava, kind="activity",
                                    action="create", object_id=str(n), deliveries=2 if n == 0 else 1)
    monkeypatch.setattr(stats, "miss_rate", lambda slug, since=None: 0.25 if slug == "strava" else None)
    page = staff_client.get("/healthsync/dashboard/?window=1h").content.decode()
    assert "3 notifications in 1h (1 duplicate deliveries), 3 waiting for a sync" in page
    assert points(page, "chart-webhooks") == 1  # one bucket with notifications, for one partner
    assert "Strava: 25 %" in page


def test_poll_groups_fall_back_to_new_data_share_and_interval(staff_client, user):
    strava = make_connection(user, "strava")
    SyncRun.objects.create(connection=strava, outcome="success", records_new=1, finished_at=timezone.now())
    page = staff_client.get("/healthsync/dashboard/").content.decode()
    assert "new data 75% or more" in page and "polled every 1 h" in page


def test_poll_groups_come_from_the_schedulers_state_when_it_keeps_one(staff_client, user):
    from healthsync.models import PollingState

    for provider, group, rate in (("strava", 0, 0.3), ("oura", 2, 30.0)):
        PollingState.objects.create(connection=make_connection(user, provider), provider=provider, group=group,
                                    rate=rate)
    page = staff_client.get("/healthsync/dashboard/").content.decode()
    assert "Strava · group 0" in page and "Oura · group 2" in page
    assert "&lt; 1 per 2 days" in page and "&gt; 24 a day" in page
