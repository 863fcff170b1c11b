"""Partner providers: one module each, discovered automatically, so adding one edits no other file."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from django.utils.module_loading import autodiscover_modules

from healthsync.providers.base import Provider, get_provider_class, registered

__all__ = ["Provider", "autodiscover", "enabled_providers", "get_provider"]

_FRAMEWORK_MODULES = {"base", "declarations", "mapping"}


def autodiscover() -> None:
    """Import every module of this package, then every installed app's ``healthsync_providers`` module."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _FRAMEWORK_MODULES:
            importlib.import_module(f"{__name__}.{info.name}")
    autodiscover_modules("healthsync_providers")


@cache
def get_provider(slug: str) -> Provider:
    """The one shared instance of a provider (it owns the pooled HTTP client)."""
    return get_provider_class(slug)()


def enabled_providers() -> list[type[Provider]]:
    from healthsync import conf

    configured = conf.get("PROVIDERS")
    return [
        cls
        for slug, cls in sorted(registered().items())
        if slug in configured and configured[slug].get("enabled", True)
    ]
