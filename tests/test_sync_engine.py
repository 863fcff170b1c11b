"""The sync engine around the data: failing endpoints are isolated and recorded, runs are audited, bad input is
skipped with a reason or fails its endpoint, and a cursor never moves past data that was not stored."""

from __future__ import annotations

import pytest

from healthsync import conf
from healthsync.models import EndpointState, QuantitySample, SyncRun, Workout
from healthsync.sync.engine import sync
from tests.test_sync_data import expected_ids, first_sync_windows, stored_ids

pytestmark = pytest.mark.django_db(transaction=True)


def cursors(connection) -> dict[str, str]:  # noqa: ANN001
    return dict(EndpointState.objects.filter(connection=connection).values_list("endpoint", "cursor"))


@pytest.mark.parametrize(
    "slug, path, failing",
    [("withings", "/v2/sleep", "sleep"), ("oura", "/v2/usercollection/workout", "workouts")],
)
def test_a_failing_endpoint_does_not_block_the_others(slug, path, failing, partner_factory, connect_partner, settings):
    partner = partner_factory(slug)
    partner.freeze()
    connection = connect_partner(slug)
    partner.faults(paths=[path], error_rate=1.0)
    partner.reset_requests()

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    retries = conf.get("HTTP_RETRIES")
    assert partner.count(path) == 1 + retries  # retried with backoff, then given up
    assert partner.count(path, status=200) == 0
    # the run record: times, outcome, counts, requests, error
    assert run.started_at <= run.finished_at
    assert run.error.startswith(f"{failing}: ") and "HTTP 5" in run.error
    assert run.details[failing] == {"error": run.error.removeprefix(f"{failing}: ")}
    assert run.requests == partner.requests()["total"]  # every attempt we sent, as the partner counted them
    others = [name for name in run.details if name != failing]
    assert len(others) == 3 and all(run.details[name]["new"] > 0 for name in others)
    assert run.records_new == sum(run.details[name]["new"] for name in others)
    assert SyncRun.objects.get(pk=run.pk).records_new == run.records_new  # as saved
    # the endpoint states: the failing one keeps its error and its (empty) cursor
    states = {s.endpoint: s for s in EndpointState.objects.filter(connection=connection)}
    assert "HTTP 5" in states[failing].last_error and states[failing].cursor == ""
    assert states[failing].last_success_at is None
    assert all(states[name].cursor and not states[name].last_error for name in others)
    connection.refresh_from_db()
    assert connection.last_error == run.error and connection.last_success_at is not None

    partner.clear_faults()
    again = sync(connection)

    assert again.outcome == SyncRun.Outcome.SUCCESS and again.details[failing]["new"] > 0
    state = EndpointState.objects.get(connection=connection, endpoint=failing)
    assert state.cursor and state.last_error == ""
    expected = expected_ids(slug, partner.truth(connection.external_user_id), first_sync_windows(connection))
    assert {k: v for k, v in stored_ids(connection).items() if k[0] == failing} == {
        k: v for k, v in expected.items() if k[0] == failing
    }


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["malformed_rate", "truncated_rate"])
def test_html_or_truncated_json_fails_the_endpoint_and_keeps_the_cursor(fault, partner_factory, connect_partner):
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    assert sync(connection).outcome == SyncRun.Outcome.SUCCESS
    before_rows = set(Workout.objects.values_list("external_id", "name"))
    before_cursor = cursors(connection)
    new = partner.upload(connection.external_user_id, "workout")
    partner.faults(**{fault: 1.0})

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert "not JSON" in run.error and "activities" in run.details
    assert cursors(connection) == before_cursor
    assert set(Workout.objects.values_list("external_id", "name")) == before_rows  # intact, nothing half-stored
    assert "not JSON" in EndpointState.objects.get(connection=connection).last_error

    partner.clear_faults()
    assert sync(connection).records_new == 1
    assert Workout.objects.filter(external_id=str(new["id"])).exists()  # not lost: the cursor had not moved


def test_a_field_of_the_wrong_type_skips_that_record_with_a_reason(partner_factory, connect_partner):
    partner = partner_factory("oura")
    partner.freeze()
    connection = connect_partner("oura")
    partner.faults(paths=["/v2/usercollection/heartrate"], bad_field_rate=1.0, seed=3)

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    injected = partner.requests()["faults_injected"]["bad_field"]
    assert injected >= 2  # one corrupted record per page
    details = run.details["heartrate"]
    assert 1 <= run.records_skipped == details["skipped"] <= injected
    assert len(details["skip_reasons"]) == details["skipped"]
    assert all(reason.startswith("heartrate: bad record (") for reason in details["skip_reasons"])
    expected = expected_ids("oura", partner.truth(connection.external_user_id), first_sync_windows(connection))
    stored = stored_ids(connection)[("heartrate", "QuantitySample")]
    wanted = expected[("heartrate", "QuantitySample")]
    # every sample is stored unless it was skipped (a corrupted timestamp may be stored under no id we expect)
    assert len(wanted - stored) <= details["skipped"]
    assert len(stored) + details["skipped"] == len(wanted)
    # the other endpoints were untouched by the fault
    assert all(run.details[name]["skipped"] == 0 for name in ("daily_activity", "sleep", "workouts"))


def test_unknown_measure_type_is_skipped_with_a_reason(partner_factory, connect_partner):
    partner = partner_factory("withings")
    partner.freeze()
    connection = connect_partner("withings")
    partner.faults(paths=["/measure"], unknown_type_rate=1.0)

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.records_skipped == run.details["measures"]["skipped"] == 1
    assert run.details["measures"]["skip_reasons"][0].startswith("measures: unknown measure type 999 in group")
    stored = QuantitySample.objects.filter(user=connection.user_id).count()
    assert stored == run.details["measures"]["new"] > 0


def test_unknown_sport_is_kept_as_other_with_the_partner_name(partner_factory, connect_partner):
    partner = partner_factory("strava")
    partner.freeze()
    connection = connect_partner("strava")
    partner.upload(connection.external_user_id, "workout")
    partner.faults(unknown_type_rate=1.0)

    run = sync(connection)

    assert run.outcome == SyncRun.Outcome.SUCCESS and run.records_skipped == 0
    odd = Workout.objects.get(sport_raw="HoverboardRide")
    assert odd.sport == Workout.Sport.OTHER


def test_a_window_that_fails_midway_stores_nothing_of_it(partner_factory, connect_partner, settings):
    """Heart rate comes in pages of 1000: a failure after some pages arrived must not store those pages."""
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "HTTP_RETRIES": 0}
    partner = partner_factory("oura")
    partner.freeze()
    connection = connect_partner("oura")
    path = "/v2/usercollection/heartrate"
    for seed in range(30):  # find a fault sequence that serves some pages, then fails one
        partner.reset_requests()
        partner.faults(paths=[path], error_rate=0.3, seed=seed)
        run = sync(connection)
        if partner.count(path, status=200) and "heartrate" in run.error:
            break
        if run.details["heartrate"].get("new"):  # every page got through: start the window afresh
            QuantitySample.objects.filter(endpoint="heartrate").delete()
            EndpointState.objects.filter(connection=connection, endpoint="heartrate").update(cursor="")
    else:
        pytest.fail("no fault sequence failed the heart-rate window midway")
    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert QuantitySample.objects.filter(user=connection.user_id, endpoint="heartrate").count() == 0
    assert cursors(connection)["heartrate"] == ""
    assert all(cursors(connection)[name] for name in ("daily_activity", "sleep", "workouts"))
