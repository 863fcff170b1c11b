"""The Django admin: every model registered, lists/filters/search work, tokens never appear anywhere."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from healthsync.models import Connection, EndpointState, PendingAuthorization, SyncRun, Workout

pytestmark = pytest.mark.django_db(transaction=True)

ACCESS, REFRESH, VERIFIER, STATE = "plain-access-TOKEN-1", "plain-refresh-TOKEN-2", "pkce-verifier-3", "oauth-state-4"


@pytest.fixture
def admin_client(client, django_user_model):  # noqa: ANN001, ANN201
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def data(user):  # noqa: ANN001, ANN201
    connection = Connection.objects.create(
        user=user, provider="strava", external_user_id="42", access_token=ACCESS, refresh_token=REFRESH,
        token_expires_at=timezone.now() + dt.timedelta(minutes=20), last_error="strava rate limit hit")
    EndpointState.objects.create(connection=connection, endpoint="activities", cursor="2026-01-01T00:00:00+00:00")
    run = SyncRun.objects.create(connection=connection, outcome="success", records_new=3, requests=2,
                                 finished_at=timezone.now(), details={"activities": {"new": 3}})
    PendingAuthorization.objects.create(state=STATE, user=user, provider="strava", code_verifier=VERIFIER,
                                        redirect_uri="http://testserver/healthsync/callback/strava/")
    Workout.objects.create(user=user, connection=connection, provider="strava", endpoint="activities",
                           external_id="w1", start=timezone.now(), sport="running", name="Morning Run")
    ciphertext = Connection.objects.filter(pk=connection.pk).values_list("access_token", flat=True)
    return {"connection": connection, "run": run, "raw": list(ciphertext)}


def secrets_absent(content: bytes, data: dict) -> None:  # noqa: ANN001
    text = content.decode()
    for secret in (ACCESS, REFRESH, VERIFIER, STATE):
        assert secret not in text, secret
    assert "access_token" not in text and "refresh_token" not in text and "code_verifier" not in text


def test_every_healthsync_model_has_an_admin():
    missing = [m.__name__ for m in apps.get_app_config("healthsync").get_models() if not admin.site.is_registered(m)]
    assert not missing


def test_every_changelist_and_change_page_renders_without_tokens(admin_client, data):
    for model in apps.get_app_config("healthsync").get_models():
        opts = model._meta
        listing = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert listing.status_code == 200, opts.model_name
        secrets_absent(listing.content, data)
        searched = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "a"})
        assert searched.status_code == 200, opts.model_name
        obj = model.objects.first()
        if obj is not None:
            change = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
            assert change.status_code == 200, opts.model_name
            secrets_absent(change.content, data)


def test_connection_filters(admin_client, data):
    url = reverse("admin:healthsync_connection_changelist")
    for query in ({"token": "soon"}, {"token": "expired"}, {"has_error": "yes"}, {"due": "overdue"},
                  {"provider": "strava"}, {"status__exact": "active"}):
        response = admin_client.get(url, query)
        assert response.status_code == 200, query
    assert admin_client.get(url, {"token": "soon"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"token": "expired"}).context["cl"].result_count == 0
    assert admin_client.get(url, {"q": "42"}).context["cl"].result_count == 1


def test_connections_cannot_be_typed_in_and_runs_are_read_only(admin_client, data):
    assert admin_client.get(reverse("admin:healthsync_connection_add")).status_code == 403
    assert admin_client.get(reverse("admin:healthsync_syncrun_add")).status_code == 403
    run_page = admin_client.get(reverse("admin:healthsync_syncrun_change", args=[data["run"].pk])).content.decode()
    assert "&quot;new&quot;: 3" in run_page  # the per-endpoint details, pretty-printed


def test_make_due_now_action(admin_client, data):
    connection = data["connection"]
    Connection.objects.filter(pk=connection.pk).update(next_sync_at=timezone.now() + dt.timedelta(days=1))
    admin_client.post(reverse("admin:healthsync_connection_changelist"),
                      {"action": "make_due_now", "_selected_action": [connection.pk]})
    connection.refresh_from_db()
    assert connection.next_sync_at <= timezone.now()


def test_a_connection_form_post_cannot_set_tokens(admin_client, data):
    connection = data["connection"]
    url = reverse("admin:healthsync_connection_change", args=[connection.pk])
    admin_client.post(url, {"status": "active", "timezone": "UTC", "next_sync_at_0": "2026-01-01",
                            "next_sync_at_1": "00:00:00", "access_token": "injected", "refresh_token": "injected",
                            "endpoint_states-TOTAL_FORMS": "1", "endpoint_states-INITIAL_FORMS": "1"})
    connection.refresh_from_db()
    assert connection.access_token == ACCESS and connection.refresh_token == REFRESH
