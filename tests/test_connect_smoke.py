import pytest

from healthsync.models import Connection, SyncRun, Workout
from healthsync.sync.engine import sync

pytestmark = pytest.mark.django_db(transaction=True)


def test_strava_connect_and_sync(alice_client, partner_factory, user):
    from tests.oauth_helpers import connect

    strava = partner_factory("strava")
    response = connect(alice_client, "strava")
    assert response.status_code == 302
    connection = Connection.objects.get(user=user)
    run = sync(connection)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    truth = strava.truth(connection.external_user_id)
    assert Workout.objects.filter(user=user).count() == len(truth["activities"]) > 0
