"""Shared OAuth2 authorization-server pieces: consent page, codes, tokens, refresh, revocation.

Partner differences are parameters (``OAuthQuirks``); each partner module maps ``OAuthError`` to its own
error shape.

Consent form (``POST`` to the authorize path): hidden ``client_id``, ``redirect_uri``, ``response_type``,
``scope``, ``state``; ``username``; ``decision`` = ``approve`` | ``deny``; optional repeated
``granted_scope`` checkboxes. If no ``granted_scope`` field is posted at all, every requested scope is
granted (so scripted clients can approve with just ``username`` + ``decision``); ``granted_scope_present=1``
marks a form submission where the user may have unchecked scopes.
"""

from __future__ import annotations

import html
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .clock import Clock

RefreshMode = Literal["rotate", "grace", "single_use"]


@dataclass(frozen=True)
class OAuthQuirks:
    slug: str
    access_ttl: int
    code_ttl: int = 600
    scope_sep: str = ","
    known_scopes: tuple[str, ...] = ()
    default_scopes: tuple[str, ...] = ()
    refresh_mode: RefreshMode = "rotate"
    grace_seconds: int = 0
    refresh_ttl: int | None = None
    # Strava: refreshing while the access token still has more than this many seconds left returns it again.
    reuse_access_if_left: int | None = None
    scope_in_redirect: bool = False
    token_prefix: str = ""


class OAuthError(Exception):
    def __init__(self, error: str, field: str, description: str) -> None:
        super().__init__(description)
        self.error = error  # invalid_client | invalid_secret | invalid_grant | invalid_request
        self.field = field
        self.description = description


@dataclass
class AccessToken:
    token: str
    user_id: str
    scopes: tuple[str, ...]
    client_id: str
    expires_at: float
    revoked: bool = False
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    user_id: str
    scopes: tuple[str, ...]
    client_id: str
    access: str
    expires_at: float | None = None
    dead: bool = False
    grace_until: float | None = None
    successors: list[str] = field(default_factory=list)  # access tokens issued in exchange for it


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass
class TokenGrant:
    access: AccessToken
    refresh: RefreshToken


@dataclass
class OAuthServer:
    quirks: OAuthQuirks
    clock: Clock
    client_id: str
    client_secret: str
    codes: dict[str, AuthCode] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- clients and scopes -------------------------------------------------------------------------
    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id:
            raise OAuthError("invalid_client", "client_id", "unknown client_id")
        if client_secret != self.client_secret:
            raise OAuthError("invalid_secret", "client_secret", "wrong client_secret")

    def parse_scopes(self, raw: str | None) -> tuple[str, ...]:
        if not raw:
            return self.quirks.default_scopes
        sep = self.quirks.scope_sep
        parts = [p.strip() for p in raw.replace("+", " ").split(sep if sep != " " else None) if p.strip()]
        if self.quirks.known_scopes:
            parts = [p for p in parts if p in self.quirks.known_scopes]
        return tuple(dict.fromkeys(parts))

    def join_scopes(self, scopes: tuple[str, ...]) -> str:
        return self.quirks.scope_sep.join(scopes)

    # -- codes --------------------------------------------------------------------------------------
    def issue_code(self, client_id: str, redirect_uri: str, user_id: str, scopes: tuple[str, ...]) -> str:
        code = secrets.token_hex(20)
        with self.lock:
            self.codes[code] = AuthCode(
                code, client_id, redirect_uri, user_id, scopes, self.clock.now() + self.quirks.code_ttl
            )
        return code

    def redeem_code(self, code: str | None, client_id: str, redirect_uri: str | None) -> TokenGrant:
        with self.lock:
            entry = self.codes.get(code or "")
            if entry is None or entry.used:
                raise OAuthError("invalid_grant", "code", "invalid or already used authorization code")
            entry.used = True
            if self.clock.now() > entry.expires_at:
                raise OAuthError("invalid_grant", "code", "authorization code expired")
            if entry.client_id != client_id:
                raise OAuthError("invalid_grant", "code", "code was issued to another client")
            if redirect_uri is not None and redirect_uri != entry.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri", "redirect_uri does not match")
            return self.issue_tokens(entry.user_id, entry.scopes, client_id)

    # -- tokens -------------------------------------------------------------------------------------
    def _token(self) -> str:
        return self.quirks.token_prefix + secrets.token_hex(20)

    def issue_tokens(self, user_id: str, scopes: tuple[str, ...], client_id: str) -> TokenGrant:
        now = self.clock.now()
        with self.lock:
            access = AccessToken(self._token(), user_id, scopes, client_id, now + self.quirks.access_ttl)
            ttl = self.quirks.refresh_ttl
            refresh = RefreshToken(self._token(), user_id, scopes, client_id, access.token, now + ttl if ttl else None)
            self.access[access.token] = access
            self.refresh[refresh.token] = refresh
            return TokenGrant(access, refresh)

    def _refresh_usable(self, entry: RefreshToken, now: float) -> bool:
        if entry.expires_at is not None and now > entry.expires_at:
            return False
        if not entry.dead:
            return True
        return entry.grace_until is not None and now < entry.grace_until

    def use_refresh(self, token: str | None, client_id: str) -> TokenGrant:
        now = self.clock.now()
        with self.lock:
            entry = self.refresh.get(token or "")
            if entry is None or not self._refresh_usable(entry, now):
                raise OAuthError("invalid_grant", "refresh_token", "invalid, used or revoked refresh token")
            if entry.client_id != client_id:
                raise OAuthError("invalid_grant", "refresh_token", "refresh token belongs to another client")
            old_access = self.access.get(entry.access)
            keep = self.quirks.reuse_access_if_left
            if (
                keep is not None
                and old_access is not None
                and not old_access.revoked
                and old_access.expires_at - now > keep
            ):
                access = old_access
            else:
                access = AccessToken(
                    self._token(), entry.user_id, entry.scopes, client_id, now + self.quirks.access_ttl
                )
                self.access[access.token] = access
            ttl = self.quirks.refresh_ttl
            new = RefreshToken(
                self._token(),
                entry.user_id,
                entry.scopes,
                client_id,
                access.token,
                now + ttl if ttl else None,
            )
            self.refresh[new.token] = new
            if not entry.dead:
                entry.dead = True
                if self.quirks.refresh_mode == "grace":
                    entry.grace_until = now + self.quirks.grace_seconds
            entry.successors.append(access.token)
            return TokenGrant(access, new)

    def authenticate(self, token: str | None) -> AccessToken | None:
        now = self.clock.now()
        with self.lock:
            entry = self.access.get(token or "")
            if entry is None or entry.revoked or now >= entry.expires_at:
                return None
            if not entry.used:
                entry.used = True
                for old in self.refresh.values():
                    if old.grace_until is not None and entry.token in old.successors:
                        old.grace_until = min(old.grace_until, now)
            return entry

    # -- revocation / expiry ------------------------------------------------------------------------
    def revoke_user(self, user_id: str) -> int:
        n = 0
        with self.lock:
            for a in self.access.values():
                if a.user_id == user_id and not a.revoked:
                    a.revoked = True
                    n += 1
            for r in self.refresh.values():
                if r.user_id == user_id:
                    r.dead, r.grace_until = True, None
        return n

    def revoke_access_token(self, token: str | None) -> str | None:
        with self.lock:
            entry = self.access.get(token or "")
            if entry is None or entry.revoked:
                return None
            self.revoke_user(entry.user_id)
            return entry.user_id

    def expire(self, user_id: str | None = None) -> int:
        now, n = self.clock.now(), 0
        with self.lock:
            for a in self.access.values():
                if (user_id is None or a.user_id == user_id) and a.expires_at > now:
                    a.expires_at = now
                    n += 1
        return n


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def add_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


