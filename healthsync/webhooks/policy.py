"""The fixed-interval policy, push-aware: a connection whose push is active is polled only to reconcile.

Opt in with ``HEALTHSYNC["POLICY"] = "healthsync.webhooks.policy.PushAwareFixedPolicy"``; the adaptive policy
reads ``healthsync.webhooks.stats`` itself.
"""

from __future__ import annotations

import datetime as dt

from healthsync.models import Connection
from healthsync.scheduling.policy import FixedIntervalPolicy
from healthsync.webhooks import conf
from healthsync.webhooks.stats import push_active


class PushAwareFixedPolicy(FixedIntervalPolicy):
    def interval(self, connection: Connection) -> dt.timedelta:
        if push_active(connection):
            return dt.timedelta(seconds=float(conf.get("RECONCILE_SECONDS")))
        return super().interval(connection)
