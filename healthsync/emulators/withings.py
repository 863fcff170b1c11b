"""Withings Public API emulator: RPC ``action=`` calls, ``{status, body}`` envelope with HTTP 200 errors,
grace-window refresh rotation, ``more``/``offset`` paging and ``lastupdate`` sync."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

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
from .world import Record, User, World, stable_id

SCOPES = ("user.info", "user.metrics", "user.activity", "user.sleepevents")
QUIRKS = OAuthQuirks(
    slug="withings",
    access_ttl=10800,
    code_ttl=30,
    scope_sep=",",
    known_scopes=SCOPES,
    default_scopes=("user.info",),
    refresh_mode="grace",
    grace_seconds=8 * 3600,
    refresh_ttl=365 * 86400,
)
WORKOUT_CATEGORY = {"walk": 1, "run": 2, "hike": 3, "ride": 6, "swim": 7, "strength": 16, "yoga": 28}
#: Notify categories (``appli``) of each neutral kind; 2 temperature, 46 profile, 50/51 bed in/out, 54 ECG exist too
APPLI = {"weight": 1, "bp": 4, "workout": 16, "daily": 16, "sleep": 44}
KNOWN_APPLI = {1, 2, 4, 16, 44, 46, 50, 51, 54}
SCALE, WATCH, BPM, SLEEP_MAT = ("Body+", 13), ("ScanWatch 2", 93), ("BPM Connect", 45), ("Sleep Analyzer", 63)


def envelope(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status": 0, "body": body})


def error(status: int, message: str) -> JSONResponse:
    """Withings reports errors with HTTP 200 and a non-zero ``status``."""
    return JSONResponse({"status": status, "error": message})


def too_many() -> JSONResponse:
    return error(601, "Too many request")


def device_id(u: User, model: tuple[str, int]) -> str:
    return hashlib.sha1(f"{u.partner_user_id}:{model[0]}".encode()).hexdigest()


class WithingsState(EmulatorState):
    slug = "withings"
    kind_aliases = {
        "weight": "weight",
        "measure": "weight",
        "measuregrps": "weight",
        "bp": "bp",
        "blood_pressure": "bp",
        "daily": "daily",
        "activity": "daily",
        "activities": "daily",
        "workout": "workout",
        "workouts": "workout",
        "sleep": "sleep",
    }
    # the vendor docs: 5 attempts over about 5 hours (T+0, +10 s, +1 min, +1 h, +4 h)
    push_deadline = 10.0
    push_retries = (10.0, 60.0, 3600.0, 14400.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Notify subscriptions: (partner user id, appli, callback url) -> comment
        self.notify: dict[tuple[str, int, str], str] = {}

    def window(self, rec: Record, now: float) -> tuple[int, int]:
        d = rec.data
        if rec.kind in ("weight", "bp"):
            return int(d["at"]), int(d["at"]) + 1
        if rec.kind == "daily":
            return int(self.world.users[rec.user].day_start(rec.day)), int(now)
        end = d["end"] if rec.kind == "sleep" else d["start"] + d["duration"]
        return int(d["start"]), int(end)

    def push_notices(self, rec: Record, action: str, now: float) -> list[Outgoing]:
        """Form-encoded ``userid, appli, startdate, enddate``; Withings announces new and changed data only."""
        user, appli = self.world.users[rec.user].partner_user_id, APPLI[rec.kind]
        if action == "delete" or not authorized(self, user):
            return []
        start, end = self.window(rec, now)
        body = urlencode({"userid": user, "appli": appli, "startdate": start, "enddate": end}).encode()
        notice = {"user": user, "kind": str(appli), "action": action, "object_id": str(rec.id)}
        return [
            Outgoing(url, body, "application/x-www-form-urlencoded", dict(notice))
            for (uid, category, url) in list(self.notify)
            if uid == user and category == appli
        ]

    def measuregrp(self, rec: Record) -> dict[str, Any]:
        u, d = self.world.users[rec.user], rec.data
        if rec.kind == "weight":
            model = SCALE
            weight = round(d["weight_kg"], 3)
            measures = [
                (1, int(round(weight * 1000)), -3),
                (6, int(round(d["fat_ratio"] * 1000)), -3),
                (8, int(round(d["fat_mass_kg"] * 1000)), -3),
                (5, int(round((weight - d["fat_mass_kg"]) * 1000)), -3),
            ]
        else:
            model = BPM
            measures = [(9, int(d["diastolic"]), 0), (10, int(d["systolic"]), 0), (11, int(d["pulse"]), 0)]
        dev = device_id(u, model)
        return {
            "grpid": rec.id,
            "attrib": 0,
            "date": int(d["at"]),
            "created": int(rec.created_at),
            "modified": int(rec.modified_at),
            "category": 1,
            "deviceid": dev,
            "hash_deviceid": dev,
            "measures": [
                {"value": v, "type": t, "unit": unit, "algo": 0, "fm": 131 if model == SCALE else 0}
                for t, v, unit in measures
            ],
            "model": model[0],
            "model_id": model[1],
        }

    def activity(self, rec: Record, now: float) -> dict[str, Any]:
        u = self.world.users[rec.user]
        d, modified = self.world.daily_view(rec, now)
        dev = device_id(u, WATCH)
        active = int(d["moderate"] + d["intense"])
        return {
            "date": d["day"],
            "timezone": u.tz,
            "deviceid": dev,
            "hash_deviceid": dev,
            "brand": 18,
            "is_tracker": True,
            "modified": int(modified),
            "model": WATCH[0],
            "modelid": WATCH[1],
            "steps": int(d["steps"]),
            "distance": float(d["distance"]),
            "elevation": float(d["elevation"]),
            "soft": int(d["soft"]),
            "moderate": int(d["moderate"]),
            "intense": int(d["intense"]),
            "active": active,
            "calories": float(d["active_calories"]),
            "totalcalories": float(d["total_calories"]),
            "hr_average": int(d["hr_average"]),
            "hr_min": int(d["hr_min"]),
            "hr_max": int(d["hr_max"]),
            "hr_zone_0": int(d["soft"] // 2),
            "hr_zone_1": int(d["moderate"] // 2),
            "hr_zone_2": int(d["intense"] // 2),
            "hr_zone_3": int(d["intense"] // 8),
        }

    def workout(self, rec: Record) -> dict[str, Any]:
        u, d = self.world.users[rec.user], rec.data
        intensity = {"easy": 30, "moderate": 55, "hard": 80}.get(d.get("intensity", "moderate"), 50)
        return {
            "id": rec.id,
            "category": WORKOUT_CATEGORY.get(d["sport"], 36),
            "timezone": u.tz,
            "model": WATCH[1],
            "attrib": 0,
            "startdate": int(d["start"]),
            "enddate": int(d["start"] + d["duration"]),
            "date": datetime.fromtimestamp(d["start"], u.zone).date().isoformat(),
            "modified": int(rec.modified_at),
            "deviceid": device_id(u, WATCH),
            "data": {
                "calories": int(d["calories"]),
                "intensity": intensity,
                "manual_distance": 0,
                "manual_calories": 0,
                "manual_intensity": 0,
                "hr_average": int(d["avg_hr"]),
                "hr_min": int(d["avg_hr"]) - 25,
                "hr_max": int(d["max_hr"]),
                "hr_zone_0": int(d["duration"] * 0.2),
                "hr_zone_1": int(d["duration"] * 0.4),
                "hr_zone_2": int(d["duration"] * 0.3),
                "hr_zone_3": int(d["duration"] * 0.1),
                "pause_duration": int(d["duration"] - d["moving_time"]),
                "algo_pause_duration": 0,
                "steps": int(d["steps"]),
                "distance": int(d["distance"]),
                "elevation": int(d["elevation"]),
                "pool_laps": 0,
                "strokes": 0,
                "pool_length": 0,
            },
        }

    def sleep(self, rec: Record) -> dict[str, Any]:
        u, d = self.world.users[rec.user], rec.data
        asleep = d["deep"] + d["light"] + d["rem"]
        return {
            "id": rec.id,
            "timezone": u.tz,
            "model": 32,
            "model_id": SLEEP_MAT[1],
            "startdate": int(d["start"]),
            "enddate": int(d["end"]),
            "date": rec.day.isoformat(),
            "created": int(rec.created_at),
            "modified": int(rec.modified_at),
            "hash_deviceid": device_id(u, SLEEP_MAT),
            "completed": True,
            "data": {
                "total_timeinbed": int(d["end"] - d["start"]),
                "total_sleep_time": int(asleep),
                "lightsleepduration": int(d["light"]),
                "remsleepduration": int(d["rem"]),
                "deepsleepduration": int(d["deep"]),
                "sleep_efficiency": round(d["efficiency"] / 100, 2),
                "sleep_latency": int(d["latency"]),
                "wakeup_latency": 300,
                "wakeupduration": int(d["awake"]),
                "wakeupcount": int(d["wakeup_count"]),
                "waso": int(d["awake"] * 0.6),
                "nb_rem_episodes": 4,
                "durationtosleep": int(d["latency"]),
                "durationtowakeup": 300,
                "out_of_bed_count": 0,
                "hr_average": int(d["avg_hr"]),
                "hr_min": int(d["min_hr"]),
                "hr_max": int(d["max_hr"]),
                "rr_average": 14,
                "rr_min": 11,
                "rr_max": 18,
                "breathing_disturbances_intensity": 10,
                "snoring": 120,
                "snoringepisodecount": 2,
                "sleep_score": min(100, int(asleep / 360)),
            },
        }

    def render(self, rec: Record, now: float) -> dict[str, Any]:
        if rec.kind in ("weight", "bp"):
            return self.measuregrp(rec)
        if rec.kind == "daily":
            return self.activity(rec, now)
        return self.workout(rec) if rec.kind == "workout" else self.sleep(rec)

    def truth(self, user: str) -> dict[str, list[dict[str, Any]]]:
        u, now = self.user(user), self.clock.now()

        def get(*kinds: str) -> list[Record]:
            recs = self.world.records_for(u, kinds, now)
            return sorted(recs, key=lambda r: (r.day, r.data.get("start", 0), r.id))

        # same order as the API: groups newest first, everything else oldest first
        groups = sorted(get("weight", "bp"), key=lambda r: (-r.data["at"], r.id))
        return {
            "measuregrps": [self.measuregrp(r) for r in groups],
            "activities": [self.activity(r, now) for r in get("daily")],
            "workouts": [self.workout(r) for r in get("workout")],
            "sleep": [self.sleep(r) for r in get("sleep")],
        }


def unknown_type(body: Any, rng: random.Random) -> bool:
    inner = body.get("body") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return False
    groups = [m for g in inner.get("measuregrps", []) for m in g.get("measures", [])]
    if groups:
        rng.choice(groups)["type"] = 999
        return True
    series = inner.get("series", [])
    if series and "category" in series[0]:
        rng.choice(series)["category"] = 9999
        return True
    return False


def signature(secret: str, *values: str) -> str:
    return hmac.new(secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


def create_app(
    seed: int = 0,
    users: int = 3,
    clock: Clock | None = None,
    client_id: str = "demo-client",
    client_secret: str = "demo-secret",
    page_size: int = 100,
    rate_limit: int = 120,
    http429: bool = False,
) -> Starlette:
    """``http429=True`` answers rate limiting with HTTP 429 + X-RateLimit-* instead of status 601."""
    clock = clock or Clock()
    world = World(
        seed,
        users,
        clock,
        lambda i: str(stable_id(seed, "withings", i, low=1_000_000, span=9_000_000)),
        lambda i: f"withings-user-{i + 1}",
    )
    limiter = RateLimiter(FixedWindow("app_per_minute", rate_limit, 60))
    state = WithingsState(world, OAuthServer(QUIRKS, clock, client_id, client_secret), limiter, page_size)
    nonces: dict[str, float] = {}

    def limited() -> Response:
        if not http429:
            return too_many()
        now = clock.now()
        counter = limiter.counters["app_per_minute"]
        return JSONResponse(
            {"status": 601, "error": "Too many request"},
            429,
            headers={
                "X-RateLimit-Limit": str(counter.limit),
                "X-RateLimit-Remaining": "0",
                "Retry-After": str(max(1, int(counter.reset_at(now) - now))),
            },
        )

    def page(items: list[dict[str, Any]], offset: int, key: str, more_int: bool) -> dict[str, Any]:
        chunk = items[offset : offset + state.page_size]
        more = offset + len(chunk) < len(items)
        body: dict[str, Any] = {
            key: chunk,
            "more": (1 if more else 0) if more_int else more,
            "offset": offset + len(chunk) if more else 0,
        }
        return body

    def window(p: dict[str, str], recs: list[Record], modified: Any) -> list[Record] | JSONResponse:
        if p.get("lastupdate"):
            since = to_int(p["lastupdate"])
            if since is None:
                return error(503, "Invalid Params: lastupdate")
            return [r for r in recs if modified(r) > since]
        try:
            start = date.fromisoformat(p["startdateymd"])
            end = date.fromisoformat(p["enddateymd"])
        except (KeyError, ValueError):
            return error(503, "Invalid Params: startdateymd/enddateymd or lastupdate required")
        return [r for r in recs if start <= r.day <= end]

    def pick(item: dict[str, Any], fields: str | None, base: tuple[str, ...], nested: bool) -> dict[str, Any]:
        if not fields:
            return item
        wanted = {f.strip() for f in fields.split(",")}
        if nested:
            return {**item, "data": {k: v for k, v in item["data"].items() if k in wanted}}
        return {k: v for k, v in item.items() if k in wanted or k in base}

    async def rpc(request: Request) -> Response:
        now = clock.now()
        if limiter.hit(now):
            return limited()
        p = await params(request)
        token = state.oauth.authenticate(bearer(request) or p.get("access_token"))
        if token is None:
            return error(401, "XRequestAuthentificationFailed")
        handler = ACTIONS.get((request.url.path, p.get("action", "")))
        if handler is None:
            return error(2554, "Not implemented")
        offset = max(0, to_int(p.get("offset")) or 0)
        return handler(p, token, state.user(token.user_id), offset, now)

    def getmeas(p: dict[str, str], token: AccessToken, u: User, offset: int, now: float) -> Response:
        recs = list(world.records_for(u, ("weight", "bp"), now))
        groups = [state.measuregrp(r) for r in recs]
        types: set[int] = set()
        for raw in (p.get("meastype"), p.get("meastypes")):
            types |= {t for t in (to_int(x) for x in (raw or "").split(",") if x) if t is not None}
        if types:
            for g in groups:
                g["measures"] = [m for m in g["measures"] if m["type"] in types]
            groups = [g for g in groups if g["measures"]]
        cat = to_int(p.get("category"))
        if cat is not None:
            groups = [g for g in groups if g["category"] == cat]
        if p.get("lastupdate"):
            since = to_int(p["lastupdate"]) or 0
            groups = [g for g in groups if g["modified"] > since]
        else:
            lo, hi = to_int(p.get("startdate")), to_int(p.get("enddate"))
            groups = [g for g in groups if (lo is None or g["date"] >= lo) and (hi is None or g["date"] <= hi)]
        groups.sort(key=lambda g: (-g["date"], g["grpid"]))
        return envelope(
            {"updatetime": int(now), "timezone": u.tz, **page(groups, offset, "measuregrps", more_int=True)}
        )

    def getactivity(p: dict[str, str], token: AccessToken, u: User, offset: int, now: float) -> Response:
        recs = list(world.records_for(u, ("daily",), now))
        views = {r.id: state.activity(r, now) for r in recs}
        chosen = window(p, recs, lambda r: views[r.id]["modified"])
        if isinstance(chosen, Response):
            return chosen
        chosen.sort(key=lambda r: r.day)
        base = (
            "date",
            "timezone",
            "deviceid",
            "hash_deviceid",
            "brand",
            "is_tracker",
            "modified",
            "model",
            "modelid",
        )
        items = [pick(views[r.id], p.get("data_fields"), base, nested=False) for r in chosen]
        return envelope(page(items, offset, "activities", more_int=False))

    def series(kind: str, render: Callable[[Record], dict[str, Any]]):  # noqa: ANN202
        """getworkouts and sleep getsummary: the same lastupdate/date window, order, data_fields and paging."""

        def action(p: dict[str, str], token: AccessToken, u: User, offset: int, now: float) -> Response:
            recs = list(world.records_for(u, (kind,), now))
            chosen = window(p, recs, lambda r: int(r.modified_at))
            if isinstance(chosen, Response):
                return chosen
            chosen.sort(key=lambda r: (r.data["start"], r.id))
            items = [pick(render(r), p.get("data_fields"), (), nested=True) for r in chosen]
            return envelope(page(items, offset, "series", more_int=False))

        return action

    getworkouts = series("workout", state.workout)
    getsummary = series("sleep", state.sleep)

    async def notify(request: Request) -> Response:
        """Notify: subscribe (after a HEAD check of the callback), get, list, revoke, with the user's token."""
        p = await params(request)
        token = state.oauth.authenticate(bearer(request) or p.get("access_token"))
        if token is None:
            return error(401, "XRequestAuthentificationFailed")
        user, action = token.user_id, p.get("action")
        appli, callback = to_int(p.get("appli")), p.get("callbackurl", "")
        if action == "list":
            profiles = [
                {"appli": a, "callbackurl": url, "expires": 2147483647, "comment": comment}
                for (uid, a, url), comment in state.notify.items()
                if uid == user and (appli is None or a == appli)
            ]
            return envelope({"profiles": profiles})
        if appli not in KNOWN_APPLI:
            return error(503, "Invalid Params: appli")
        if not callback.startswith(("http://", "https://")) or len(callback) > 255:
            return error(293, "Invalid Params: callbackurl")  # [unverified] code
        key = (user, appli, callback)
        if action == "subscribe":
            try:
                async with httpx.AsyncClient(timeout=5.0) as http:
                    ok = (await http.head(callback)).status_code < 300
            except httpx.HTTPError:
                ok = False
            if not ok:
                return error(293, "The callback URL is either absent or incorrect")
            state.notify[key] = p.get("comment", "")
            state.pusher.ensure_started()
            return envelope({})
        if action in ("get", "revoke"):
            if key not in state.notify:
                return error(294, "No such subscription")  # [unverified] code
            if action == "get":
                return envelope({"appli": appli, "callbackurl": callback, "expires": 2147483647,
                                 "comment": state.notify[key]})
            del state.notify[key]
            return envelope({})
        return error(2554, "Not implemented")

    ACTIONS = {
        ("/measure", "getmeas"): getmeas,
        ("/v2/measure", "getactivity"): getactivity,
        ("/v2/measure", "getworkouts"): getworkouts,
        ("/v2/sleep", "getsummary"): getsummary,
    }

    def check_signed(p: dict[str, str], *keys: str) -> None:
        """Accept ``client_secret`` or a Withings signature (HMAC-SHA256 of the sorted values)."""
        if p.get("client_id") != client_id:
            raise OAuthError("invalid_client", "client_id", "Invalid Params: invalid client_id")
        if p.get("client_secret") is not None:
            state.oauth.check_client(p.get("client_id"), p.get("client_secret"))
            return
        expected = signature(client_secret, *[p.get(k, "") for k in keys])
        if not hmac.compare_digest(expected, p.get("signature", "")):
            raise OAuthError("invalid_secret", "signature", "Invalid Params: invalid signature")
        if keys[-1] == "nonce" and nonces.pop(p.get("nonce", ""), None) is None:
            raise OAuthError("invalid_secret", "nonce", "Invalid Params: invalid nonce")

    async def oauth2(request: Request) -> Response:
        p = await params(request)
        action = p.get("action")
        try:
            if action == "requesttoken":
                check_signed(p, "action", "client_id", "nonce")
                if p.get("grant_type") == "authorization_code":
                    if not p.get("redirect_uri"):
                        return error(503, "Invalid Params: redirect_uri")
                    grant = state.oauth.redeem_code(p.get("code"), client_id, p.get("redirect_uri"))
                elif p.get("grant_type") == "refresh_token":
                    grant = state.oauth.use_refresh(p.get("refresh_token"), client_id)
                else:
                    return error(503, "Invalid Params: grant_type")
            elif action == "revoke":
                check_signed(p, "action", "client_id", "nonce")
                if to_int(p.get("userid")) is None:
                    return error(503, "Invalid Params: userid")
                state.oauth.revoke_user(str(p["userid"]))
                return envelope({})
            else:
                return error(2554, "Not implemented")
        except OAuthError as err:
            if err.error in ("invalid_client", "invalid_secret"):
                return error(
                    503,
                    err.description
                    if err.description.startswith("Invalid")
                    else f"Invalid Params: invalid {err.field}",
                )
            return error(503, f"Invalid Params: invalid {err.field}")
        return envelope(
            {
                "userid": int(grant.access.user_id),
                "access_token": grant.access.token,
                "refresh_token": grant.refresh.token,
                "expires_in": int(grant.access.expires_at - clock.now()),
                "scope": state.oauth.join_scopes(grant.access.scopes),
                "csrf_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
            }
        )

    async def getnonce(request: Request) -> Response:
        p = await params(request)
        if p.get("action") != "getnonce":
            return error(2554, "Not implemented")
        if p.get("client_id") != client_id or not hmac.compare_digest(
            signature(client_secret, "getnonce", client_id, p.get("timestamp", "")), p.get("signature", "")
        ):
            return error(503, "Invalid Params: invalid signature")
        nonce = secrets.token_hex(16)
        nonces[nonce] = clock.now()
        return envelope({"nonce": nonce})

    async def authorize(request: Request) -> Response:
        return await authorize_endpoint(
            request,
            state.oauth,
            state.consent_users,
            "Withings",
            lambda f, c: Response(f"Invalid {f}", 400, media_type="text/plain"),
        )

    api = ["GET", "POST"]
    routes = [
        Route("/oauth2_user/authorize2", authorize, methods=api),
        Route("/v2/oauth2", oauth2, methods=api),
        Route("/v2/signature", getnonce, methods=api),
        Route("/measure", rpc, methods=api),
        Route("/v2/measure", rpc, methods=api),
        Route("/v2/sleep", rpc, methods=api),
        Route("/notify", notify, methods=api),
        *control_routes(state),
    ]
    hooks = FaultHooks(
        never=("/_emulator", "/oauth2_user/authorize2"),
        api_prefixes=("/measure", "/v2/measure", "/v2/sleep"),
        rate_limited=limited,
        unknown_type=unknown_type,
    )
    return fault_injecting_app(state, routes, hooks)
