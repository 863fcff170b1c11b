"""The provider framework and start-up checks: providers register themselves, one module adds a partner,
provider modules stay small, and configuration mistakes are reported by Django's system checks."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from django.core.checks import run_checks

import healthsync.providers as providers_package
from healthsync.models import Workout
from healthsync.providers import autodiscover, enabled_providers, get_provider
from healthsync.providers.base import Provider, _registry, get_provider_class, registered
from healthsync.providers.declarations import Endpoint, FromToken, OAuth2
from healthsync.sync.engine import sync

PROVIDERS_DIR = Path(providers_package.__file__).parent


# --- system checks ------------------------------------------------------------------------------------------------


def healthsync_errors() -> dict[str, str]:
    return {e.id: e.msg for e in run_checks(include_deployment_checks=False) if e.id.startswith("healthsync.E")}


def test_checks_pass_with_the_example_settings():
    assert healthsync_errors() == {}


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"TOKEN_KEYS": []}, "healthsync.E001", "TOKEN_KEYS"),
        ({"TOKEN_KEYS": ["not-a-fernet-key"]}, "healthsync.E002", "not a valid Fernet key"),
        ({"PROVIDERS": {"fitbitt": {"client_id": "x", "client_secret": "y"}}}, "healthsync.E003", "'fitbitt'"),
        ({"PROVIDERS": {"strava": {"client_id": "x"}}}, "healthsync.E004", "client_secret"),
        ({"PROVIDERS": {"oura": {"client_secret": "y"}}}, "healthsync.E004", "client_id"),
    ],
)
def test_checks_report_configuration_mistakes(change, error, words, settings):
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, **change}
    errors = healthsync_errors()
    assert error in errors and words in errors[error]


def test_a_disabled_provider_needs_no_secret(settings):
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "PROVIDERS": {"strava": {"enabled": False}}}
    assert healthsync_errors() == {}
    assert enabled_providers() == []


# --- provider modules stay small ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module, limit", [("strava", 40), ("withings", 70), ("oura", 70)])
def test_provider_module_size(module, limit):
    lines = (PROVIDERS_DIR / f"{module}.py").read_text().splitlines()
    code = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    print(f"{module}.py: {len(code)} non-blank, non-comment lines (limit {limit})")
    assert 10 < len(code) <= limit


# --- registration -------------------------------------------------------------------------------------------------


def test_defining_a_provider_registers_it_and_its_endpoints():
    class Tiny(Provider):
        slug = "tiny_test"
        auth = OAuth2(authorize_url="https://tiny.example/authorize", token_url="https://tiny.example/token",
                      scopes=["a"])
        api = "https://tiny.example/api/"
        identity = FromToken("user_id")
        steps = Endpoint("steps", records="items")
        sleep = Endpoint("sleep", scope="a")

    class TinyTwo(Tiny):
        slug = "tiny_two_test"
        sleep = Endpoint("sleep/v2")  # overrides the inherited feed of that name
        weight = Endpoint("weight")

    class Abstract(Provider):  # no slug: a base for others, not a provider
        pass

    try:
        assert get_provider_class("tiny_test") is Tiny and registered()["tiny_two_test"] is TinyTwo
        assert Tiny.name == "Tiny_Test"
        assert [(e.name, e.path) for e in Tiny.endpoints()] == [("steps", "steps"), ("sleep", "sleep")]
        assert {(e.name, e.path) for e in TinyTwo.endpoints()} == {
            ("steps", "steps"), ("sleep", "sleep/v2"), ("weight", "weight")
        }
        assert Abstract not in registered().values()
    finally:
        _registry.pop("tiny_test", None)
        _registry.pop("tiny_two_test", None)


ACME = '''
"""Acme: a partner added by dropping this one module into the providers package (it speaks Strava's API)."""

from healthsync.models import Workout
from healthsync.providers.base import Provider
from healthsync.providers.declarations import Endpoint, FromToken, OAuth2, PageNumber, Since
from healthsync.providers.mapping import instant, number


class Acme(Provider):
    slug = "acme"
    auth = OAuth2(authorize_url="https://acme.example/oauth/authorize", token_url="https://acme.example/oauth/token",
                  scopes=["read", "activity:read_all"], scope_sep=",")
    api = "https://acme.example/api/v3/"
    identity = FromToken("athlete.id")
    sessions = Endpoint("athlete/activities", page=PageNumber(size=50), since=Since("after"), scope="activity:read_all")

    @sessions.maps
    def session(a):
        start = instant(a["start_date"])
        return Workout(external_id=a["id"], sport=Workout.Sport.OTHER, sport_raw=a["sport_type"], start=start,
                       duration_s=number(a["moving_time"]))
'''


@pytest.mark.django_db(transaction=True)
def test_a_provider_module_is_all_it_takes(tmp_path, monkeypatch, partner_factory, connect_partner, settings):
    (tmp_path / "acme.py").write_text(textwrap.dedent(ACME))
    monkeypatch.setattr(providers_package, "__path__", [*providers_package.__path__, str(tmp_path)])
    strava = partner_factory("strava")
    providers = {**settings.HEALTHSYNC["PROVIDERS"],
                 "acme": {"client_id": "demo-client", "client_secret": "demo-secret", "origin": strava.url}}
    settings.HEALTHSYNC = {**settings.HEALTHSYNC, "PROVIDERS": providers}
    assert "healthsync.E003" in healthsync_errors()  # configured, but no module yet
    try:
        autodiscover()  # what app start-up does

        assert "healthsync.E003" not in healthsync_errors()
        assert "acme" in {cls.slug for cls in enabled_providers()}
        assert [e.name for e in get_provider("acme").endpoints()] == ["sessions"]
        connection = connect_partner("acme")
        run = sync(connection)
        assert run.outcome == "success", run.error
        assert Workout.objects.filter(provider="acme").count() == run.records_new > 0
    finally:
        _registry.pop("acme", None)
        sys.modules.pop("healthsync.providers.acme", None)
