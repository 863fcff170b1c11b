"""Oura API v2 emulator: space-separated scopes, single-use refresh tokens, ``next_token`` cursor pages,
rolling-window rate limits with ``Retry-After`` / ``X-RateLimit-*`` on 429."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time as wall
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import Clock
from .common import params
from .control import control_routes
from .faults import FaultHooks, fault_injecting_app
from .oauth import AccessToken, OAuthError, OAuthQuirks, OAuthServer, authorize_endpoint, bearer
from .push import Delivery, Outgoing, PushConfig, authorized
from .ratelimit import RateLimiter, RollingWindow
from .state import EmulatorState
from .world import Record, User, World, iso_local, stable_uuid

SCOPES = ("email", "personal", "daily", "heartrate", "workout", "tag", "session", "spo2Daily")
QUIRKS = OAuthQuirks(
    slug="oura",
    access_ttl=86400,
    code_ttl=600,
    scope_sep=" ",
    known_scopes=SCOPES,
    default_scopes=SCOPES,
    refresh_mode="single_use",
)
ACTIVITY = {
    "run": "running",
    "ride": "cycling",
    "walk": "walking",
    "swim": "swimming",
    "hike": "hiking",
    "strength": "strengthTraining",
    "yoga": "yoga",
}
COLLECTIONS = {
    "daily_activity": ("daily", "daily"),
    "sleep": ("sleep", "daily"),
    "workout": ("workout", "workout"),
}
MAX_HEARTRATE_RANGE = 30 * 86400
#: webhook data types (the spec's ExtApiV2DataType) and the neutral kinds this emulator announces for them
WEBHOOK_DATA_TYPES = ("tag", "enhanced_tag", "workout", "session", "sleep", "daily_sleep", "daily_readiness",
                      "daily_activity", "daily_spo2", "sleep_time", "rest_mode_period", "ring_configuration",
                      "daily_stress", "daily_cardiovascular_age", "daily_resilience", "vo2_max", "meal")
DATA_TYPE = {"daily": "daily_activity", "sleep": "sleep", "workout": "workout"}
WEBHOOK_EVENTS = ("create", "update", "delete")


def detail(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status, headers=headers)


def validation_error(field: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["query", field], "msg": message, "type": "value_error"}]}, 422)


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat()


class OuraState(EmulatorState):
    slug = "oura"
    kind_aliases = {
        "daily": "daily",
        "daily_activity": "daily",
        "activity": "daily",
        "sleep": "sleep",
        "workout": "workout",
    }
    # the spec's guide: answer 2xx within 10 s; up to 10 retries (about an hour); 410 cancels the subscription
    push_deadline = 10.0
    push_retries = tuple(4.0 * 2**i for i in range(10))
    push_cancel_on_410 = True

    def __init__(self, *args: Any, webhook_ttl: float = 90 * 86400, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.webhook_ttl = webhook_ttl  # [unverified] lifetime of a subscription before it must be renewed
        #: webhook subscriptions by id: callback_url, verification_token, event_type, data_type, expires (epoch)
        self.webhooks: dict[str, dict[str, Any]] = {}

    def webhook_view(self, sub: dict[str, Any]) -> dict[str, Any]:
        return {"id": sub["id"], "callback_url": sub["callback_url"], "event_type": sub["event_type"],
                "data_type": sub["data_type"], "expiration_time": utc(sub["expires"])}

    def push_notices(self, rec: Record, action: str, now: float) -> list[Outgoing]:
        user = self.world.users[rec.user].partner_user_id
        data_type = DATA_TYPE.get(rec.kind)
        if data_type is None or not authorized(self, user):
            return []
        payload = {"event_type": action, "data_type": data_type, "object_id": self.doc_id(rec),
                   "event_time": utc(now), "user_id": user}
        body = json.dumps(payload, separators=(",", ":")).encode()
        notice = {"user": user, "kind": data_type, "action": action, "object_id": payload["object_id"]}
        return [
            Outgoing(sub["callback_url"], body, "application/json", {**notice, "subscription": sub["id"]})
            for sub in list(self.webhooks.values())
            if sub["data_type"] == data_type and sub["event_type"] == action and sub["expires"] > now
        ]

    def push_headers(self, delivery: Delivery, config: PushConfig) -> dict[str, str]:
        """``x-oura-signature`` = upper-case hex HMAC-SHA256(client secret, timestamp + body), at send time."""
        if config.signature == "missing":
            return {}
        stamp = str(int(wall.time() + config.timestamp_skew))
        key = self.oauth.client_secret if config.signature == "valid" else "not-the-secret"
        signature = hmac.new(key.encode(), stamp.encode() + delivery.body, hashlib.sha256).hexdigest().upper()
        return {"x-oura-signature": signature, "x-oura-timestamp": stamp}

    def push_cancel(self, delivery: Delivery) -> None:
        self.webhooks.pop(delivery.notice.get("subscription", ""), None)

    def doc_id(self, rec: Record) -> str:
        return stable_uuid(self.world.seed, "oura", rec.kind, rec.id)

    def parse_id(self, kind: str, raw: Any) -> int:
        for rec in list(self.world.records.values()):
            if rec.kind == kind and self.doc_id(rec) == str(raw):
                return rec.id
        raise KeyError(f"no {kind} document {raw}")

    def meta(self, rec: Record, modified: float) -> dict[str, Any]:
        return {"updated_at": utc(modified), "version": 1 + int(max(0, modified - rec.upload_at) // 3600)}

    def daily_activity(self, rec: Record, now: float) -> dict[str, Any]:
        u = self.world.users[rec.user]
        d, modified = self.world.daily_view(rec, now)
        start = datetime.combine(rec.day, time(4), u.zone)
        minutes = max(0, min(1440, int((min(modified, start.timestamp() + 86400) - start.timestamp()) // 60)))
        seed = rec.id % 97
        met = [round(0.9 + ((i * 37 + seed) % 23) / 10, 1) for i in range(minutes)]
        classes = "".join("1" if i < 72 else "23345"[(i + seed) % 5] for i in range(minutes // 5))
        high, medium = int(d["intense"]), int(d["moderate"])
        low = int(d["soft"])
        sedentary = max(0, minutes * 60 - high - medium - low - 8 * 3600)
        return {
            "id": self.doc_id(rec),
            "meta": self.meta(rec, modified),
            "active_calories": int(d["active_calories"]),
            "average_met_minutes": 1.6,
            "class_5_min": classes,
            "contributors": {
                "meet_daily_targets": 60,
                "move_every_hour": 95,
                "recovery_time": 90,
                "stay_active": 80,
                "training_frequency": 70,
                "training_volume": 75,
            },
            "day": rec.day.isoformat(),
            "equivalent_walking_distance": int(d["distance"]),
            "high_activity_met_minutes": high // 60 * 7,
            "high_activity_time": high,
            "inactivity_alerts": 1,
            "low_activity_met_minutes": low // 60 * 2,
            "low_activity_time": low,
            "medium_activity_met_minutes": medium // 60 * 4,
            "medium_activity_time": medium,
            "met": {"interval": 60.0, "items": met, "timestamp": start.isoformat()},
            "meters_to_target": max(0, 8000 - int(d["distance"])),
            "non_wear_time": 0,
            "resting_time": 8 * 3600,
            "score": 80,
            "sedentary_met_minutes": sedentary // 60,
            "sedentary_time": sedentary,
            "steps": int(d["steps"]),
            "target_calories": 500,
            "target_meters": 8000,
            "timestamp": start.isoformat(),
            "total_calories": int(d["total_calories"]),
        }

    def sleep(self, rec: Record) -> dict[str, Any]:
        u, d = self.world.users[rec.user], rec.data
        in_bed = int(d["end"] - d["start"])
        samples = in_bed // 300
        hr = [float(d["min_hr"] + (i * 7 + rec.id) % max(1, d["avg_hr"] - d["min_hr"] + 4)) for i in range(samples)]
        hrv = [float(d["avg_hrv"] + ((i * 11 + rec.id) % 21) - 10) for i in range(samples)]
        phases = "".join("4" if i < 3 else "2132"[(i + rec.id) % 4] for i in range(samples))
        return {
            "id": self.doc_id(rec),
            "meta": self.meta(rec, rec.modified_at),
            "average_breath": 14.5,
            "average_heart_rate": float(d["avg_hr"]),
            "average_hrv": int(d["avg_hrv"]),
            "awake_time": int(d["awake"]),
            "bedtime_end": iso_local(d["end"], u.zone),
            "bedtime_start": iso_local(d["start"], u.zone),
            "day": rec.day.isoformat(),
            "deep_sleep_duration": int(d["deep"]),
            "efficiency": int(d["efficiency"]),
            "heart_rate": {"interval": 300.0, "items": hr, "timestamp": iso_local(d["start"], u.zone)},
            "hrv": {"interval": 300.0, "items": hrv, "timestamp": iso_local(d["start"], u.zone)},
            "latency": int(d["latency"]),
            "light_sleep_duration": int(d["light"]),
            "low_battery_alert": False,
            "lowest_heart_rate": int(d["min_hr"]),
            "movement_30_sec": "1" * (in_bed // 30),
            "period": 0,
            "readiness": {
                "contributors": {
                    "activity_balance": 80,
                    "body_temperature": 95,
                    "hrv_balance": 75,
                    "previous_day_activity": 85,
                    "previous_night": 78,
                    "recovery_index": 70,
                    "resting_heart_rate": 88,
                    "sleep_balance": 82,
                    "sleep_regularity": 77,
                },
                "score": 80,
                "temperature_deviation": -0.1,
                "temperature_trend_deviation": 0.05,
            },
            "readiness_score_delta": 0,
            "rem_sleep_duration": int(d["rem"]),
            "restless_periods": 120,
            "sleep_algorithm_version": "v2",
            "sleep_analysis_reason": None,
            "sleep_phase_30_sec": None,
            "sleep_phase_5_min": phases,
            "sleep_score_delta": 0,
            "time_in_bed": in_bed,
            "total_sleep_duration": int(d["deep"] + d["light"] + d["rem"]),
            "type": "long_sleep",
            "ring_id": f"ring-{u.partner_user_id[:8]}",
            "app_sleep_phase_5_min": None,
        }

    def workout(self, rec: Record) -> dict[str, Any]:
        u, d = self.world.users[rec.user], rec.data
        return {
            "id": self.doc_id(rec),
            "meta": self.meta(rec, rec.modified_at),
            "activity": ACTIVITY.get(d["sport"], str(d["sport"])),
            "calories": float(d["calories"]),
            "day": datetime.fromtimestamp(d["start"], u.zone).date().isoformat(),
            "distance": float(d["distance"]) if d["distance"] else None,
            "end_datetime": iso_local(d["start"] + d["duration"], u.zone),
            "intensity": d.get("intensity", "moderate"),
            "label": None,
            "source": "autodetected",
            "start_datetime": iso_local(d["start"], u.zone),
        }

    def render(self, rec: Record, now: float) -> dict[str, Any]:
        if rec.kind == "daily":
            return self.daily_activity(rec, now)
        return self.sleep(rec) if rec.kind == "sleep" else self.workout(rec)

    def personal_info(self, u: User, scopes: tuple[str, ...]) -> dict[str, Any]:
        p = u.profile
        personal = "personal" in scopes
        return {
            "id": u.partner_user_id,
            "age": p.age if personal else None,
            "weight": p.weight_kg if personal else None,
            "height": p.height_m if personal else None,
            "biological_sex": p.sex if personal else None,
            "email": f"{u.username}@example.com" if "email" in scopes else None,
        }

    def heartrate(self, u: User, t0: int, t1: int, now: float) -> list[dict[str, Any]]:
        visible_until = min(t1, int(self.world.last_sync(u, now)) + 1)
        return [
            {"bpm": bpm, "source": src, "timestamp": utc(t), "timestamp_unix": t * 1000}
            for t, bpm, src in self.world.heart_rate_series(u, t0, visible_until)
        ]

    def truth(self, user: str) -> dict[str, list[dict[str, Any]]]:
        u, now = self.user(user), self.clock.now()

        def get(kind: str) -> list[Record]:
            return sorted(self.world.records_for(u, (kind,), now), key=lambda r: (r.day, r.id))

        start = int(self.world.origin)
        return {
            "daily_activity": [self.daily_activity(r, now) for r in get("daily")],
            "sleep": [self.sleep(r) for r in get("sleep")],
            "workout": [self.workout(r) for r in get("workout")],
            "heartrate": self.heartrate(u, start, int(now) + 1, now),
            "personal_info": [self.personal_info(u, SCOPES)],
        }


def unknown_type(body: Any, rng: random.Random) -> bool:
    docs = body.get("data") if isinstance(body, dict) else None
    docs = docs if isinstance(docs, list) else [body] if isinstance(body, dict) else []
    docs = [d for d in docs if isinstance(d, dict) and "activity" in d]
    if not docs:
        return False
    rng.choice(docs)["activity"] = "zorbFootball"
    return True


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_token(token: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = json.loads(raw)["o"]
        return offset if isinstance(offset, int) and offset >= 0 else None
    except (ValueError, KeyError, TypeError):
        return None


def parse_day(raw: str) -> date:
    return date.fromisoformat(raw[:10])


def parse_datetime(raw: str) -> float:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def create_app(
    seed: int = 0,
    users: int = 3,
    clock: Clock | None = None,
    client_id: str = "demo-client",
    client_secret: str = "demo-secret",
    page_size: int = 50,
    heartrate_page_size: int = 1000,
    rate_limit: int = 5000,
    rate_window: int = 300,
    token_rate_limit: int | None = None,
    webhook_ttl: float = 90 * 86400,
) -> Starlette:
    clock = clock or Clock()
    world = World(seed, users, clock, lambda i: stable_uuid(seed, "oura-user", i), lambda i: f"oura-user-{i + 1}")
    limiter = RateLimiter(RollingWindow("application", rate_limit, rate_window))
    state = OuraState(
        world, OAuthServer(QUIRKS, clock, client_id, client_secret), limiter, page_size, webhook_ttl=webhook_ttl
    )
    token_windows: dict[str, RollingWindow] = {}

    def too_many(counter: RollingWindow, tier: str, now: float) -> Response:
        reset = counter.reset_at(now)
        return detail(
            "Rate limit exceeded",
            429,
            {
                "Retry-After": str(max(1, int(reset - now))),
                "X-RateLimit-Limit": str(counter.limit),
                "X-RateLimit-Window": str(counter.seconds),
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Tier": tier,
            },
        )

    def storm() -> Response:
        return too_many(limiter.counters["application"], "application", clock.now())  # type: ignore[arg-type]

    def api(scope: str | None):  # noqa: ANN202
        def decorate(handler):  # noqa: ANN001, ANN202
            async def wrapped(request: Request) -> Response:
                now = clock.now()
                over = limiter.hit(now)
                if over:
                    return too_many(over[0], "application", now)  # type: ignore[arg-type]
                token = state.oauth.authenticate(bearer(request))
                if token is None:
                    return detail("Invalid or expired authentication token.", 401)
                if token_rate_limit is not None:
                    win = token_windows.setdefault(token.token, RollingWindow("token", token_rate_limit, rate_window))
                    if win.hit(now) > win.limit:
                        return too_many(win, "token", now)
                if scope and scope not in token.scopes:
                    return detail("Missing required scope: " + scope, 403)
                return await handler(request, token, state.user(token.user_id), now)

            return wrapped

        return decorate

    @api("personal")
    async def personal_info(request: Request, token: AccessToken, u: User, now: float) -> Response:
        return JSONResponse(state.personal_info(u, token.scopes))

    def page(items: list[dict[str, Any]], next_token: str | None, size: int) -> Response:
        offset = 0
        if next_token:
            decoded = decode_token(next_token)
            if decoded is None:
                return detail("Invalid next_token", 400)
            offset = decoded
        chunk = items[offset : offset + size]
        more = offset + size < len(items)
        return JSONResponse({"data": chunk, "next_token": encode_token(offset + size) if more else None})

    def collection(name: str):  # noqa: ANN202
        kind, scope = COLLECTIONS[name]

        @api(scope)
        async def handler(request: Request, token: AccessToken, u: User, now: float) -> Response:
            q = request.query_params
            try:
                end = parse_day(q["end_date"]) if q.get("end_date") else u.local_day(now)
            except ValueError:
                return validation_error("end_date", "invalid date format")
            try:
                start = parse_day(q["start_date"]) if q.get("start_date") else end - timedelta(days=1)
            except ValueError:
                return validation_error("start_date", "invalid date format")
            if start > end:
                return detail("Start date is greater than end date", 400)
            recs = [r for r in world.records_for(u, (kind,), now) if start <= r.day <= end]
            recs.sort(key=lambda r: (r.day, r.id))
            return page([state.render(r, now) for r in recs], q.get("next_token"), state.page_size)

        @api(scope)
        async def single(request: Request, token: AccessToken, u: User, now: float) -> Response:
            try:
                rec = world.find(u, kind, state.parse_id(kind, request.path_params["document_id"]))
            except KeyError:
                rec = None
            if rec is None or not rec.visible(now):
                return detail("Not Found", 404)
            return JSONResponse(state.render(rec, now))

        return handler, single

    @api("heartrate")
    async def heartrate(request: Request, token: AccessToken, u: User, now: float) -> Response:
        q = request.query_params
        try:
            t1 = parse_datetime(q["end_datetime"]) if q.get("end_datetime") else now
        except ValueError:
            return validation_error("end_datetime", "invalid datetime format")
        try:
            t0 = parse_datetime(q["start_datetime"]) if q.get("start_datetime") else t1 - 86400
        except ValueError:
            return validation_error("start_datetime", "invalid datetime format")
        if t0 > t1:
            return detail("Start datetime is greater than end datetime", 400)
        if t1 - t0 > MAX_HEARTRATE_RANGE:
            return detail("Maximum range between start_datetime and end_datetime is 30 days", 400)
        rows = state.heartrate(u, int(t0), int(t1), now)
        return page(rows, q.get("next_token"), heartrate_page_size)

    async def authorize(request: Request) -> Response:
        return await authorize_endpoint(
            request, state.oauth, state.consent_users, "Oura", lambda f, c: detail(f"Invalid {f}", 400)
        )

    def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status)

    async def token(request: Request) -> Response:
        p = await params(request)
        try:
            state.oauth.check_client(p.get("client_id"), p.get("client_secret"))
            if p.get("grant_type") == "authorization_code":
                grant = state.oauth.redeem_code(p.get("code"), client_id, p.get("redirect_uri"))
            elif p.get("grant_type") == "refresh_token":
                grant = state.oauth.use_refresh(p.get("refresh_token"), client_id)
            else:
                return oauth_error("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        except OAuthError as err:
            if err.error in ("invalid_client", "invalid_secret"):
                return oauth_error("invalid_client", "Client authentication failed", 401)
            message = "Token Already Used Or Revoked" if err.field == "refresh_token" else err.description
            return oauth_error("invalid_grant", message)
        return JSONResponse(
            {
                "access_token": grant.access.token,
                "token_type": "bearer",
                "expires_in": int(grant.access.expires_at - clock.now()),
                "refresh_token": grant.refresh.token,
            }
        )

    async def revoke(request: Request) -> Response:
        p = await params(request)
        if state.oauth.revoke_access_token(p.get("access_token") or bearer(request)) is None:
            return oauth_error("invalid_token", "Token not found or already revoked")
        return JSONResponse({})

    def client_headers(request: Request) -> Response | None:
        if request.headers.get("x-client-id") != client_id or request.headers.get("x-client-secret") != client_secret:
            return detail("Invalid client credentials", 401)
        return None

    async def verify_callback(callback: str, token: str) -> bool:
        challenge = uuid.uuid4().hex
        try:
            async with httpx.AsyncClient(timeout=state.push_deadline) as http:
                answer = await http.get(callback, params={"verification_token": token, "challenge": challenge})
            return answer.status_code == 200 and answer.json().get("challenge") == challenge
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    async def webhook_body(request: Request) -> dict[str, Any] | Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return detail("Invalid request body", 422)
        for name, allowed in (("event_type", WEBHOOK_EVENTS), ("data_type", WEBHOOK_DATA_TYPES)):
            if name in body and body[name] not in allowed:
                return validation_error(name, f"value is not a valid enumeration member; permitted: {allowed}")
        return body

    async def subscriptions(request: Request) -> Response:
        refused = client_headers(request)
        if refused:
            return refused
        if request.method == "GET":
            return JSONResponse([state.webhook_view(s) for s in state.webhooks.values()])
        body = await webhook_body(request)
        if isinstance(body, Response):
            return body
        for name in ("callback_url", "verification_token", "event_type", "data_type"):
            if not isinstance(body.get(name), str):
                return validation_error(name, "field required")
        for sub in state.webhooks.values():
            if (sub["callback_url"], sub["event_type"], sub["data_type"]) == (
                body["callback_url"], body["event_type"], body["data_type"]):
                return detail("Webhook subscription already exists", 409)  # [unverified]
        if not await verify_callback(body["callback_url"], body["verification_token"]):
            return detail("Webhook verification failed", 400)  # [unverified] status
        sub = {"id": str(uuid.uuid4()), "expires": clock.now() + state.webhook_ttl,
               **{k: body[k] for k in ("callback_url", "verification_token", "event_type", "data_type")}}
        state.webhooks[sub["id"]] = sub
        state.pusher.ensure_started()
        return JSONResponse(state.webhook_view(sub), 201)

    async def subscription(request: Request) -> Response:
        refused = client_headers(request)
        if refused:
            return refused
        sub = state.webhooks.get(request.path_params["id"])
        if sub is None:
            return detail("Webhook with specified id does not exist.", 404)
        if request.method == "DELETE":
            del state.webhooks[sub["id"]]
            return Response(status_code=204)
        if request.method == "PUT":
            body = await webhook_body(request)
            if isinstance(body, Response):
                return body
            if not isinstance(body.get("verification_token"), str):
                return validation_error("verification_token", "field required")
            changed = {k: body[k] for k in ("callback_url", "event_type", "data_type") if body.get(k)}
            moved = "callback_url" in changed
            if moved and not await verify_callback(changed["callback_url"], body["verification_token"]):
                return detail("Webhook verification failed", 400)
            sub.update(changed, verification_token=body["verification_token"])
        return JSONResponse(state.webhook_view(sub))

    async def renew(request: Request) -> Response:
        refused = client_headers(request)
        if refused:
            return refused
        sub = state.webhooks.get(request.path_params["id"])
        if sub is None:
            return detail("Webhook with specified id does not exist.", 404)
        sub["expires"] = clock.now() + state.webhook_ttl
        return JSONResponse(state.webhook_view(sub))

    base = "/v2/usercollection"
    routes = [
        Route("/v2/webhook/subscription", subscriptions, methods=["GET", "POST"]),
        Route("/v2/webhook/subscription/renew/{id}", renew, methods=["PUT"]),
        Route("/v2/webhook/subscription/{id}", subscription, methods=["GET", "PUT", "DELETE"]),
        Route("/oauth/authorize", authorize, methods=["GET", "POST"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["GET", "POST"]),
        Route(f"{base}/personal_info", personal_info),
        Route(f"{base}/heartrate", heartrate),
        *control_routes(state),
    ]
    for name in COLLECTIONS:
        listing, single = collection(name)
        routes += [Route(f"{base}/{name}", listing), Route(f"{base}/{name}/{{document_id}}", single)]
    hooks = FaultHooks(
        never=("/_emulator", "/oauth/authorize"), api_prefixes=("/v2/",), rate_limited=storm, unknown_type=unknown_type
    )
    return fault_injecting_app(state, routes, hooks)
