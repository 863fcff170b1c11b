"""Data endpoints: paging returns every record exactly once, clock-driven uploads, truth and control API."""

from __future__ import annotations

from datetime import datetime, timedelta

from emu_helpers import START, bearer

from healthsync.emulators import Clock, create_app


def strava_pages(client, token, **params):
    seen, page = [], 1
    while True:
        response = client.get("/api/v3/athlete/activities", params={**params, "page": page}, headers=bearer(token))
        assert response.status_code == 200
        batch = response.json()
        if not batch:
            return seen
        seen.extend(batch)
        page += 1


def withings_pages(client, token, path, action, key, **params):
    items, offset, calls = [], 0, 0
    while True:
        body = client.post(path, data={"action": action, "offset": offset, **params}, headers=bearer(token)).json()
        assert body["status"] == 0, body
        items.extend(body["body"][key])
        calls += 1
        if not body["body"]["more"]:
            assert body["body"]["offset"] == 0
            return items, calls
        offset = body["body"]["offset"]


def oura_pages(client, token, path, **params):
    items, next_token, calls = [], None, 0
    while True:
        query = {**params, **({"next_token": next_token} if next_token else {})}
        response = client.get(path, params=query, headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["data"])
        calls += 1
        next_token = body["next_token"]
        if next_token is None:
            return items, calls


