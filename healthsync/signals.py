"""Signals a host app can listen to."""

from django.dispatch import Signal

#: sent with ``connection`` and ``reason`` when the partner refuses our tokens; the user must reconnect
connection_revoked = Signal()
#: sent with ``connection`` after a new connection is stored (or a revoked one reconnected)
connection_created = Signal()
#: sent with ``connection`` and ``run`` after a sync stored changes
records_synced = Signal()
#: sent with ``connection`` just before a disconnect revokes its tokens and deletes it (push unsubscribes here)
connection_disconnecting = Signal()
