"""Strava API v3 emulator: OAuth (comma scopes, rotation), athlete, activities, rate-limit headers."""

from __future__ import annotations

import json
import random
import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import Clock
from .common import params, to_int
from .control import control_routes
from .faults import FaultHooks, fault_injecting_app
from .oauth import AccessToken, OAuthError, OAuthQuirks, OAuthServer, authorize_endpoint, bearer
from .push import Outgoing, authorized
from .ratelimit import FixedWindow, RateLimiter
from .state import EmulatorState
from .world import Record, World, iso_utc, stable_id

SCOPES = (
    "read",
    "read_all",
    "profile:read_all",
    "profile:write",
    "activity:read",
    "activity:read_all",
    "activity:write",
)
QUIRKS = OAuthQuirks(
    slug="strava",
    access_ttl=21600,
    code_ttl=600,
    scope_sep=",",
    known_scopes=SCOPES,
    default_scopes=("read",),
    refresh_mode="rotate",
    reuse_access_if_left=3600,
    scope_in_redirect=True,
)
# neutral sport -> (type, sport_type)
SPORT_TYPES = {
    "run": ("Run", "Run"),
    "ride": ("Ride", "Ride"),
    "walk": ("Walk", "Walk"),
    "swim": ("Swim", "Swim"),
    "hike": ("Hike", "Hike"),
    "strength": ("WeightTraining", "WeightTraining"),
    "yoga": ("Yoga", "Yoga"),
}
COUNTRY = {
    "Europe/Stockholm": "Sweden",
    "America/Los_Angeles": "United States",
    "Europe/London": "United Kingdom",
    "Asia/Tokyo": "Japan",
    "America/New_York": "United States",
    "Europe/Berlin": "Germany",
    "Australia/Sydney": "Australia",
}


def fault(message: str, resource: str, field: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"message": message, "errors": [{"resource": resource, "field": field, "code": code}]}, status)


def bad_request(resource: str, field: str, code: str = "invalid") -> JSONResponse:
    return fault("Bad Request", resource, field, code, 400)


def rate_limited() -> JSONResponse:
    return fault("Rate Limit Exceeded", "Application", "rate limit", "exceeded", 429)


