"""State shared by every partner emulator; partner modules subclass ``EmulatorState``.

This is the in-process API (``app.state.emulator``) for tests that run the emulator in the same process.
"""

from __future__ import annotations

from typing import Any

from .clock import Clock
from .faults import FaultConfig, Faults
from .oauth import OAuthServer, TokenGrant
from .push import Delivery, Outgoing, PushConfig, Pusher
from .ratelimit import RateLimiter
from .stats import RequestStats
from .world import Record, User, World


class EmulatorState:
    slug = "base"
    #: partner resource names (and neutral names) -> neutral kind
    kind_aliases: dict[str, str] = {}
    #: push: seconds the partner waits for our answer, its retry delays after a failed attempt, 410 = unsubscribe
    push_deadline: float = 10.0
    push_retries: tuple[float, ...] = ()
    push_cancel_on_410: bool = False

    def __init__(self, world: World, oauth: OAuthServer, limiter: RateLimiter, page_size: int) -> None:
        self.world = world
        self.clock: Clock = world.clock
        self.oauth = oauth
        self.limiter = limiter
        self.page_size = page_size
        self.faults = Faults()
        self.stats = RequestStats()
        self.pusher = Pusher(self)

    # -- partner hooks --------------------------------------------------------------------------------
    def render(self, rec: Record, now: float) -> dict[str, Any]:
        raise NotImplementedError

    def truth(self, user: str) -> dict[str, list[dict[str, Any]]]:
        raise NotImplementedError

    def parse_id(self, kind: str, raw: Any) -> int:
        return int(raw)

    def push_notices(self, rec: Record, action: str, now: float) -> list[Outgoing]:
        """The notifications a change of ``rec`` sends to the subscribed callbacks (none by default)."""
        return []

    def push_headers(self, delivery: Delivery, config: PushConfig) -> dict[str, str]:
        """Headers of one delivery attempt (a signature, for partners that sign)."""
        return {}

    def push_cancel(self, delivery: Delivery) -> None:
        """The callback answered 410: drop the subscription it was sent for."""

    # -- users ----------------------------------------------------------------------------------------
    def users(self) -> list[dict[str, str]]:
        return [{"username": u.username, "partner_user_id": u.partner_user_id} for u in self.world.users]

    @property
    def consent_users(self) -> list[tuple[str, str]]:
        """(username, partner user id) pairs, as the consent page lists them."""
        return [(u.username, u.partner_user_id) for u in self.world.users]

    def user(self, ref: str | int) -> User:
        return self.world.user(ref)

    def neutral_kind(self, kind: str) -> str:
        try:
            return self.kind_aliases[kind]
        except KeyError:
            raise ValueError(f"unknown kind {kind!r}; known: {sorted(self.kind_aliases)}") from None

    # -- data control ---------------------------------------------------------------------------------
    def upload(self, user: str, kind: str, **fields: Any) -> dict[str, Any]:
        rec = self.world.upload(self.user(user), self.neutral_kind(kind), fields)
        return self.render(rec, self.clock.now())

    def update(self, user: str, kind: str, id: Any = None, day: str | None = None, **fields: Any) -> dict[str, Any]:
        neutral = self.neutral_kind(kind)
        rid = None if id is None else self.parse_id(neutral, id)
        rec = self.world.update(self.user(user), neutral, rid, day, fields)
        return self.render(rec, self.clock.now())

    def delete(self, user: str, kind: str, id: Any) -> dict[str, Any]:
        neutral = self.neutral_kind(kind)
        rec = self.world.delete(self.user(user), neutral, self.parse_id(neutral, id))
        return {"deleted": True, "kind": kind, "id": id, "record_id": rec.id}

    # -- tokens ---------------------------------------------------------------------------------------
    def issue_tokens(self, user: str, scopes: tuple[str, ...] | None = None) -> TokenGrant:
        """Skip the consent flow: mint a token pair for ``user`` directly."""
        u = self.user(user)
        scopes = tuple(scopes) if scopes is not None else self.oauth.quirks.known_scopes
        return self.oauth.issue_tokens(u.partner_user_id, scopes, self.oauth.client_id)

    def revoke(self, user: str) -> int:
        return self.oauth.revoke_user(self.user(user).partner_user_id)

    def expire(self, user: str | None = None) -> int:
        return self.oauth.expire(self.user(user).partner_user_id if user is not None else None)

    # -- faults and counters --------------------------------------------------------------------------
    def set_faults(self, **config: Any) -> FaultConfig:
        cfg = FaultConfig.from_dict(config)
        self.faults.configure(cfg)
        return cfg

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests_report(self) -> dict[str, Any]:
        report = self.stats.report()
        windows = self.limiter.report()
        report["rate_limits"] = windows
        report["any_window_exceeded"] = any(
            w.get("exceeded") or any(x["exceeded"] for x in w.get("windows", [])) for w in windows
        )
        report["faults_injected"] = dict(self.faults.injected)
        return report
