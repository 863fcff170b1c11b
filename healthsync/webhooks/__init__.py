"""Push-first sync: partner webhooks, declared by each provider (``push = Webhook(...)``).

- ``views.receive``: one callback URL per provider (``healthsync:webhook``): handshake, signature, size cap,
  parse, store (deduplicated), mark the connection due after a debounce, answer within the partner's deadline.
- ``plan.Plan``: what the next sync of a connection owes its pending notifications (endpoints, window hints,
  deletions), and the reconciliation bookkeeping (``PushObservation``).
- ``subscriptions``: create, check, renew and remove subscriptions at partners (``manage.py healthsync_webhooks``).
- ``stats``: push health and measured miss rate, for the polling policy and operators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthsync.providers import Provider
    from healthsync.providers.declarations import Webhook


def push_of(provider: Provider | type[Provider]) -> Webhook | None:
    """The provider's push declaration, or None when it declares none."""
    return getattr(provider, "push", None)