class StravaState(EmulatorState):
    slug = "strava"
    kind_aliases = {"workout": "workout", "activity": "workout", "activities": "workout"}
    # the vendor docs: answer within 2 s; up to 3 attempts in total (the spacing is not documented)
    push_deadline = 2.0
    push_retries = (5.0, 30.0)
    #: the app's one push subscription: {"id", "callback_url", ...} or None
    subscription: dict[str, Any] | None = None

    def event(self, owner: int, object_type: str, object_id: int, aspect: str, updates: dict, now: float) -> Outgoing:
        assert self.subscription is not None
        payload = {"aspect_type": aspect, "event_time": int(now), "object_id": object_id, "object_type": object_type,
                   "owner_id": owner, "subscription_id": self.subscription["id"], "updates": updates}
        notice = {"user": str(owner), "kind": object_type, "action": aspect, "object_id": str(object_id)}
        return Outgoing(self.subscription["callback_url"], json.dumps(payload).encode(), "application/json", notice)

    def push_notices(self, rec: Record, action: str, now: float) -> list[Outgoing]:
        owner = self.athlete_id(rec.user)
        if self.subscription is None or rec.kind != "workout" or not authorized(self, str(owner)):
            return []
        updates = {"title": rec.data["name"]} if action == "update" else {}
        return [self.event(owner, "activity", rec.id, action, updates, now)]

    def revoke(self, user: str) -> int:
        """The athlete revokes the app in their settings: Strava sends the deauthorization event."""
        athlete = self.user(user).partner_user_id
        was_authorized = authorized(self, athlete)
        revoked = super().revoke(user)
        if self.subscription is not None and was_authorized:
            now = self.clock.now()
            self.pusher.send(self.event(int(athlete), "athlete", int(athlete), "update", {"authorized": "false"}, now))
        return revoked

    def athlete_id(self, rec_user: int) -> int:
        return int(self.world.users[rec_user].partner_user_id)

    def tz_label(self, rec: Record) -> tuple[str, int]:
        """Strava labels the zone with its standard offset but reports the actual offset in utc_offset."""
        u = self.world.users[rec.user]
        local = datetime.fromtimestamp(rec.data["start"], u.zone)
        offset = local.utcoffset() or timedelta(0)
        minutes = int((offset - (local.dst() or timedelta(0))).total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        label = f"(GMT{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}) {u.tz}"
        return label, int(offset.total_seconds())

    def summary(self, rec: Record) -> dict[str, Any]:
        d, u = rec.data, self.world.users[rec.user]
        kind, sport_type = SPORT_TYPES.get(d["sport"], ("Workout", "Workout"))
        label, offset = self.tz_label(rec)
        moving = max(1, int(d["moving_time"]))
        speed = round(d["distance"] / moving, 3)
        r = random.Random(rec.id)
        lat, lng = round(r.uniform(-60, 60), 4), round(r.uniform(-120, 120), 4)
        outdoor = d["distance"] > 0
        out: dict[str, Any] = {
            "resource_state": 2,
            "athlete": {"id": self.athlete_id(rec.user), "resource_state": 1},
            "name": d["name"],
            "distance": float(d["distance"]),
            "moving_time": moving,
            "elapsed_time": int(d["duration"]),
            "total_elevation_gain": float(d["elevation"]),
            "type": kind,
            "sport_type": sport_type,
            "workout_type": None,
            "id": rec.id,
            "external_id": f"emulator_{rec.id}.fit",
            "upload_id": rec.id * 7,
            "upload_id_str": str(rec.id * 7),
            "start_date": iso_utc(d["start"]),
            "start_date_local": iso_utc(d["start"] + offset),
            "timezone": label,
            "utc_offset": float(offset),
            "start_latlng": [lat, lng] if outdoor else [],
            "end_latlng": [lat, lng] if outdoor else [],
            "location_city": None,
            "location_state": None,
            "location_country": COUNTRY.get(u.tz, ""),
            "achievement_count": 0,
            "kudos_count": r.randint(0, 12),
            "comment_count": 0,
            "athlete_count": 1,
            "photo_count": 0,
            "map": {"id": f"a{rec.id}", "summary_polyline": "", "resource_state": 2},
            "device_name": "Garmin Forerunner 265",
            "trainer": not outdoor,
            "commute": False,
            "manual": False,
            "private": bool(d.get("private")),
            "visibility": "only_me" if d.get("private") else "everyone",
            "flagged": False,
            "gear_id": None,
            "from_accepted_tag": False,
            "average_speed": speed,
            "max_speed": round(speed * 1.6, 3),
            "has_heartrate": True,
            "average_heartrate": float(d["avg_hr"]),
            "max_heartrate": float(d["max_hr"]),
            "heartrate_opt_out": False,
            "display_hide_heartrate_option": True,
            "elev_high": round(20 + float(d["elevation"]), 1),
            "elev_low": 20.0,
            "pr_count": 0,
            "total_photo_count": 0,
            "has_kudoed": False,
            "suffer_score": int(d["duration"] / 60 * (d["avg_hr"] / 150)),
        }
        if d["sport"] == "ride":
            watts = round(d["calories"] * 4.184 * 0.24 * 1000 / moving / 4.184, 1)
            out.update(
                {
                    "average_watts": watts,
                    "weighted_average_watts": int(watts * 1.08),
                    "kilojoules": round(watts * moving / 1000, 1),
                    "device_watts": False,
                    "average_cadence": 82.5,
                }
            )
        elif d["sport"] in ("run", "walk", "hike"):
            out["average_cadence"] = 84.0 if d["sport"] == "run" else 55.0
        return out

    def detailed(self, rec: Record) -> dict[str, Any]:
        out = self.summary(rec)
        d = rec.data
        out.update(
            {
                "resource_state": 3,
                "description": "",
                "calories": float(d["calories"]),
                "segment_efforts": [],
                "splits_metric": [],
                "laps": [],
                "gear": None,
                "partner_brand_tag": None,
                "photos": {"primary": None, "count": 0},
                "highlighted_kudosers": [],
                "hide_from_home": False,
                "embed_token": f"{rec.id:x}",
                "segment_leaderboard_opt_out": False,
                "leaderboard_opt_out": False,
            }
        )
        out["map"] = {"id": f"a{rec.id}", "polyline": "", "resource_state": 3, "summary_polyline": ""}
        if d["distance"] > 0:
            km, rest = divmod(d["distance"], 1000.0)
            per_km = d["moving_time"] / max(d["distance"] / 1000, 0.001)
            splits = [(1000.0, per_km)] * int(km) + ([(rest, per_km * rest / 1000)] if rest > 1 else [])
            out["splits_metric"] = [
                {
                    "distance": round(dist, 1),
                    "elapsed_time": int(t),
                    "elevation_difference": 0.0,
                    "moving_time": int(t),
                    "split": i + 1,
                    "average_speed": round(dist / max(t, 1), 2),
                    "average_heartrate": float(d["avg_hr"]),
                    "pace_zone": 0,
                }
                for i, (dist, t) in enumerate(splits)
            ]
        out["laps"] = [
            {
                "id": rec.id + 1,
                "resource_state": 2,
                "name": "Lap 1",
                "activity": {"id": rec.id, "resource_state": 1},
                "athlete": {"id": self.athlete_id(rec.user), "resource_state": 1},
                "elapsed_time": int(d["duration"]),
                "moving_time": int(d["moving_time"]),
                "start_date": out["start_date"],
                "start_date_local": out["start_date_local"],
                "distance": float(d["distance"]),
                "start_index": 0,
                "end_index": int(d["duration"]),
                "total_elevation_gain": float(d["elevation"]),
                "average_speed": out["average_speed"],
                "max_speed": out["max_speed"],
                "lap_index": 1,
                "split": 1,
            }
        ]
        return out

    def render(self, rec: Record, now: float) -> dict[str, Any]:
        return self.detailed(rec)

    def athlete(self, user_index: int, detailed: bool) -> dict[str, Any]:
        u = self.world.users[user_index]
        out: dict[str, Any] = {
            "id": int(u.partner_user_id),
            "username": u.username,
            "resource_state": 3 if detailed else 2,
            "firstname": u.firstname,
            "lastname": u.lastname,
            "bio": "",
            "city": u.tz.split("/")[-1],
            "state": "",
            "country": COUNTRY.get(u.tz, ""),
            "sex": "M" if u.profile.sex == "male" else "F",
            "premium": False,
            "summit": False,
            "created_at": iso_utc(u.created_at),
            "updated_at": iso_utc(self.world.origin),
            "badge_type_id": 0,
            "weight": float(u.profile.weight_kg),
            "profile_medium": "avatar/athlete/medium.png",
            "profile": "avatar/athlete/large.png",
            "friend": None,
            "follower": None,
        }
        if detailed:
            out.update(
                {
                    "follower_count": 3,
                    "friend_count": 5,
                    "mutual_friend_count": 0,
                    "athlete_type": 0,
                    "date_preference": "%m/%d/%Y",
                    "measurement_preference": "meters",
                    "clubs": [],
                    "ftp": None,
                    "bikes": [],
                    "shoes": [],
                }
            )
        return out

    def truth(self, user: str) -> dict[str, list[dict[str, Any]]]:
        u = self.user(user)
        recs = sorted(self.world.records_for(u, ("workout",), self.clock.now()), key=lambda r: r.data["start"])
        return {"activities": [self.summary(r) for r in recs], "athlete": [self.athlete(u.index, True)]}


def unknown_type(body: Any, rng: random.Random) -> bool:
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    items = [i for i in items if isinstance(i, dict) and "sport_type" in i]
    if not items:
        return False
    item = rng.choice(items)
    item["type"] = item["sport_type"] = "HoverboardRide"
    return True


def create_app(
    seed: int = 0,
    users: int = 3,
    clock: Clock | None = None,
    client_id: str = "demo-client",
    client_secret: str = "demo-secret",
    page_size: int = 30,
    limits: tuple[int, int, int, int] = (200, 2000, 100, 1000),
) -> Starlette:
    """``limits`` = (overall 15 min, overall daily, read 15 min, read daily)."""
    clock = clock or Clock()
    world = World(
        seed,
        users,
        clock,
        lambda i: str(stable_id(seed, "strava", i, low=10_000_000, span=90_000_000)),
        lambda i: f"strava-user-{i + 1}",
    )
    limiter = RateLimiter(
        FixedWindow("overall_15min", limits[0], 900),
        FixedWindow("overall_daily", limits[1], 86400),
        FixedWindow("read_15min", limits[2], 900),
        FixedWindow("read_daily", limits[3], 86400),
    )
    state = StravaState(world, OAuthServer(QUIRKS, clock, client_id, client_secret), limiter, page_size)

    def limit_headers(now: float) -> dict[str, str]:
        c = limiter.counters
        return {
            "X-RateLimit-Limit": f"{c['overall_15min'].limit},{c['overall_daily'].limit}",
            "X-RateLimit-Usage": f"{c['overall_15min'].usage(now)},{c['overall_daily'].usage(now)}",
            "X-ReadRateLimit-Limit": f"{c['read_15min'].limit},{c['read_daily'].limit}",
            "X-ReadRateLimit-Usage": f"{c['read_15min'].usage(now)},{c['read_daily'].usage(now)}",
        }

    def api(handler):  # noqa: ANN001, ANN202
        async def wrapped(request: Request) -> Response:
            now = clock.now()
            names = None if request.method == "GET" else ["overall_15min", "overall_daily"]
            over = limiter.hit(now, names)
            headers = limit_headers(now)
            if over:
                response: Response = rate_limited()
            else:
                token = state.oauth.authenticate(bearer(request) or request.query_params.get("access_token"))
                if token is None:
                    response = fault("Authorization Error", "Athlete", "access_token", "invalid", 401)
                else:
                    response = await handler(request, token, state.user(token.user_id))
            response.headers.update(headers)
            return response

        return wrapped

    def can_read_activities(token: AccessToken) -> bool:
        return "activity:read" in token.scopes or "activity:read_all" in token.scopes

    async def get_athlete(request: Request, token: AccessToken, u: Any) -> Response:
        # the swagger: detailed representation only for tokens with profile:read_all
        return JSONResponse(state.athlete(u.index, "profile:read_all" in token.scopes))

    async def list_activities(request: Request, token: AccessToken, u: Any) -> Response:
        if not can_read_activities(token):
            return fault("Authorization Error", "AccessToken", "activity:read_permission", "missing", 401)
        q = request.query_params
        parsed: dict[str, int | None] = {}
        for name in ("before", "after", "page", "per_page"):
            if q.get(name) not in (None, ""):
                parsed[name] = to_int(q[name])
                if parsed[name] is None:
                    return bad_request("Application", name)
        page = max(1, parsed.get("page") or 1)
        per_page = min(200, max(1, parsed.get("per_page") or state.page_size))
        recs = [
            r
            for r in world.records_for(u, ("workout",), clock.now())
            if "activity:read_all" in token.scopes or not r.data.get("private")
        ]
        if parsed.get("after") is not None:
            recs = [r for r in recs if r.data["start"] > parsed["after"]]  # type: ignore[operator]
        if parsed.get("before") is not None:
            recs = [r for r in recs if r.data["start"] < parsed["before"]]  # type: ignore[operator]
        ascending = parsed.get("after") is not None
        recs.sort(key=lambda r: (r.data["start"], r.id), reverse=not ascending)
        chunk = recs[(page - 1) * per_page : page * per_page]
        return JSONResponse([state.summary(r) for r in chunk])

    async def get_activity(request: Request, token: AccessToken, u: Any) -> Response:
        if not can_read_activities(token):
            return fault("Authorization Error", "AccessToken", "activity:read_permission", "missing", 401)
        rid = to_int(request.path_params["id"])
        rec = world.find(u, "workout", rid or 0) if rid is not None else None
        if (
            rec is None
            or not rec.visible(clock.now())
            or (rec.data.get("private") and "activity:read_all" not in token.scopes)
        ):
            return fault("Record Not Found", "Activity", "id", "invalid", 404)
        return JSONResponse(state.detailed(rec))

    async def authorize(request: Request) -> Response:
        return await authorize_endpoint(
            request, state.oauth, state.consent_users, "Strava", lambda f, c: bad_request("Application", f, c)
        )

    async def token(request: Request) -> Response:
        p = await params(request)
        try:
            state.oauth.check_client(p.get("client_id"), p.get("client_secret"))
            grant_type = p.get("grant_type")
            if grant_type == "authorization_code":
                grant = state.oauth.redeem_code(p.get("code"), p["client_id"], None)
            elif grant_type == "refresh_token":
                grant = state.oauth.use_refresh(p.get("refresh_token"), p["client_id"])
            else:
                return bad_request("RefreshToken" if p.get("refresh_token") else "AuthorizationCode", "grant_type")
        except OAuthError as err:
            if err.error == "invalid_client":
                return bad_request("Application", "client_id")
            if err.error == "invalid_secret":
                return fault("Authorization Error", "Application", "client_secret", "invalid", 401)
            resource = "RefreshToken" if err.field == "refresh_token" else "AuthorizationCode"
            return bad_request(resource, err.field if err.field != "redirect_uri" else "code")
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_at": int(grant.access.expires_at),
            "expires_in": max(0, int(grant.access.expires_at - clock.now())),
            "refresh_token": grant.refresh.token,
            "access_token": grant.access.token,
        }
        if p.get("grant_type") == "authorization_code":
            body["athlete"] = state.athlete(state.user(grant.access.user_id).index, False)
        return JSONResponse(body)

    async def deauthorize(request: Request) -> Response:
        p = await params(request)
        tok = p.get("access_token") or bearer(request)
        if state.oauth.authenticate(tok) is None or state.oauth.revoke_access_token(tok) is None:
            return fault("Authorization Error", "Athlete", "access_token", "invalid", 401)
        return JSONResponse({"access_token": tok})

    def app_credentials(p: dict[str, str]) -> Response | None:
        if p.get("client_id") != client_id:
            return bad_request("Application", "client_id")
        if p.get("client_secret") != client_secret:
            return fault("Authorization Error", "Application", "client_secret", "invalid", 401)
        return None

    def subscription_view() -> dict[str, Any]:
        assert state.subscription is not None
        return {**state.subscription, "resource_state": 2, "application_id": 1}

    async def push_subscriptions(request: Request) -> Response:
        """One subscription per app; creating it checks the callback with the hub.challenge GET (2 s)."""
        p = await params(request)
        refused = app_credentials(p)
        if refused:
            return refused
        if request.method == "GET":
            return JSONResponse([subscription_view()] if state.subscription else [])
        if state.subscription is not None:
            return fault("Bad Request", "PushSubscription", "callback url", "already exists", 400)
        callback, token = p.get("callback_url", ""), p.get("verify_token", "")
        if not callback.startswith(("http://", "https://")) or not token:
            return bad_request("PushSubscription", "callback url" if not token else "verify token")
        challenge = secrets.token_urlsafe(12)
        query = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": token}
        try:
            async with httpx.AsyncClient(timeout=state.push_deadline) as http:
                answer = await http.get(callback, params=query)
            ok = answer.status_code == 200 and answer.json().get("hub.challenge") == challenge
        except (httpx.HTTPError, ValueError, AttributeError):
            ok = False
        if not ok:
            return fault("Bad Request", "PushSubscription", "callback url", "GET to callback URL does not return 200",
                         400)
        stamp = iso_utc(clock.now())
        state.subscription = {"id": stable_id(seed, "push", clock.now(), low=100_000, span=900_000),
                              "callback_url": callback, "created_at": stamp, "updated_at": stamp}
        state.pusher.ensure_started()
        return JSONResponse({"id": state.subscription["id"]}, 201)

    async def delete_subscription(request: Request) -> Response:
        refused = app_credentials(await params(request))
        if refused:
            return refused
        if state.subscription is None or str(state.subscription["id"]) != request.path_params["id"]:
            return fault("Record Not Found", "PushSubscription", "id", "invalid", 404)
        state.subscription = None
        return Response(status_code=204)

    routes = [
        Route("/api/v3/push_subscriptions", push_subscriptions, methods=["GET", "POST"]),
        Route("/api/v3/push_subscriptions/{id}", delete_subscription, methods=["DELETE"]),
        Route("/api/v3/athlete", api(get_athlete)),
        Route("/api/v3/athlete/activities", api(list_activities)),
        Route("/api/v3/activities/{id}", api(get_activity)),
        *control_routes(state),
    ]
    for prefix in ("", "/api/v3"):
        routes += [
            Route(f"{prefix}/oauth/authorize", authorize, methods=["GET", "POST"]),
            Route(f"{prefix}/oauth/token", token, methods=["POST"]),
            Route(f"{prefix}/oauth/deauthorize", deauthorize, methods=["POST"]),
        ]
    hooks = FaultHooks(
        never=("/_emulator", "/oauth/authorize", "/api/v3/oauth/authorize"),
        api_prefixes=("/api/v3/athlete", "/api/v3/activities"),
        rate_limited=rate_limited,
        unknown_type=unknown_type,
    )
    return fault_injecting_app(state, routes, hooks)
