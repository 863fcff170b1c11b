"""The Provider base class: everything a partner has in common, so a provider module only states facts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from healthsync import conf
from healthsync.providers.declarations import Endpoint, Envelope, FromEndpoint, FromToken, OAuth2, Params

if TYPE_CHECKING:
    from healthsync.models import Connection

_registry: dict[str, type[Provider]] = {}


class Provider:
    """Subclass it in one module; setting ``slug`` registers the provider.

    Override a protocol-step hook (``authorize_params``, ``token_request``, ``parse_token``, ``request_params``,
    ``revoke_request``) only for a quirk no attribute expresses.
    """

    slug: ClassVar[str]
    name: ClassVar[str] = ""
    auth: ClassVar[OAuth2]
    api: ClassVar[str]  # base URL of the data API, ending in "/"
    identity: ClassVar[FromToken | FromEndpoint]
    envelope: ClassVar[Envelope | None] = None
    app_limits: ClassVar[tuple[str, ...]] = ()  # `limits` notation, e.g. "100 per 15 minutes"
    user_limits: ClassVar[tuple[str, ...]] = ()
    backfill: ClassVar[dt.timedelta] = dt.timedelta(days=30)  # history fetched on the first sync
    sync_every: ClassVar[dt.timedelta] = dt.timedelta(hours=1)  # the fixed-interval policy's default

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "slug" in cls.__dict__:
            cls.name = cls.__dict__.get("name") or cls.slug.title()
            _registry[cls.slug] = cls

    # --- what the platform reads ----------------------------------------------------------------------------------

    @classmethod
    def endpoints(cls) -> list[Endpoint]:
        found: dict[str, Endpoint] = {}
        for klass in reversed(cls.__mro__):
            found.update({k: v for k, v in vars(klass).items() if isinstance(v, Endpoint)})
        return list(found.values())

    @classmethod
    def settings(cls) -> dict[str, Any]:
        return conf.provider_settings(cls.slug)

    @classmethod
    def url(cls, url: str) -> str:
        """A partner URL, re-pointed at the configured origin (an emulator, a proxy) when there is one."""
        origin = cls.settings().get("origin")
        if not origin:
            return url
        parts, target = urlsplit(url), urlsplit(origin)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))

    @classmethod
    def api_url(cls, path: str) -> str:
        return cls.url(cls.api + path.lstrip("/"))

    @classmethod
    def scopes(cls) -> list[str]:
        return list(cls.settings().get("scopes") or cls.auth.scopes)

    # --- protocol-step hooks ----------------------------------------------------------------------------------------

    def authorize_params(self) -> dict[str, str]:
        return dict(self.auth.authorize_params)

    def token_request(self, params: Params) -> Params:
        """Extra fields for the token request (code exchange and refresh alike)."""
        return {**self.auth.token_params, **params}

    def parse_token(self, token: dict[str, Any]) -> dict[str, Any]:
        return token

    def request_params(self, endpoint: Endpoint, params: Params) -> Params:
        return params

    def revoke_request(self, connection: Connection) -> tuple[str, Params] | None:
        """The URL and form fields that revoke our access; None when the partner offers no revocation."""
        if not self.auth.revoke_url:
            return None
        return self.url(self.auth.revoke_url), {"access_token": connection.access_token}


def get_provider_class(slug: str) -> type[Provider]:
    try:
        return _registry[slug]
    except KeyError:
        raise LookupError(f"no healthsync provider is registered as {slug!r}") from None


def registered() -> dict[str, type[Provider]]:
    return dict(_registry)
