"""Start-up checks: configuration mistakes fail loudly before the first user tries to connect."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.core.checks import Error, Tags, register

from healthsync import conf
from healthsync.providers.base import registered


@register(Tags.security)
def check_settings(app_configs, **kwargs) -> list[Error]:  # noqa: ANN001
    errors: list[Error] = []
    keys = conf.get("TOKEN_KEYS")
    if not keys:
        errors.append(Error("HEALTHSYNC['TOKEN_KEYS'] is empty.", hint="Add a Fernet key.", id="healthsync.E001"))
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(Error(f"HEALTHSYNC['TOKEN_KEYS'][{index}] is not a valid Fernet key.", id="healthsync.E002"))
    known = registered()
    for slug, options in conf.get("PROVIDERS").items():
        if slug not in known:
            errors.append(
                Error(
                    f"HEALTHSYNC['PROVIDERS'] names {slug!r}, which no provider module registers.",
                    hint=f"Known providers: {', '.join(sorted(known)) or 'none'}.",
                    id="healthsync.E003",
                )
            )
            continue
        if not options.get("enabled", True):
            continue
        for field in ("client_id", "client_secret"):
            if not options.get(field):
                errors.append(Error(f"HEALTHSYNC['PROVIDERS'][{slug!r}] has no {field}.", id="healthsync.E004"))
    return errors
