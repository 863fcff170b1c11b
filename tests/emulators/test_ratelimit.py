"""Rate limits: Strava 15-min/daily windows and headers, Withings 601, Oura 429 with Retry-After."""

from __future__ import annotations

from emu_helpers import START, bearer


def test_strava_headers_windows_and_429(make_server, http):
    server = make_server("strava", limits=(6, 20, 4, 9))
    client = http(server)
    state = server.state
    # START is 12:07:30 UTC: the 15-minute window runs 12:00-12:15
    token = state.issue_tokens("strava-user-1").access.token
    first = client.get("/api/v3/athlete", headers=bearer(token))
    assert first.headers["X-RateLimit-Limit"] == "6,20"
    assert first.headers["X-RateLimit-Usage"] == "1,1"
    assert first.headers["X-ReadRateLimit-Limit"] == "4,9"
    assert first.headers["X-ReadRateLimit-Usage"] == "1,1"
    for _ in range(3):
        assert client.get("/api/v3/athlete", headers=bearer(token)).status_code == 200
    over = client.get("/api/v3/athlete", headers=bearer(token))
    assert over.status_code == 429
    assert over.json() == {
        "message": "Rate Limit Exceeded",
        "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}],
    }
    assert over.headers["X-ReadRateLimit-Usage"] == "5,5"
    # invalid tokens still count and still get headers
    bad = client.get("/api/v3/athlete", headers=bearer("nope"))
    assert bad.status_code == 429 and bad.headers["X-RateLimit-Usage"] == "6,6"
    state.clock.advance(7 * 60 + 29)  # 12:14:59, same window
    assert client.get("/api/v3/athlete", headers=bearer(token)).status_code == 429
    state.clock.advance(1)  # 12:15:00, a new 15-minute window; daily usage carries over
    fresh = client.get("/api/v3/athlete", headers=bearer(token))
    assert fresh.status_code == 200 and fresh.headers["X-ReadRateLimit-Usage"] == "1,8"
    assert client.get("/api/v3/athlete", headers=bearer(token)).status_code == 200
    assert client.get("/api/v3/athlete", headers=bearer(token)).status_code == 429  # daily read limit 9
    report = client.get("/_emulator/requests").json()
    assert report["any_window_exceeded"] is True
    read15 = next(c for c in report["rate_limits"] if c["name"] == "read_15min")
    assert [w["start"] for w in read15["windows"]] == [START - 450, START + 450]
    # the daily window resets at midnight UTC
    state.clock.set(START - (START % 86400) + 86400)
    assert client.get("/api/v3/athlete", headers=bearer(token)).headers["X-ReadRateLimit-Usage"] == "1,1"


def test_requests_report_counts_paths_and_status(make_server, http):
    server = make_server("strava")
    client = http(server)
    token = server.state.issue_tokens("strava-user-1").access.token
    client.get("/api/v3/athlete", headers=bearer(token))
    client.get("/api/v3/athlete", headers=bearer("bad"))
    report = client.get("/_emulator/requests").json()
    assert report["paths"]["/api/v3/athlete"] == {"count": 2, "by_status": {"200": 1, "401": 1}}
    assert report["any_window_exceeded"] is False
    assert "/_emulator/requests" not in report["paths"]
    client.delete("/_emulator/requests")
    assert client.get("/_emulator/requests").json()["total"] == 0


def test_withings_601(make_server, http):
    server = make_server("withings", rate_limit=3)
    client = http(server)
    token = server.state.issue_tokens("withings-user-1").access.token
    for _ in range(3):
        assert client.post("/measure", data={"action": "getmeas"}, headers=bearer(token)).json()["status"] == 0
    limited = client.post("/measure", data={"action": "getmeas"}, headers=bearer(token))
    assert limited.status_code == 200 and limited.json() == {"status": 601, "error": "Too many request"}
    server.state.clock.advance(60)
    assert client.post("/measure", data={"action": "getmeas"}, headers=bearer(token)).json()["status"] == 0


def test_withings_http429_variant(make_server, http):
    server = make_server("withings", rate_limit=1, http429=True)
    client = http(server)
    token = server.state.issue_tokens("withings-user-1").access.token
    client.post("/measure", data={"action": "getmeas"}, headers=bearer(token))
    limited = client.post("/measure", data={"action": "getmeas"}, headers=bearer(token))
    assert limited.status_code == 429 and limited.headers["X-RateLimit-Remaining"] == "0"


def test_oura_rolling_window_429(make_server, http):
    server = make_server("oura", rate_limit=3, rate_window=300)
    client = http(server)
    user = server.state.users()[0]["partner_user_id"]
    token = server.state.issue_tokens(user).access.token
    for _ in range(3):
        assert client.get("/v2/usercollection/personal_info", headers=bearer(token)).status_code == 200
        server.state.clock.advance(60)
    limited = client.get("/v2/usercollection/personal_info", headers=bearer(token))
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Limit"] == "3" and limited.headers["X-RateLimit-Window"] == "300"
    assert limited.headers["X-RateLimit-Tier"] == "application"
    assert int(limited.headers["X-RateLimit-Reset"]) == int(START) + 300
    assert limited.headers["Retry-After"] == "120"
    server.state.clock.advance(120)  # honour Retry-After: the first request has left the rolling window
    assert client.get("/v2/usercollection/personal_info", headers=bearer(token)).status_code == 200
    assert client.get("/v2/usercollection/personal_info", headers=bearer(token)).status_code == 429
    report = client.get("/_emulator/requests").json()
    assert report["any_window_exceeded"] is True and report["rate_limits"][0]["rejected"] == 2


def test_oura_token_tier(make_server, http):
    server = make_server("oura", token_rate_limit=1)
    client = http(server)
    user = server.state.users()[0]["partner_user_id"]
    token = server.state.issue_tokens(user).access.token
    client.get("/v2/usercollection/personal_info", headers=bearer(token))
    limited = client.get("/v2/usercollection/personal_info", headers=bearer(token))
    assert limited.status_code == 429 and limited.headers["X-RateLimit-Tier"] == "token"
    other = server.state.issue_tokens(user).access.token
    assert client.get("/v2/usercollection/personal_info", headers=bearer(other)).status_code == 200
