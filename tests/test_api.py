"""The client REST API (DRF): providers, connections, connect, disconnect, sync now, records, isolation, schema."""

from __future__ import annotations

import base64
import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext

from healthsync.models import Connection, SyncRun, Workout
from healthsync.sync.engine import sync
from tests.oauth_helpers import approve_at_partner, callback
from tests.test_oauth import token_works

pytestmark = pytest.mark.django_db(transaction=True)
API = "/healthsync/api"


@pytest.fixture
def bob_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user("bob", password="pw"))
    return client


def test_providers_and_connections(partner_factory, connect_partner, alice_client):
    partner_factory("strava")
    providers = alice_client.get(f"{API}/providers/").json()
    assert [p["slug"] for p in providers] == ["oura", "strava", "withings"]
    assert not any(p["connected"] for p in providers)
    assert alice_client.get(f"{API}/connections/").json() == []

    connect_partner("strava")

    providers = {p["slug"]: p for p in alice_client.get(f"{API}/providers/").json()}
    assert providers["strava"]["connected"] and not providers["oura"]["connected"]
    assert providers["strava"]["scopes"] == ["read", "activity:read_all"]
    (listed,) = alice_client.get(f"{API}/connections/").json()
    assert listed["provider"] == "strava" and listed["status"] == "active" and not listed["reconnect_needed"]
    assert alice_client.get(f"{API}/connections/strava/").json()["status_display"] == "Connected"
    assert alice_client.get(f"{API}/connections/oura/").status_code == 404
    assert Client().get(f"{API}/connections/").status_code == 403  # not logged in


def test_start_connect_from_a_browser_session(partner_factory, alice_client, user):
    partner_factory("oura")
    response = alice_client.post(f"{API}/connections/oura/connect/", {"return_to": "/diary/"})
    assert response.status_code == 200
    url = response.json()["authorize_url"]

    done = callback(alice_client, approve_at_partner(url))

    assert done.status_code == 302 and done["Location"] == "/diary/"
    assert Connection.objects.get(user=user).provider == "oura"
    outside = alice_client.post(f"{API}/connections/oura/connect/", {"return_to": "https://evil.example/"})
    assert outside.status_code == 400
    assert alice_client.post(f"{API}/connections/nosuch/connect/").status_code == 404


def test_start_connect_from_a_mobile_client(partner_factory, user):
    """Basic auth, no session: the single-use state alone binds the flow to alice; the browser is anonymous."""
    partner_factory("strava")
    mobile = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"alice:pw").decode())
    url = mobile.post(f"{API}/connections/strava/connect/").json()["authorize_url"]

    done = callback(Client(), approve_at_partner(url))

    assert done.status_code == 302
    assert Connection.objects.get(user=user).provider == "strava"


def test_disconnect(partner_factory, connect_partner, alice_client):
    partner = partner_factory("withings")
    connection = connect_partner("withings")
    token = connection.access_token

    assert alice_client.delete(f"{API}/connections/withings/").status_code == 204

    assert not Connection.objects.exists()
    assert not token_works(partner, token)
    assert alice_client.delete(f"{API}/connections/withings/").status_code == 404


def test_sync_now_allowed_then_refused_without_writes(partner_factory, connect_partner, alice_client):
    partner_factory("strava")
    connect_partner("strava")

    allowed = alice_client.post(f"{API}/connections/strava/sync/?wait=1")

    assert allowed.status_code == 200, allowed.content
    body = allowed.json()
    assert body["outcome"] == "success" and body["trigger"] == "client" and body["records_new"] > 0
    assert body["records_new"] == Workout.objects.count() and body["requests"] >= 1
    with CaptureQueriesContext(db) as captured:
        refused = alice_client.post(f"{API}/connections/strava/sync/?wait=1")
    assert refused.status_code == 429
    assert refused.json()["next_allowed_at"] > dt.datetime.now(dt.UTC).isoformat()
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE",
                                                                                             "DELETE")]
    assert writes == []
    assert len(captured.captured_queries) >= 1  # it did read (the capture works)
    assert SyncRun.objects.count() == 1


def test_records_by_type_and_time_range_with_pagination(partner_factory, connect_partner, alice_client):
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    for _ in range(5):
        partner.upload(connection.external_user_id, "workout")
    sync(connection)
    everything = set(Workout.objects.values_list("external_id", flat=True))
    assert len(everything) >= 6

    def collect(url: str, size: int = 3) -> list[dict]:
        items = []
        while url:
            page = alice_client.get(url).json()
            assert len(page["results"]) <= size
            items += page["results"]
            url = page["next"]
        return items

    listed = collect(f"{API}/records/workouts/?page_size=3")
    assert {w["external_id"] for w in listed} == everything and len(listed) == len(everything)
    starts = [w["start"] for w in listed]
    assert starts == sorted(starts, reverse=True)  # newest first, stable across pages
    assert "token" not in str(listed[0]) and {"sport", "duration_s", "provider", "local_date"} <= listed[0].keys()

    middle = sorted(Workout.objects.values_list("start", flat=True))[len(everything) // 2]
    since = collect(f"{API}/records/workouts/?page_size=3&start={middle.isoformat().replace('+00:00', 'Z')}")
    assert {w["external_id"] for w in since} == set(
        Workout.objects.filter(start__gte=middle).values_list("external_id", flat=True)
    )
    day = middle.date()
    before = collect(f"{API}/records/workouts/?end={day.isoformat()}", size=100)
    assert {w["external_id"] for w in before} == set(
        Workout.objects.filter(start__lt=dt.datetime.combine(day, dt.time(), dt.UTC)).values_list("external_id",
                                                                                                   flat=True)
    )
    assert alice_client.get(f"{API}/records/sleep/").json()["results"] == []
    assert alice_client.get(f"{API}/records/steps/").status_code == 404
    assert alice_client.get(f"{API}/records/workouts/?start=yesterday").status_code == 400


def test_another_user_can_neither_see_nor_change_alices_data(partner_factory, connect_partner, alice_client,
                                                              bob_client):
    partner = partner_factory("strava")
    connection = connect_partner("strava")
    assert alice_client.post(f"{API}/connections/strava/sync/?wait=1").status_code == 200
    assert Workout.objects.filter(user=connection.user_id).exists()

    assert bob_client.get(f"{API}/connections/").json() == []
    assert bob_client.get(f"{API}/connections/strava/").status_code == 404
    assert bob_client.delete(f"{API}/connections/strava/").status_code == 404
    assert bob_client.post(f"{API}/connections/strava/sync/?wait=1").status_code == 404
    assert bob_client.get(f"{API}/records/workouts/").json()["results"] == []
    assert bob_client.get(f"{API}/runs/").json() == []
    assert not any(p["connected"] for p in bob_client.get(f"{API}/providers/").json())

    assert Connection.objects.filter(pk=connection.pk).exists() and token_works(partner, connection.access_token)
    assert SyncRun.objects.count() == 1
    assert len(alice_client.get(f"{API}/runs/").json()) == 1


def test_openapi_schema_generates_without_errors_or_warnings(alice_client):
    response = alice_client.get(f"{API}/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/providers/", "/connections/{slug}/sync/", "/records/{kind}/"):
        assert path in text
    out, err = StringIO(), StringIO()
    call_command("spectacular", "--fail-on-warn", "--validate", stdout=out, stderr=err)  # raises on any warning
    assert "openapi:" in out.getvalue()