ErrorFactory = Callable[[str, str], Response]


async def authorize_endpoint(
    request: Request,
    server: OAuthServer,
    users: list[tuple[str, str]],
    title: str,
    on_error: ErrorFactory,
) -> Response:
    """GET renders the consent page; POST handles the user's decision and redirects."""
    params = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        params.update({k: str(v) for k, v in form.items() if k != "granted_scope"})
        granted_raw = [str(v) for v in form.getlist("granted_scope")]
        granted_present = "granted_scope" in form or form.get("granted_scope_present") == "1"
    else:
        granted_raw, granted_present = [], False
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id != server.client_id:
        return on_error("client_id", "invalid")
    if not redirect_uri or urlsplit(redirect_uri).scheme not in ("http", "https"):
        return on_error("redirect_uri", "invalid")
    if params.get("response_type", "code") != "code":
        return on_error("response_type", "invalid")
    requested = server.parse_scopes(params.get("scope"))
    state = params.get("state")
    if request.method == "GET":
        return consent_page(title, request.url.path, params, users, requested)
    base = {"state": state} if state is not None else {}
    if params.get("decision") != "approve":
        return RedirectResponse(add_query(redirect_uri, {**base, "error": "access_denied"}), 302)
    username = params.get("username", "")
    user_id = next((uid for name, uid in users if username in (name, uid)), None)
    if user_id is None:
        return consent_page(title, request.url.path, params, users, requested, error="Unknown user", status=400)
    granted = tuple(s for s in requested if s in granted_raw) if granted_present else requested
    code = server.issue_code(client_id, redirect_uri, user_id, granted)
    out = {**base, "code": code}
    if server.quirks.scope_in_redirect:
        out["scope"] = server.join_scopes(granted)
    return RedirectResponse(add_query(redirect_uri, out), 302)


def consent_page(
    title: str,
    action: str,
    params: dict[str, str],
    users: list[tuple[str, str]],
    scopes: tuple[str, ...],
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    esc = html.escape
    hidden = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(params.get(k, ""))}">'
        for k in ("client_id", "redirect_uri", "response_type", "scope", "state", "approval_prompt", "mode")
        if k in params
    )
    first = users[0][0] if users else ""
    options = "".join(f'<option value="{esc(name)}">{esc(name)} ({esc(uid)})</option>' for name, uid in users)
    listing = "".join(f"<li>{esc(name)} <small>id {esc(uid)}</small></li>" for name, uid in users)
    checks = "".join(
        f'<label><input type="checkbox" name="granted_scope" value="{esc(s)}" checked> {esc(s)}</label><br>'
        for s in scopes
    )
    err = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)} - Authorize</title></head>
<body><h1>{esc(title)} (emulator)</h1>
<p>Application <b>{esc(params.get("client_id", ""))}</b> would like to access your data.</p>{err}
<form method="post" action="{esc(action)}">{hidden}
<input type="hidden" name="granted_scope_present" value="1">
<label for="username">Username</label>
<input id="username" name="username" value="{esc(first)}" list="users">
<datalist id="users">{options}</datalist>
<fieldset><legend>Permissions</legend>{checks}</fieldset>
<button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>
<h2>Available users</h2><ul class="users">{listing}</ul>
</body></html>"""
    return HTMLResponse(body, status)
