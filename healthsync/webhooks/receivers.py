"""Per-user subscriptions follow connections: subscribe on connect, unsubscribe on disconnect.

A failed subscription never fails the connect: the row is marked failed and ``healthsync_webhooks check``
(or ``subscriptions.maintain``) tries again; until then the connection is polled as if it had no push.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from healthsync import signals
from healthsync.models import Connection

log = logging.getLogger(__name__)


def _per_user(connection: Connection) -> bool:
    from healthsync.providers import get_provider
    from healthsync.providers.declarations import UserSubscriptions
    from healthsync.webhooks import conf, push_of

    push = push_of(get_provider(connection.provider))
    return bool(push and isinstance(push.subscribe, UserSubscriptions) and conf.enabled(connection.provider))


@receiver(signals.connection_created)
def subscribe_on_connect(sender: object, connection: Connection, **kwargs: object) -> None:
    if _per_user(connection):
        from healthsync.webhooks.subscriptions import subscribe_user

        try:
            subscribe_user(connection)
        except Exception:  # never fail the user's connect over push
            log.exception("subscribing connection %s to push failed", connection.pk)


@receiver(signals.connection_disconnecting)
def unsubscribe_on_disconnect(sender: object, connection: Connection, **kwargs: object) -> None:
    if _per_user(connection):
        from healthsync.webhooks.subscriptions import unsubscribe_user

        try:
            unsubscribe_user(connection)
        except Exception:
            log.exception("unsubscribing connection %s from push failed", connection.pk)
