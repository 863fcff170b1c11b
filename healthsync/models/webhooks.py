"""Push: the notifications partners sent us, our subscriptions at partners, and what polls found that push missed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    """One notification, stored before we answer the partner and processed by the next sync of its connection.

    A partner's retry or duplicate has the same body, so ``(provider, digest)`` recognises it while the first is
    pending. Once that one was synced, the same body again is stored anew: it may announce a new change (two
    edits within the same second, or a window that did not move), and one more sync is cheap and idempotent.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # waits for the connection's next sync (after the debounce)
        DONE = "done"  # a sync covered it
        REVOKED = "revoked"  # a deauthorization: the connection was marked revoked on arrival

    provider = models.CharField(max_length=40)
    digest = models.CharField(max_length=64)  # sha256 of the raw body
    connection = models.ForeignKey(
        "healthsync.Connection", null=True, on_delete=models.CASCADE, related_name="webhook_events"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    kind = models.CharField(max_length=60, blank=True)  # the partner's data type
    action = models.CharField(max_length=20, blank=True)  # create | update | delete | deauthorize
    object_id = models.CharField(max_length=200, blank=True)
    endpoints = models.JSONField(default=list, blank=True)  # our endpoints it refreshes
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    deliveries = models.PositiveIntegerField(default=1)  # how many times the partner sent it
    processed_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey("healthsync.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "digest"],
                condition=models.Q(status="pending"),
                name="healthsync_webhook_pending_once",
            )
        ]
        indexes = [models.Index(fields=["connection", "status"], name="hs_webhook_pending")]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.action} {self.object_id} ({self.status})"


class WebhookSubscription(models.Model):
    """A subscription we hold at a partner: app-wide (no connection) or per connected user."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        FAILED = "failed"  # the partner refused it; ``healthsync_webhooks check`` tries again
        REMOVED = "removed"

    provider = models.CharField(max_length=40)
    connection = models.ForeignKey(
        "healthsync.Connection", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    kind = models.CharField(max_length=80, blank=True)  # category / "data_type:event_type"; "" for one per app
    partner_id = models.CharField(max_length=200, blank=True)
    callback_url = models.URLField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    renewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["provider", "status"], name="hs_webhook_sub_status")]

    def __str__(self) -> str:
        return f"{self.provider} subscription {self.kind or 'app'} ({self.status})"


class PushObservation(models.Model):
    """One endpoint of one sync that stored changes, on a connection with push: how many of the changed records
    no notification announced (by object id, or by time window when the partner only sends windows).

    ``missed / records`` summed over a partner is the measured miss rate of its push.
    """

    provider = models.CharField(max_length=40)
    connection = models.ForeignKey("healthsync.Connection", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("healthsync.SyncRun", on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=60)
    records = models.PositiveIntegerField(default=0)  # new + changed + deleted
    missed = models.PositiveIntegerField(default=0)  # of those, announced by no notification
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["provider", "at"], name="hs_push_obs_provider")]
