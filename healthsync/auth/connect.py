"""Starting and completing a connection: the OAuth round trip, bound to the user who started it."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from authlib.integrations.httpx_client import OAuthError
from django.db import transaction
from django.utils import timezone

from healthsync import conf, signals
from healthsync.auth import oauth
from healthsync.auth.tokens import token_fields
from healthsync.http.errors import PartnerError
from healthsync.models import Connection, PendingAuthorization
from healthsync.providers import Provider, get_provider
from healthsync.providers.declarations import FromToken, dig
from healthsync.sync.session import client_for

log = logging.getLogger(__name__)


class ConnectError(Exception):
    """The connection could not be made; the message is safe to show to the user."""


def start(provider: Provider, user, redirect_uri: str, return_to: str = "", session_bound: bool = True) -> str:  # noqa: ANN001
    """Record a single-use state for ``user`` and return the partner URL to send them to."""
    url, state, verifier = oauth.authorization_url(provider, redirect_uri)
    PendingAuthorization.objects.create(
        state=state,
        user=user,
        provider=provider.slug,
        code_verifier=verifier,
        redirect_uri=redirect_uri,
        return_to=return_to,
        session_bound=session_bound,
    )
    return url


def take_pending(state: str | None, provider: Provider, user) -> PendingAuthorization:  # noqa: ANN001
    """Consume the state: it must exist, be fresh, belong to this provider and (in a browser) this user."""
    if not state:
        raise ConnectError("The partner's answer had no state; please try connecting again.")
    with transaction.atomic():
        pending = PendingAuthorization.objects.select_for_update().filter(state=state).first()
        if pending is None:
            raise ConnectError("This authorization link was already used or is unknown; please try again.")
        pending.delete()  # single use, whatever happens next
    ttl = dt.timedelta(seconds=conf.get("AUTHORIZATION_TTL_SECONDS"))
    if pending.provider != provider.slug or pending.created_at + ttl < timezone.now():
        raise ConnectError("This authorization has expired; please try connecting again.")
    if pending.session_bound and (not user.is_authenticated or user.pk != pending.user_id):
        raise ConnectError("This authorization was started by another login; please try again.")
    return pending


def finish(provider: Provider, pending: PendingAuthorization, params: dict[str, str]) -> Connection:
    """Handle the partner's redirect: exchange the code, learn who the user is there, store the connection."""
    if params.get("error"):
        denied = params["error"] == "access_denied"
        raise ConnectError(f"{provider.name} access was {'declined' if denied else 'refused: ' + params['error']}.")
    if not params.get("code"):
        raise ConnectError(f"{provider.name} sent no authorization code.")
    try:
        token = oauth.exchange_code(provider, params["code"], pending.redirect_uri, pending.code_verifier)
    except OAuthError as exc:
        raise ConnectError(f"{provider.name} refused the authorization ({exc.error}); please try again.") from exc
    except PartnerError as exc:
        raise ConnectError(f"{provider.name} could not be reached; please try again later.") from exc
    if not token.get("access_token"):
        raise ConnectError(f"{provider.name} answered without an access token.")
    scope_text = params.get("scope") or token.get("scope") or provider.auth.scope_sep.join(provider.scopes())
    scopes = [s for s in scope_text.replace(",", " ").split() if s]
    external_id = _external_user_id(provider, token)
    return _store(provider, pending.user_id, external_id, scopes, token)


def _external_user_id(provider: Provider, token: dict[str, Any]) -> str:
    try:
        if isinstance(provider.identity, FromToken):
            return str(dig(token, provider.identity.path))
        data = client_for(provider.slug, provider).call(
            "GET", provider.api_url(provider.identity.path), params={}, token=token["access_token"], user_key="connect"
        )
        return str(dig(data, provider.identity.field))
    except (KeyError, TypeError, PartnerError) as exc:
        raise ConnectError(f"{provider.name} did not tell us who you are there; please try again.") from exc


def _store(provider: Provider, user_id: int, external_id: str, scopes: list[str], token: dict) -> Connection:
    with transaction.atomic():
        taken = Connection.objects.filter(provider=provider.slug, external_user_id=external_id).exclude(user_id=user_id)
        if taken.exists():
            raise ConnectError(f"This {provider.name} account is already connected to another user.")
        connection, created = Connection.objects.select_for_update().get_or_create(
            user_id=user_id, provider=provider.slug
        )
        if connection.external_user_id and connection.external_user_id != external_id:
            connection.endpoint_states.all().delete()  # another partner account: its cursors mean nothing here
        connection.external_user_id = external_id
        connection.scopes = scopes
        connection.status = Connection.Status.ACTIVE
        connection.last_error = ""
        connection.consecutive_failures = 0
        connection.next_sync_at = timezone.now()
        for name, value in token_fields(token).items():
            setattr(connection, name, value)
        connection.token_version += 1
        connection.save()
    log.info("user %s connected %s (new=%s)", user_id, provider.slug, created)
    signals.connection_created.send(sender=Connection, connection=connection)
    return connection


def disconnect(connection: Connection) -> bool:
    """Revoke at the partner where it offers revocation, then delete the tokens. Returns the partner's answer."""
    signals.connection_disconnecting.send(sender=Connection, connection=connection)
    provider_revoked = oauth.revoke(get_provider(connection.provider), connection)
    connection.delete()
    return provider_revoked