def test_strava_paging_and_order(make_server, http):
    server = make_server("strava")
    client = http(server)
    token = server.state.issue_tokens("strava-user-1").access.token
    truth = client.get("/_emulator/truth", params={"user": "strava-user-1"}).json()["activities"]
    assert len(truth) > 8
    desc = strava_pages(client, token, per_page=3)
    assert [a["id"] for a in desc] == [a["id"] for a in reversed(truth)]
    assert desc == list(reversed(truth))
    asc = strava_pages(client, token, per_page=4, after=0)  # Strava lists ascending when `after` is given
    assert [a["id"] for a in asc] == [a["id"] for a in truth]
    middle = truth[len(truth) // 2]
    start = int(datetime.fromisoformat(middle["start_date"].replace("Z", "+00:00")).timestamp())
    before = strava_pages(client, token, before=start)
    assert {a["id"] for a in before} == {a["id"] for a in truth[: len(truth) // 2]}
    assert len(client.get("/api/v3/athlete/activities", params={"per_page": 500}, headers=bearer(token)).json()) == min(
        200, len(truth)
    )
    assert client.get("/api/v3/athlete/activities", params={"page": "x"}, headers=bearer(token)).status_code == 400


def test_strava_private_activities_need_read_all(make_server, http):
    server = make_server("strava", users=5)
    client = http(server)
    for user in server.state.users():
        truth = client.get("/_emulator/truth", params={"user": user["username"]}).json()["activities"]
        private = [a for a in truth if a["private"]]
        if private:
            break
    else:
        raise AssertionError("expected a private activity in the seeded world")
    limited = server.state.issue_tokens(user["username"], ("read", "activity:read")).access.token
    listed = strava_pages(client, limited, per_page=200)
    assert len(listed) == len(truth) - len(private)
    assert client.get(f"/api/v3/activities/{private[0]['id']}", headers=bearer(limited)).status_code == 404


def test_withings_paging_matches_truth(make_server, http):
    server = make_server("withings", page_size=4)
    client = http(server)
    token = server.state.issue_tokens("withings-user-1").access.token
    truth = client.get("/_emulator/truth", params={"user": "withings-user-1"}).json()
    groups, calls = withings_pages(client, token, "/measure", "getmeas", "measuregrps")
    assert calls > 2
    assert sorted(groups, key=lambda g: g["grpid"]) == sorted(truth["measuregrps"], key=lambda g: g["grpid"])
    for path, action, key, truth_key in [
        ("/v2/measure", "getactivity", "activities", "activities"),
        ("/v2/measure", "getworkouts", "series", "workouts"),
        ("/v2/sleep", "getsummary", "series", "sleep"),
    ]:
        items, calls = withings_pages(client, token, path, action, key, lastupdate=0)
        assert calls > 2 and items == truth[truth_key], action
        ranged, _ = withings_pages(client, token, path, action, key, startdateymd="2000-01-01", enddateymd="2100-01-01")
        assert ranged == truth[truth_key]
    missing = client.post("/v2/measure", data={"action": "getactivity"}, headers=bearer(token)).json()
    assert missing["status"] == 503
    unknown = client.post("/v2/measure", data={"action": "nope"}, headers=bearer(token)).json()
    assert unknown["status"] != 0


def test_withings_meastype_and_lastupdate(make_server, http):
    server = make_server("withings")
    client = http(server)
    token = server.state.issue_tokens("withings-user-1").access.token
    weights, _ = withings_pages(client, token, "/measure", "getmeas", "measuregrps", meastype=1)
    assert weights and all([m["type"] for m in g["measures"]] == [1] for g in weights)
    t0 = int(server.state.clock.now())
    server.state.clock.advance(60)
    created = client.post(
        "/_emulator/upload", json={"user": "withings-user-1", "kind": "weight", "weight_kg": 71.25}
    ).json()
    assert created["measures"][0] == {"value": 71250, "type": 1, "unit": -3, "algo": 0, "fm": 131}
    since, _ = withings_pages(client, token, "/measure", "getmeas", "measuregrps", lastupdate=t0)
    assert [g["grpid"] for g in since] == [created["grpid"]]


def test_oura_paging_matches_truth(make_server, http):
    server = make_server("oura", page_size=4, heartrate_page_size=100)
    client = http(server)
    user = server.state.users()[0]["partner_user_id"]
    token = server.state.issue_tokens(user).access.token
    truth = client.get("/_emulator/truth", params={"user": user}).json()
    for name in ("daily_activity", "sleep", "workout"):
        items, calls = oura_pages(
            client, token, f"/v2/usercollection/{name}", start_date="2000-01-01", end_date="2100-01-01"
        )
        assert calls > 2 and items == truth[name], name
        one = client.get(f"/v2/usercollection/{name}/{items[0]['id']}", headers=bearer(token))
        assert one.status_code == 200 and one.json() == items[0]
    # default window: yesterday and today
    recent, _ = oura_pages(client, token, "/v2/usercollection/sleep")
    assert 1 <= len(recent) <= 2
    now = server.state.clock.now_dt()
    rows, calls = oura_pages(
        client,
        token,
        "/v2/usercollection/heartrate",
        start_datetime=(now - timedelta(days=2)).isoformat(),
        end_datetime=now.isoformat(),
    )
    assert calls > 2
    stamps = [r["timestamp_unix"] for r in rows]
    assert stamps == sorted(set(stamps)) and all(b - a == 300_000 for a, b in zip(stamps, stamps[1:], strict=False))
    assert {r["source"] for r in rows} >= {"sleep", "awake"}
    assert (
        client.get("/v2/usercollection/daily_activity", params={"start_date": "bad"}, headers=bearer(token)).status_code
        == 422
    )
    assert (
        client.get("/v2/usercollection/daily_activity", params={"next_token": "%%%"}, headers=bearer(token)).status_code
        == 400
    )
    assert client.get("/v2/usercollection/workout/not-a-doc", headers=bearer(token)).status_code == 404


def test_uploads_follow_the_clock(make_server, http):
    server = make_server("strava")
    client = http(server)
    before = len(client.get("/_emulator/truth", params={"user": "strava-user-1"}).json()["activities"])
    response = client.post("/_emulator/clock", json={"advance": 7 * 86400})
    assert response.json()["now"] == START + 7 * 86400 and response.json()["frozen"] is True
    after = len(client.get("/_emulator/truth", params={"user": "strava-user-1"}).json()["activities"])
    assert after > before


def test_todays_steps_grow_during_the_day(make_server, http):
    server = make_server("withings", users=5)
    client = http(server)
    state = server.state
    # pick a user for whom it is daytime (local 08:00-18:00) at START
    user = next(u for u in state.world.users if 8 <= datetime.fromtimestamp(START, u.zone).hour < 18)
    token = state.issue_tokens(user.username).access.token
    today = user.local_day(START).isoformat()

    def today_row():
        rows, _ = withings_pages(
            client, token, "/v2/measure", "getactivity", "activities", startdateymd=today, enddateymd=today
        )
        assert len(rows) == 1
        return rows[0]

    first = today_row()
    state.clock.advance(2 * 3600)
    second = today_row()
    assert second["steps"] > first["steps"] and second["modified"] > first["modified"]
    since, _ = withings_pages(client, token, "/v2/measure", "getactivity", "activities", lastupdate=first["modified"])
    assert today in [r["date"] for r in since]
    # control API: the user edits today's steps
    edited = client.post(
        "/_emulator/update", json={"user": user.partner_user_id, "kind": "activities", "steps": 4321}
    ).json()
    assert edited["steps"] == 4321 and edited["modified"] == int(state.clock.now())
    assert today_row()["steps"] == 4321


def test_control_upload_update_delete(make_server, http):
    server = make_server("strava")
    client = http(server)
    token = server.state.issue_tokens("strava-user-1").access.token
    created = client.post(
        "/_emulator/upload",
        json={"user": "strava-user-1", "kind": "workout", "sport": "run", "duration": 1800, "distance": 5000.0},
    ).json()
    assert created["type"] == "Run" and created["distance"] == 5000.0
    newest = client.get("/api/v3/athlete/activities", params={"per_page": 1}, headers=bearer(token)).json()
    assert newest[0]["id"] == created["id"]
    renamed = client.post(
        "/_emulator/update",
        json={"user": "strava-user-1", "kind": "activities", "id": created["id"], "name": "Renamed"},
    ).json()
    assert renamed["name"] == "Renamed"
    detail = client.get(f"/api/v3/activities/{created['id']}", headers=bearer(token))
    assert detail.json()["name"] == "Renamed" and detail.json()["calories"] > 0
    deleted = client.post(
        "/_emulator/delete", json={"user": "strava-user-1", "kind": "activities", "id": created["id"]}
    )
    assert deleted.status_code == 200
    gone = client.get(f"/api/v3/activities/{created['id']}", headers=bearer(token))
    assert gone.status_code == 404 and gone.json()["message"] == "Record Not Found"
    assert (
        client.post(
            "/_emulator/delete", json={"user": "strava-user-1", "kind": "activities", "id": created["id"]}
        ).status_code
        == 404
    )
    assert client.post("/_emulator/upload", json={"user": "nobody", "kind": "workout"}).status_code == 404
    users = client.get("/_emulator/users").json()
    assert users[0]["username"] == "strava-user-1" and users[0]["partner_user_id"].isdigit()


def test_oura_delete_document(make_server, http):
    server = make_server("oura")
    client = http(server)
    user = server.state.users()[1]["partner_user_id"]
    token = server.state.issue_tokens(user).access.token
    workout = client.get("/_emulator/truth", params={"user": user}).json()["workout"][-1]
    assert client.get(f"/v2/usercollection/workout/{workout['id']}", headers=bearer(token)).status_code == 200
    client.post("/_emulator/delete", json={"user": user, "kind": "workout", "id": workout["id"]})
    assert client.get(f"/v2/usercollection/workout/{workout['id']}", headers=bearer(token)).status_code == 404
    assert workout["id"] not in {
        w["id"] for w in client.get("/_emulator/truth", params={"user": user}).json()["workout"]
    }


def test_world_is_deterministic_per_seed():
    def truth(seed):
        app = create_app("withings", seed=seed, clock=Clock(start=START, frozen=True))
        return app.state.emulator.truth("withings-user-2")

    assert truth(4) == truth(4)
    assert truth(4) != truth(5)
    sizes = {k: len(v) for k, v in truth(4).items()}
    assert sizes["activities"] >= 30 and sizes["sleep"] >= 29 and sizes["measuregrps"] >= 8
    assert sizes["workouts"] >= 6


def test_clock_control(make_server, http):
    server = make_server("oura")
    client = http(server)
    assert client.post("/_emulator/clock", json={"set": START + 100}).json()["now"] == START + 100
    client.post("/_emulator/clock", json={"freeze": False})
    assert client.get("/_emulator/clock").json()["frozen"] is False
    assert abs(client.get("/_emulator/clock").json()["now"] - (START + 100)) < 5
    assert client.post("/_emulator/clock", json="bad").status_code == 400


def test_strava_athlete_detail_needs_profile_read_all(make_server, http):
    server = make_server("strava")
    client = http(server)
    summary = client.get(
        "/api/v3/athlete", headers=bearer(server.state.issue_tokens("strava-user-1", ("read",)).access.token)
    ).json()
    detailed = client.get(
        "/api/v3/athlete",
        headers=bearer(server.state.issue_tokens("strava-user-1", ("read", "profile:read_all")).access.token),
    ).json()
    assert summary["resource_state"] == 2 and "measurement_preference" not in summary
    assert detailed["resource_state"] == 3 and detailed["measurement_preference"] == "meters"
    assert summary["weight"] == detailed["weight"] > 0
