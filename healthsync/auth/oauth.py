"""OAuth 2.0 with Authlib, configured from a provider's declared knobs (no hand-written OAuth)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from healthsync import conf
from healthsync.http.errors import PartnerUnavailable, TokenRevoked
from healthsync.providers import Provider
from healthsync.providers.declarations import dig

log = logging.getLogger(__name__)


def _normalize_token_response(provider: Provider):  # noqa: ANN202
    """A compliance hook: unwrap the partner's envelope and turn its error shapes into OAuth errors."""

    def hook(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 500:
            return response  # Authlib raises; the caller treats it as temporary
        try:
            data = response.json()
        except ValueError:
            return response
        if provider.auth.token_root and isinstance(data, dict):
            if data.get("status", 0) != 0:  # an RPC envelope's failure: the grant was refused
                data = {"error": "invalid_grant", "error_description": str(data.get("error", data["status"]))}
            else:
                data = dig(data, provider.auth.token_root)
        if response.status_code in (400, 401) and isinstance(data, dict) and "error" not in data:
            data = {"error": "invalid_grant", "error_description": json.dumps(data)[:200]}
        if isinstance(data, dict) and "error" not in data:
            data = provider.parse_token(data)
        return httpx.Response(200, json=data, request=response.request)

    return hook


def client_for(provider: Provider, redirect_uri: str | None = None) -> OAuth2Client:
    settings = provider.settings()
    client = OAuth2Client(
        client_id=settings.get("client_id"),
        client_secret=settings.get("client_secret"),
        scope=provider.auth.scope_sep.join(provider.scopes()),
        redirect_uri=redirect_uri,
        token_endpoint_auth_method=(
            "client_secret_basic" if provider.auth.client_auth == "basic" else "client_secret_post"
        ),
        code_challenge_method="S256" if provider.auth.pkce else None,
        timeout=conf.get("HTTP_TIMEOUT_SECONDS"),
    )
    hook = _normalize_token_response(provider)
    client.register_compliance_hook("access_token_response", hook)
    client.register_compliance_hook("refresh_token_response", hook)
    return client


def authorization_url(provider: Provider, redirect_uri: str) -> tuple[str, str, str]:
    """The partner URL to send the user to, with a fresh state and (where supported) a PKCE verifier."""
    verifier = generate_token(48) if provider.auth.pkce else ""
    with client_for(provider, redirect_uri) as client:
        extra = {"code_verifier": verifier} if verifier else {}
        url, state = client.create_authorization_url(
            provider.url(provider.auth.authorize_url), **extra, **provider.authorize_params()
        )
    return url, state, verifier


def exchange_code(provider: Provider, code: str, redirect_uri: str, verifier: str = "") -> dict[str, Any]:
    """Trade an authorization code for tokens. Raises OAuthError when the partner refuses the code."""
    with client_for(provider, redirect_uri) as client:
        extra = {"code_verifier": verifier} if verifier else {}
        try:
            token = client.fetch_token(
                provider.url(provider.auth.token_url),
                **provider.token_request({"code": code, "grant_type": "authorization_code", **extra}),
            )
        except httpx.HTTPError as exc:
            raise PartnerUnavailable(f"{provider.slug} token endpoint failed: {type(exc).__name__}") from exc
    return dict(token)


def refresh(provider: Provider, refresh_token: str) -> dict[str, Any]:
    """Use a refresh token. Raises TokenRevoked on invalid_grant, PartnerUnavailable on a transient failure."""
    with client_for(provider) as client:
        try:
            token = client.refresh_token(
                provider.url(provider.auth.token_url),
                refresh_token=refresh_token,
                **provider.token_request({}),
            )
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_token", "unauthorized_client"):
                raise TokenRevoked(f"{provider.slug} refused the refresh token ({exc.error})") from exc
            raise PartnerUnavailable(f"{provider.slug} refresh failed: {exc.error}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise PartnerUnavailable(f"{provider.slug} refresh failed: {type(exc).__name__}") from exc
    return dict(token)


def revoke(provider: Provider, connection) -> bool:  # noqa: ANN001
    """Ask the partner to revoke our access; True if it agreed. Failures are logged, never raised."""
    request = provider.revoke_request(connection)
    if request is None or not connection.access_token:
        return False
    url, params = request
    try:
        response = httpx.post(url, data=params, timeout=conf.get("HTTP_TIMEOUT_SECONDS"))
    except httpx.HTTPError as exc:
        log.warning("revoking %s connection %s failed: %s", provider.slug, connection.pk, type(exc).__name__)
        return False
    if response.status_code >= 400:
        log.warning("revoking %s connection %s: HTTP %s", provider.slug, connection.pk, response.status_code)
    return response.status_code < 400


def new_state() -> str:
    return generate_token(40)
