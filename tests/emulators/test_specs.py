"""Validate every emulated endpoint's responses against the vendors' own specs (``../shared/specs``).

* Oura: OpenAPI 3.1 component schemas (JSON Schema 2020-12, ``#/components/...`` refs resolved), using the
  typed ``MultiDocumentResponse_*`` branch of each ``anyOf`` (the generic ``...Dict`` branch accepts anything).
* Withings: OpenAPI 3.0 response schemas looked up by ``operationId`` (the path keys are padded with spaces).
  The schemas declare no ``required`` lists, so the tests also require the documented fields and reject keys
  the schema does not declare.
* Strava: response schemas are external refs that are not shipped, so responses are compared with the
  example responses embedded in the swagger (same JSON type for every key we share with the example), and our
  paths, parameters and scopes are checked against the swagger.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest
import yaml
from emu_helpers import SPECS, bearer, login
from jsonschema import Draft202012Validator, FormatChecker
from openapi_schema_validator import OAS30Validator

# -- spec loading ------------------------------------------------------------------------------------------


@cache
def oura_spec() -> dict[str, Any]:
    return json.loads((SPECS / "oura-openapi.json").read_text())


@cache
def withings_spec() -> dict[str, Any]:
    return yaml.safe_load((SPECS / "withings-openapi.yml").read_text())


@cache
def strava_spec() -> dict[str, Any]:
    return json.loads((SPECS / "strava-swagger.json").read_text())


def oura_response_schema(path: str, status: str = "200") -> dict[str, Any]:
    schema = oura_spec()["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
    return schema["anyOf"][0] if "anyOf" in schema else schema


def oura_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(
        {**schema, "components": oura_spec()["components"]}, format_checker=FormatChecker()
    )
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def oura_component(name: str) -> dict[str, Any]:
    return oura_spec()["components"]["schemas"][name]


def withings_operation(operation_id: str) -> dict[str, Any]:
    for item in withings_spec()["paths"].values():
        if isinstance(item, dict):
            for op in item.values():
                if isinstance(op, dict) and op.get("operationId") == operation_id:
                    return op
    raise KeyError(operation_id)


# Known erratum: the spec types getmeas ``body.updatetime`` as a string, but the live API sends an epoch
# integer (observed responses quoted in public client code, e.g. ``"updatetime":1515003660``), as we do.
WITHINGS_ERRATA = {"measure-getmeas": ("updatetime", {"type": "integer"})}


def withings_response_schema(operation_id: str) -> dict[str, Any]:
    op = withings_operation(operation_id)
    responses = op["responses"]
    ok = responses.get(200, responses.get("200"))  # YAML reads the unquoted status code as an integer
    schema = copy.deepcopy(ok["content"]["application/json"]["schema"])
    if operation_id in WITHINGS_ERRATA:
        key, replacement = WITHINGS_ERRATA[operation_id]
        schema["properties"]["body"]["properties"][key] = replacement
    return schema


def withings_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = OAS30Validator({**schema, "components": withings_spec()["components"]}, format_checker=FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def undeclared(instance: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        schema = withings_spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return set(instance) - set(schema.get("properties", {}))


# -- Oura --------------------------------------------------------------------------------------------------


@pytest.fixture
def oura(make_server, http):
    server = make_server("oura", page_size=10, heartrate_page_size=500)
    client = http(server)
    token = login(client, "oura")["access_token"]
    return server, client, token


def test_oura_collections_validate(oura):
    server, client, token = oura
    for name in ("daily_activity", "sleep", "workout"):
        path = f"/v2/usercollection/{name}"
        schema = oura_response_schema(path)
        assert schema["$ref"].startswith("#/components/schemas/MultiDocumentResponse_")
        next_token, pages = None, 0
        while True:
            params = {"start_date": "2000-01-01", "end_date": "2100-01-01"}
            if next_token:
                params["next_token"] = next_token
            body = client.get(path, params=params, headers=bearer(token)).json()
            assert oura_errors(schema, body) == [], name
            item_schema = oura_component(schema["$ref"].split("_", 1)[1].rstrip("_"))
            for item in body["data"]:
                assert set(item) <= set(item_schema["properties"]), name
            pages += 1
            next_token = body["next_token"]
            if not next_token:
                break
        assert pages >= 3
        single_schema = oura_response_schema(f"{path}/{{document_id}}")
        doc = client.get(f"{path}/{body['data'][0]['id']}", headers=bearer(token)).json()
        assert oura_errors(single_schema, doc) == []


def test_oura_heartrate_personal_info_and_errors_validate(oura):
    server, client, token = oura
    heartrate = client.get("/v2/usercollection/heartrate", headers=bearer(token)).json()
    assert heartrate["data"] and heartrate["next_token"] is None
    assert oura_errors(oura_response_schema("/v2/usercollection/heartrate"), heartrate) == []
    info = client.get("/v2/usercollection/personal_info", headers=bearer(token)).json()
    assert oura_errors(oura_response_schema("/v2/usercollection/personal_info"), info) == []
    assert info["email"] and info["weight"] > 0
    invalid = client.get("/v2/usercollection/sleep", params={"end_date": "31/12/2026"}, headers=bearer(token))
    assert invalid.status_code == 422
    assert oura_errors(oura_response_schema("/v2/usercollection/sleep", "422"), invalid.json()) == []


def test_oura_validation_can_fail(oura):
    server, client, token = oura
    body = client.get("/v2/usercollection/daily_activity", headers=bearer(token)).json()
    schema = oura_response_schema("/v2/usercollection/daily_activity")
    broken = copy.deepcopy(body)
    del broken["data"][0]["steps"]
    assert any("steps" in e for e in oura_errors(schema, broken))
    broken = copy.deepcopy(body)
    broken["data"][0]["total_calories"] = "2000"
    assert oura_errors(schema, broken)
    workout = client.get(
        "/v2/usercollection/workout", params={"start_date": "2000-01-01"}, headers=bearer(token)
    ).json()
    workout["data"][0]["intensity"] = "extreme"
    assert oura_errors(oura_response_schema("/v2/usercollection/workout"), workout)


# -- Withings ----------------------------------------------------------------------------------------------

WITHINGS_CALLS = [
    ("measure-getmeas", "/measure", "getmeas", "measuregrps", {}),
    ("measurev2-getactivity", "/v2/measure", "getactivity", "activities", {"lastupdate": 0}),
    ("measurev2-getworkouts", "/v2/measure", "getworkouts", "series", {"lastupdate": 0}),
    ("sleepv2-getsummary", "/v2/sleep", "getsummary", "series", {"lastupdate": 0}),
]
WITHINGS_REQUIRED = {
    "measure-getmeas": {"grpid", "attrib", "date", "created", "modified", "category", "deviceid", "measures"},
    "measurev2-getactivity": {
        "date",
        "timezone",
        "deviceid",
        "brand",
        "is_tracker",
        "steps",
        "distance",
        "elevation",
        "soft",
        "moderate",
        "intense",
        "active",
        "calories",
        "totalcalories",
        "hr_average",
        "hr_min",
        "hr_max",
        "modified",
    },
    "measurev2-getworkouts": {"id", "category", "timezone", "startdate", "enddate", "date", "modified", "data"},
    "sleepv2-getsummary": {"id", "timezone", "startdate", "enddate", "date", "modified", "data"},
}


@pytest.mark.parametrize(("operation_id", "path", "action", "key", "params"), WITHINGS_CALLS)
def test_withings_responses_validate(make_server, http, operation_id, path, action, key, params):
    server = make_server("withings", page_size=7)
    client = http(server)
    token = login(client, "withings")["access_token"]
    schema = withings_response_schema(operation_id)
    body_schema = schema["properties"]["body"]
    item_schema = body_schema["properties"][key]["items"]
    offset, seen = 0, 0
    while True:
        body = client.post(path, data={"action": action, "offset": offset, **params}, headers=bearer(token)).json()
        assert body["status"] == 0
        assert withings_errors(schema, body) == [], operation_id
        assert set(body) == {"status", "body"}
        assert undeclared(body["body"], body_schema) == set()
        for item in body["body"][key]:
            assert WITHINGS_REQUIRED[operation_id] <= set(item), operation_id
            assert undeclared(item, item_schema) == set(), operation_id
            if "data" in item:
                data_schema = withings_spec()["components"]["schemas"][item_schema["$ref"].rsplit("/", 1)[-1]]
                assert set(item["data"]) <= set(data_schema["properties"]["data"]["properties"])
            for measure in item.get("measures", []):
                assert undeclared(measure, {"$ref": "#/components/schemas/measure_object"}) == set()
        seen += len(body["body"][key])
        if not body["body"]["more"]:
            break
        offset = body["body"]["offset"]
    assert seen > 7


def test_withings_token_response_validates(make_server, http):
    client = http(make_server("withings"))
    from emu_helpers import consent, exchange

    response = exchange(client, "withings", consent(client, "withings")["code"][0]).json()
    schema = withings_response_schema("oauth2-getaccesstoken")
    assert withings_errors(schema, response) == []
    assert set(response["body"]) == set(schema["properties"]["body"]["properties"])


def test_withings_validation_can_fail(make_server, http):
    server = make_server("withings")
    client = http(server)
    token = login(client, "withings")["access_token"]
    body = client.post("/v2/measure", data={"action": "getactivity", "lastupdate": 0}, headers=bearer(token)).json()
    schema = withings_response_schema("measurev2-getactivity")
    body["body"]["activities"][0]["steps"] = "lots"
    body["body"]["more"] = 0  # getactivity's `more` is a boolean (getmeas' is an integer)
    assert len(withings_errors(schema, body)) == 2
    raw = withings_operation("measure-getmeas")["responses"][200]["content"]["application/json"]["schema"]
    assert raw["properties"]["body"]["properties"]["updatetime"]["type"] == "string"  # the erratum we patch


# -- Strava ------------------------------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def example_mismatches(ours: Any, example: Any, where: str = "$") -> list[str]:
    """Keys shared with the vendor example must carry the same JSON type (null on either side is allowed)."""
    a, b = json_type(ours), json_type(example)
    if "null" in (a, b):
        return []
    if a != b:
        return [f"{where}: {a} != example {b}"]
    if a == "object":
        out = []
        for key in ours.keys() & example.keys():
            out += example_mismatches(ours[key], example[key], f"{where}.{key}")
        return out
    if a == "array" and ours and example:
        return example_mismatches(ours[0], example[0], f"{where}[0]")
    return []


def strava_example(path: str) -> Any:
    return strava_spec()["paths"][path]["get"]["responses"]["200"]["examples"]["application/json"]


SUMMARY_KEYS = {
    "id",
    "name",
    "distance",
    "moving_time",
    "elapsed_time",
    "total_elevation_gain",
    "type",
    "sport_type",
    "start_date",
    "start_date_local",
    "timezone",
    "utc_offset",
    "average_heartrate",
    "max_heartrate",
    "has_heartrate",
    "athlete",
    "manual",
    "private",
    "resource_state",
}


@pytest.fixture
def strava(make_server, http):
    server = make_server("strava")
    client = http(server)
    token = login(client, "strava")["access_token"]
    return server, client, token


def test_strava_responses_match_examples(strava):
    server, client, token = strava
    athlete = client.get("/api/v3/athlete", headers=bearer(token)).json()
    assert example_mismatches(athlete, strava_example("/athlete")) == []
    assert len(set(athlete) & set(strava_example("/athlete"))) >= 20 and isinstance(athlete["weight"], float)
    activities = client.get("/api/v3/athlete/activities", params={"per_page": 200}, headers=bearer(token)).json()
    example = strava_example("/athlete/activities")
    assert len(activities) > 5
    for activity in activities:
        assert example_mismatches(activity, example[0]) == []
        assert set(activity) >= SUMMARY_KEYS and activity["resource_state"] == 2
        assert activity["start_date"].endswith("Z") and activity["start_date_local"].endswith("Z")
        assert activity["timezone"].startswith("(GMT") and activity["athlete"]["resource_state"] == 1
        assert activity["sport_type"] in {"Run", "Ride", "Walk", "Swim", "Hike", "WeightTraining", "Yoga"}
        if activity["type"] == "Ride":
            assert "kilojoules" in activity
    detail = client.get(f"/api/v3/activities/{activities[0]['id']}", headers=bearer(token)).json()
    assert example_mismatches(detail, strava_example("/activities/{id}")) == []
    assert detail["resource_state"] == 3 and isinstance(detail["calories"], float)
    assert len(set(detail) & set(strava_example("/activities/{id}"))) >= 50


def test_strava_comparison_can_fail(strava):
    server, client, token = strava
    activity = client.get("/api/v3/athlete/activities", headers=bearer(token)).json()[0]
    activity["distance"] = str(activity["distance"])
    activity["athlete"]["id"] = "x"
    assert len(example_mismatches(activity, strava_example("/athlete/activities")[0])) == 2


def test_strava_paths_params_and_scopes_exist_in_swagger(strava):
    server, client, token = strava
    spec = strava_spec()

    def param_names(path: str) -> set[str]:
        names = set()
        for param in spec["paths"][path]["get"].get("parameters", []):
            if "$ref" in param:
                param = spec["parameters"][param["$ref"].rsplit("/", 1)[-1]]
            names.add(param["name"])
        return names

    assert "/athlete" in spec["paths"]
    assert param_names("/athlete/activities") == {"before", "after", "page", "per_page"}
    assert param_names("/activities/{id}") >= {"id"}
    assert spec["basePath"] == "/api/v3"
    from healthsync.emulators.strava import SCOPES

    oauth = spec["securityDefinitions"]["strava_oauth"]
    assert set(oauth["scopes"]) == set(SCOPES)
    # the swagger names the OAuth endpoints under /api/v3; the emulator serves both forms
    for url in (oauth["authorizationUrl"], oauth["tokenUrl"]):
        path = url.split("www.strava.com", 1)[1]
        assert client.request("POST" if path.endswith("token") else "GET", path).status_code in (200, 400, 401)
